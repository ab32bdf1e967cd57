"""The service's side of notifications: the writer runs a `Notifier` and shows it every report;
a follower only shows what the writer's deliveries are doing (live/notify/ sends)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Literal

from retrain_gate.config import Config
from retrain_gate.decisions.ledger import LedgerEntry
from retrain_gate.engine import Engine
from retrain_gate.errors import RetrainGateError
from retrain_gate.fsutil import signature
from retrain_gate.live.events import Listener, NotifyDelivered, NotifyProblem
from retrain_gate.live.notify.notifier import Notifier
from retrain_gate.live.notify.outbox import OUTBOX_NAME, delivery_problems
from retrain_gate.live.notify.texts import Snapshot
from retrain_gate.models import HumanState, Report

FAILURES_SHOWN_SECONDS = 86400.0  # a follower shows the writer's failed deliveries this long


def settled_refusals(engine: Engine) -> dict[str, str]:
    """The refused files still in the form they were refused in. One changed since (fixed
    while nothing watched) is undecided until the watcher reads it again: news only "if it
    is still true" then (docs/notify.md)."""
    store = engine.store
    return {p: r for p, r in store.refused().items() if not store.needs_ingest(Path(p))}


class Sending:
    def __init__(self, config: Config, emit: Listener) -> None:
        self.config = config
        self._emit = emit
        self.notifier: Notifier | None = None  # only while this process is the writer
        self._entries: tuple[object, list[LedgerEntry]] | None = None
        self._outbox_seen: object = None
        self._delivery: tuple[int, int, str] = (0, 0, "")  # the writer's, seen as a follower

    @property
    def wanted(self) -> bool:
        return bool(self.config.notify.urls)

    def start(self) -> None:
        """This process became the writer (and can record what it sends): start sending."""
        if not self.wanted or self.notifier is not None:
            return
        self.notifier = Notifier(self.config, self._status)
        self.notifier.start()

    def paused(self) -> None:
        """This process writes, but the state folder cannot record what was sent."""
        if self.wanted:
            self._emit(
                NotifyProblem(
                    "notifications paused: the state folder cannot record what was sent", "warning"
                )
            )

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()  # before the lock goes: the next writer takes the outbox

    def observe(
        self, report: Report, human: HumanState, engine: Engine, lock: threading.RLock
    ) -> None:
        """Show the notifier the newest report, with what it is compared with."""
        notifier = self.notifier
        if notifier is None:
            return
        try:
            with lock:
                entries = self._ledger_entries(engine)
                snap = Snapshot(report, human, entries, settled_refusals(engine))
            notifier.observe(snap)
        except RetrainGateError as exc:
            self._emit(NotifyProblem(f"notifications: {exc}", "error"))

    def watch_health(self, unreadable: tuple[float, str] | None) -> None:
        if self.notifier is not None:
            since, why = unreadable or (None, "")
            self.notifier.observe_watch(since, why)

    def _ledger_entries(self, engine: Engine) -> list[LedgerEntry]:
        # Every report is compared with the ledger; it is re-read only when it grew.
        seen = signature(engine.ledger.path)
        cached = self._entries
        if seen is None or cached is None or cached[0] != seen:
            cached = (seen, engine.ledger.entries())
            self._entries = cached
        return cached[1]

    def _status(self, text: str, level: Literal["info", "warning", "error"]) -> None:
        if level == "info":
            self._emit(NotifyDelivered(text))
        else:
            self._emit(NotifyProblem(text, level))

    def follow(self, state: Path) -> None:
        """As a follower: say when the writer's notifications fail, and when they go through
        again."""
        if not self.wanted:
            return
        seen = signature(state / OUTBOX_NAME)
        if seen == self._outbox_seen:
            return
        self._outbox_seen = seen
        # A failure from last week is not news at every start of a dashboard.
        problems = delivery_problems(state, time.time() - FAILURES_SHOWN_SECONDS)
        if problems == self._delivery:
            return
        had_problems = any(self._delivery[:2])
        self._delivery = problems
        retrying, failed, why = problems
        if retrying or failed:
            text = (
                f"notifications sent by the writer: {retrying} retrying, {failed} failed "
                f"(latest: {why})"
            )
            self._emit(NotifyProblem(text, "error" if failed else "warning"))
        elif had_problems:
            self._emit(NotifyDelivered("notifications sent by the writer: all delivered"))
