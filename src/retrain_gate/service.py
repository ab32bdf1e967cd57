"""The long-running job behind `retrain-gate watch` and the TUI: watcher + engine + roles.

One process per state folder is the *writer*: it watches the export folder, ingests, and
saves the store. Any other process *follows*: it re-reads the writer's state when it changes,
says so, and takes over when the writer goes away. Both re-evaluate when the ledger or the
eval set changes (a person approved from another terminal, someone edited the eval set).

Everything the service has to say goes through one callback, `on_update(Update)`, called
from the service's threads; the TUI turns it into a message with `post_message`, `watch`
prints it. The service only decides *when*; the ingest and the figures are the engine's.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Literal, TypeVar

from retrain_gate.config import Config
from retrain_gate.engine import Engine
from retrain_gate.errors import RetrainGateError
from retrain_gate.fsutil import signature
from retrain_gate.ledger import LedgerEntry
from retrain_gate.models import Report
from retrain_gate.notify import OUTBOX_NAME, Notifier, Snapshot, delivery_problems
from retrain_gate.store import Batch, IngestResult
from retrain_gate.text import clock
from retrain_gate.watcher import ExportWatcher, WatchEvent
from retrain_gate.writerlock import WriterLock

UpdateKind = Literal[
    "report", "ingest", "watch", "role", "progress", "error", "refused", "ledger", "notify"
]
Role = Literal["writer", "following", "starting", "stopped"]
T = TypeVar("T")

HOUSEKEEPING_SECONDS = 1.0
FAILURES_SHOWN_SECONDS = 86400.0  # a follower shows the writer's failed deliveries this long


@dataclass(frozen=True)
class Update:
    kind: UpdateKind
    message: str = ""
    report: Report | None = None
    result: IngestResult | None = None
    watch_status: str | None = None
    role: Role | None = None
    progress: tuple[str, int, int] | None = None  # (stage, done, total)
    # "refused": every file refused in its current form, path -> reason (empty: none left)
    refused: dict[str, str] | None = None
    seq: int | None = None  # "ledger": the entry's number
    level: Literal["info", "warning", "error"] = "info"  # for "notify"
    at: float = field(default_factory=time.time)


class GateService:
    def __init__(self, config: Config, on_update: Callable[[Update], None]) -> None:
        self.config = config
        self._on_update = on_update
        self._lock = threading.RLock()  # the engine is used from several threads
        self._stop = threading.Event()
        self._writer_lock = WriterLock(config.paths.state_dir)
        self.engine = Engine(config, persist=False)
        self.role: Role = "starting"
        self._watcher: ExportWatcher | None = None
        self._thread: threading.Thread | None = None
        self._seen: dict[str, tuple[int, int] | None] = {}
        self._eval_signature: object = None
        self.last_report: Report | None = None
        self._last_progress = 0.0
        self._in_memory = False  # the writer, but the state folder cannot be written
        self._save_error: str | None = None
        self._batch: list[str] = []  # names changed since the watcher's last batch (its thread)
        # `retrain-gate pull` on [labelstudio] pull_minutes, by the writer only
        self._pull_thread: threading.Thread | None = None
        self._next_pull: float | None = None  # monotonic; None: not scheduled
        self._refused: dict[str, str] | None = None  # as last told
        self._ledger_seq: int | None = None  # the last ledger entry told (None: not read yet)
        # Only the writer sends (notify.py); started when this process becomes the writer.
        self.notifier: Notifier | None = None
        self._unreadable: tuple[float, str] | None = None  # since, why: the watcher's trouble
        self._delivery: tuple[int, int, str] = (0, 0, "")  # the writer's, seen as a follower
        self._entries: tuple[tuple[int, int] | None, list[LedgerEntry]] | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._housekeeping, name="retrain-gate-service", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        if self.notifier is not None:
            self.notifier.close()  # before the lock goes: the next writer takes the outbox
        if self.role == "writer" and not self._in_memory:
            with contextlib.suppress(RetrainGateError), self._lock:
                self.engine.store.flush()
        with contextlib.suppress(Exception):
            self._writer_lock.release()
        self.engine.close()
        self.role = "stopped"

    def run_locked(self, action: Callable[[Engine], T]) -> T:
        """Run `action(engine)` while no ingest is under way (actions from the shells)."""
        with self._lock:
            result = action(self.engine)
        self._publish("report")
        return result

    def read(self, query: Callable[[Engine], T]) -> T:
        """Run `query(engine)` while no ingest is under way, publishing nothing.

        For figures a shell derives from a report (the TUI's outlook): going through
        `run_locked` would publish a new report, which would ask for the figures again.
        """
        with self._lock:
            return query(self.engine)

    def pull_now(self) -> str:
        """Start `retrain-gate pull` in the background and say what happens (the writer only:
        the snapshot lands in the export folder and the watcher reads it like any export)."""
        labelstudio = self.config.labelstudio
        if labelstudio.url is None or labelstudio.project is None:
            return (
                "no Label Studio to pull from: set [labelstudio] url and project in the config "
                "(docs/sources.md)"
            )
        if self.role != "writer" or self._in_memory:
            return "only the process that writes the state pulls; this one follows it"
        if self._pull_thread is not None and self._pull_thread.is_alive():
            return "a pull is already under way"
        self._pull_thread = threading.Thread(
            target=self._pull, name="retrain-gate-pull", daemon=True
        )
        self._pull_thread.start()
        return f"pulling a snapshot of project {labelstudio.project} from {labelstudio.url}"

    def _pull_when_due(self) -> None:
        minutes = self.config.labelstudio.pull_minutes
        if not minutes or self.config.labelstudio.url is None:
            return
        now = time.monotonic()
        if self._next_pull is None or now >= self._next_pull:
            self._next_pull = now + minutes * 60
            message = self.pull_now()
            if not message.startswith("pulling"):
                return
            self._emit(Update("watch", f"scheduled pull: {message}"))

    def _pull(self) -> None:
        from retrain_gate.labelstudio.pull import pull_snapshot

        def progress(message: str) -> None:
            self._emit(Update("progress", f"pull: {message}", progress=(f"pull: {message}", 0, 0)))

        try:
            path = pull_snapshot(self.config, progress)
        except RetrainGateError as exc:
            self._emit(Update("error", f"pull failed: {exc}"))
        except Exception as exc:  # the service outlives a bug in a pull
            self._emit(Update("error", f"pull failed: {exc!r}"))
        else:
            self._emit(Update("watch", f"pulled {path.name}; it is read like any export"))

    # -------------------------------------------------------------- internals

    def _emit(self, update: Update) -> None:
        # A broken consumer must not stop the watcher.
        with contextlib.suppress(Exception):
            self._on_update(update)

    def _publish(self, why: str) -> None:
        try:
            with self._lock:
                report = self.engine.evaluate()
        except RetrainGateError as exc:
            self._emit(Update("error", str(exc)))
            return
        except Exception as exc:
            self._emit(Update("error", f"could not compute the figures: {exc!r}"))
            return
        self.last_report = report
        self._emit(Update("report", why, report=report))
        self._notify(report)

    def _notify(self, report: Report) -> None:
        notifier = self.notifier
        if notifier is None or self.role != "writer":
            return
        try:
            with self._lock:
                engine = self.engine
                snap = Snapshot(
                    report, engine.human_state(), self._ledger_entries(), engine.store.refused()
                )
            notifier.observe(snap)
        except RetrainGateError as exc:
            self._emit(Update("notify", f"notifications: {exc}", level="error"))

    def _ledger_entries(self) -> list[LedgerEntry]:
        # Every report is compared with the ledger; it is re-read only when it grew.
        seen = signature(self.engine.ledger.path)
        cached = self._entries
        if seen is None or cached is None or cached[0] != seen:
            cached = (seen, self.engine.ledger.entries())
            self._entries = cached
        return cached[1]

    def _on_notify_status(self, text: str, level: Literal["info", "warning", "error"]) -> None:
        self._emit(Update("notify", text, level=level))

    def _start_notifier(self) -> None:
        if not self.config.notify.urls or self.notifier is not None:
            return
        self.notifier = Notifier(self.config, self._on_notify_status)
        self.notifier.start()

    def _become_writer(self, *, persist: bool = True) -> None:
        """Watch and ingest. With `persist=False` (the state folder cannot be written) the
        figures are computed in memory and nothing is saved, as `check` does."""
        taking_over = self._watcher is not None  # after running in memory
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        gone: list[IngestResult] = []
        with self._lock:
            self.engine.close()
            self.engine = Engine(self.config, persist=persist, isolated=True)
            self.engine.warm()
            self.engine.store.frames()  # loads the state, and finds it stale or not
            stale = self.engine.store.stale
            # files removed while no writer watched: the watcher only sees what goes from now
            # (a folder that is not there, unmounted, is not an empty one)
            if self.config.paths.export_dir.is_dir():
                with contextlib.suppress(RetrainGateError):
                    gone = self.engine.store.forget_missing()
            if taking_over:
                # Save what was only in memory before showing figures, so they never go back.
                with contextlib.suppress(RetrainGateError):
                    self.engine.scan()
        self.role = "writer"
        self._in_memory = not persist
        if persist:
            self._start_notifier()
        elif self.config.notify.urls:
            self._emit(
                Update(
                    "notify",
                    "notifications paused: the state folder cannot record what was sent",
                    level="warning",
                )
            )
        state_dir = self.config.paths.state_dir
        if persist:
            message = f"writing {state_dir}"
        else:
            message = (
                f"cannot write {state_dir}: watching anyway, with the figures kept in memory "
                "(nothing is saved; decisions cannot be recorded until it is writable)"
            )
        self._emit(Update("role", message, role="writer"))
        if stale is not None:
            self._emit(Update("watch", stale))
        for result in gone:
            self._emit(Update("ingest", result.message, result=result))
        self._publish("loaded")
        watch = self.config.watch
        self._watcher = ExportWatcher(
            self.config.paths.export_dir,
            settle_seconds=watch.settle_seconds,
            max_wait_seconds=watch.max_wait_seconds,
            rescan_seconds=watch.rescan_seconds,
            polling=watch.polling,
            on_ready=self._on_ready,
            on_event=self._on_watch_event,
            on_batch=self._on_batch,
            on_changes=self._on_changes,
        )
        self._watcher.start()

    def _follow(self) -> None:
        holder = self._writer_lock.holder() or "another process"
        self.role = "following"
        self._emit(
            Update(
                "role",
                f"following {holder} (read-only; takes over when it stops)",
                role="following",
            )
        )
        self._publish("loaded")

    def _on_ready(self, path: Path) -> None:
        if self._stop.is_set():
            return
        try:
            with self._lock:
                # Saved by the next housekeeping tick: a burst of files costs one write.
                result = self.engine.ingest(path, progress=self._progress, save=False)
        except RetrainGateError as exc:
            self._emit(Update("error", str(exc)))
            return
        if result.outcome == "unchanged":
            return
        self._emit(Update("ingest", result.message, result=result))
        if result.outcome == "ingested":
            self._batch.append(path.name)

    def _on_changes(self, ready: list[Path], removed: list[Path]) -> None:
        """The files that settled in one tick and those that left: one batch, merged once."""
        if self._stop.is_set():
            return
        try:
            with self._lock:
                # Saved by the next housekeeping tick: a burst of files costs one write.
                results = self.engine.apply(
                    Batch(tuple(ready), tuple(removed)), progress=self._progress, save=False
                )
        except RetrainGateError as exc:
            self._emit(Update("error", str(exc)))
            return
        for result in results:
            if result.outcome == "unchanged":
                continue
            self._emit(Update("ingest", result.message, result=result))
            if result.outcome in ("ingested", "removed"):
                self._batch.append(result.path.name)

    def _on_batch(self) -> None:
        """The files that settled together: one report for all of them."""
        names, self._batch = self._batch, []
        if not names:
            return
        why = f"ingested {names[0]}" if len(names) == 1 else f"{len(names):,} files changed"
        self._publish(why)

    def _progress(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_progress >= 0.1 or done == 0:
            self._last_progress = now
            self._emit(Update("progress", stage, progress=(stage, done, total)))

    def _on_watch_event(self, event: WatchEvent) -> None:
        if event.status in ("folder_missing", "error"):
            if self._unreadable is None:
                self._unreadable = (event.at, event.message)
        elif event.status in ("live", "polling"):
            self._unreadable = None
        self._emit(Update("watch", event.message, watch_status=event.status, at=event.at))

    def _changed(self, name: str, value: object) -> bool:
        if self._seen.get(name, ()) == value:
            return False
        self._seen[name] = value  # type: ignore[assignment]
        return True

    def _housekeeping(self) -> None:
        try:
            if self._writer_lock.try_acquire():
                self._become_writer()
            else:
                self._follow()
        except RetrainGateError as exc:
            # A read-only state folder: nobody can be the writer there, so following would
            # wait for ever; watch and compute in memory instead (and retry the lock quietly).
            self._emit(Update("error", str(exc)))
            self._become_writer(persist=False)
        state = self.config.paths.state_dir
        self._changed("ledger", signature(state / "ledger.jsonl"))
        self._changed("frames", self._store_signature(state))
        self._ledger_seq = self._last_seq()
        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            try:
                self._tick(state)
            except Exception as exc:  # keep watching whatever happens
                self._emit(Update("error", f"housekeeping failed: {exc!r}"))

    def _follow_deliveries(self, state: Path) -> None:
        """Say when the writer's notifications fail, and when they go through again."""
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
            self._emit(Update("notify", text, level="error" if failed else "warning"))
        elif had_problems:
            self._emit(Update("notify", "notifications sent by the writer: all delivered"))

    def _try_lock(self) -> bool:
        try:
            return self._writer_lock.try_acquire()
        except RetrainGateError:
            return False  # still not writable; said once when it started

    def _save(self) -> None:
        """Write what was ingested since the last tick; a failure is said once, then retried."""
        try:
            with self._lock:
                self.engine.store.flush()
        except RetrainGateError as exc:
            if str(exc) != self._save_error:
                self._save_error = str(exc)
                self._emit(Update("error", f"{exc} (retrying every second; keep watching)"))
            return
        if self._save_error is not None:
            self._save_error = None
            self._emit(Update("role", "the state is saved again", role=self.role))

    def _tick(self, state: Path) -> None:
        if self.role == "writer" and not self._in_memory:
            self._save()
            self._pull_when_due()
            if self.notifier is not None:
                since, why = self._unreadable or (None, "")
                self.notifier.observe_watch(since, why)
        if self._in_memory and self._try_lock():
            self._emit(Update("role", "the state folder is writable again", role="writer"))
            self._become_writer()
            return
        if self.role == "following":
            if self._try_lock():
                self._emit(Update("role", "the writer stopped; taking over", role="writer"))
                self._become_writer()
                return
            if self._changed("frames", self._store_signature(state)):
                with self._lock:
                    self.engine.store.reload()
                self._publish("the writer ingested new exports")
            if self.config.notify.urls and self._changed("notify", signature(state / OUTBOX_NAME)):
                self._follow_deliveries(state)
        self._tell_refused()
        ledger_changed = self._changed("ledger", signature(state / "ledger.jsonl"))
        if ledger_changed:
            self._tell_ledger()
        eval_changed = self._changed("eval", self.engine.eval_hash())
        if ledger_changed or eval_changed:
            self._publish("the ledger changed" if ledger_changed else "the eval set changed")

    @staticmethod
    def _store_signature(state: Path) -> object:
        # A refusal changes only the registry: a follower must see it too.
        return tuple(
            signature(state / name)
            for name in ("frames.parquet", "storage.parquet", "ingested.json")
        )

    def _tell_refused(self) -> None:
        """Say which files are refused whenever that set changes (a file refused, fixed,
        replaced or removed), so a shell can keep showing them until they are gone."""
        with self._lock:
            refused = self.engine.store.refused()
        if refused != self._refused:
            self._refused = refused
            count = len(refused)
            self._emit(Update("refused", f"{count} file(s) refused", refused=dict(refused)))

    def _last_seq(self) -> int:
        try:
            with self._lock:
                entries = self.engine.ledger.entries()
        except RetrainGateError:
            return 0
        return entries[-1].seq if entries else 0

    def _tell_ledger(self) -> None:
        """One update per new ledger entry, whichever process wrote it: a decision made from
        another terminal is news to whoever watches this one."""
        from retrain_gate.ledger import news_line

        try:
            # Under the lock: a decision this process records (run_locked) is appended and
            # known to its shell before this reads it.
            with self._lock:
                entries = self.engine.ledger.entries()
        except RetrainGateError as exc:
            self._emit(Update("error", str(exc)))
            return
        seen = self._ledger_seq or 0
        for entry in entries:
            if entry.seq > seen:
                self._emit(Update("ledger", news_line(entry), seq=entry.seq))
        if entries:
            self._ledger_seq = max(seen, entries[-1].seq)


# ------------------------------------------------------------------ `retrain-gate watch`


def run_watch(config: Config) -> int:
    from retrain_gate.render import decided_lines, gate_state, headline
    from retrain_gate.text import printable

    done = threading.Event()
    printed: list[tuple[str, ...]] = []
    out_lock = threading.Lock()

    def say(at: float, text: str, *, err: bool = False) -> None:
        with out_lock:
            print(f"{clock(at)} {text}", file=sys.stderr if err else sys.stdout, flush=True)

    def on_update(update: Update) -> None:
        if update.kind == "report" and update.report is not None:
            state = gate_state(update.report)
            if printed and printed[-1] == state:
                return
            printed[:] = [state]
            verdicts = {True: "ok", False: "no", None: "?"}  # None: could not be judged
            gates = "  ".join(f"{g.name} {verdicts[g.passed]}" for g in update.report.gates)
            say(update.at, f"{headline(update.report)}   [{gates}]")
            for line in decided_lines(update.report):
                say(update.at, line.strip())
        elif update.kind == "ingest" and update.result is not None:
            say(update.at, printable(update.result.message), err=update.result.outcome == "refused")
        elif update.kind in ("watch", "role", "error", "ledger"):
            if (
                update.kind == "watch"
                and update.watch_status is None
                and "rescan" in update.message
            ):
                return
            say(update.at, printable(update.message), err=update.kind == "error")
        elif update.kind == "notify":
            say(update.at, printable(update.message), err=update.level != "info")

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    service = GateService(config, on_update)
    say(time.time(), f"watching {printable(config.paths.export_dir)} (Ctrl-C to stop)")
    service.start()
    while not done.wait(0.2):
        pass
    service.close()
    say(time.time(), "stopped")
    return 0
