"""Turns what the service reads (reports, the refused files, the ledger) into events, each
once: the differences between what it sees now and what it last told.

Reports are numbered when they are computed (under the engine's lock); one computed before a
newer one was told is dropped, so an early report (the empty store's, at start) never arrives
after the figures that replaced it and is never taken for news.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from retrain_gate.config import Config
from retrain_gate.decisions.ledger import LedgerEntry
from retrain_gate.decisions.output import news_line
from retrain_gate.live.events import (
    AlertEnded,
    AlertRaised,
    LedgerAppended,
    Listener,
    NothingMapped,
    RefusedFiles,
)
from retrain_gate.metrics import open_alert_keys
from retrain_gate.models import HumanState, Report
from retrain_gate.render import configuration_problem
from retrain_gate.text import printable


class Tracker:
    def __init__(self, config: Config, emit: Listener) -> None:
        self.config = config
        self._emit = emit
        self._unmapped: str | None = None  # the key blamed for every frame unmapped, as told
        self._lock = threading.Lock()
        self._newest = -1  # the number of the newest report told
        self._alerts: list[str] | None = None  # None: no report told yet (nothing is news)
        self._refused: tuple[dict[str, str], dict[str, str]] | None = None  # as last told
        self._ledger_seq: int | None = None

    def is_newest(self, number: int) -> bool:
        """Whether the report numbered `number` is newer than every report told so far (and
        from now on the newest)."""
        with self._lock:
            if number < self._newest:
                return False
            self._newest = number
            return True

    def report(self, report: Report, human: HumanState) -> None:
        """The alerts raised and ended since the last report (the first report is a baseline),
        and a pattern or field that maps no frame (said as `check` says it, once)."""
        self._say_unmapped(report)
        keys = open_alert_keys(report, human)
        before, self._alerts = self._alerts, keys
        if before is None:
            return
        for key in keys:
            if key not in before:
                self._emit(AlertRaised(key, f"regression alert raised ({printable(key)})"))
        for key in before:
            if key not in keys:
                self._emit(AlertEnded(key, f"regression alert ended ({printable(key)})"))

    def _say_unmapped(self, report: Report) -> None:
        problem = configuration_problem(report, self.config)
        key = None if problem is None else (report.unmapped.key or "pattern")
        if problem is not None and key != self._unmapped:
            self._emit(NothingMapped(problem))
        self._unmapped = key

    def refused(self, refused: Mapping[str, str], ignored: Mapping[str, str]) -> None:
        """Every refused (and ignored) file whenever that set changes (a file refused, fixed,
        replaced or removed), so a shell can keep showing them until they are gone."""
        if (refused, ignored) != self._refused:
            self._refused = (dict(refused), dict(ignored))
            self._emit(RefusedFiles(dict(refused), dict(ignored)))

    def baseline_ledger(self, last_seq: int) -> None:
        """The entries up to `last_seq` were there before this process started: not news."""
        self._ledger_seq = last_seq

    def ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """One event per new ledger entry, whichever process wrote it: a decision made from
        another terminal is news to whoever watches this one."""
        seen = self._ledger_seq or 0
        for entry in entries:
            if entry.seq > seen:
                self._emit(LedgerAppended(entry.seq, news_line(entry)))
        if entries:
            self._ledger_seq = max(seen, entries[-1].seq)
