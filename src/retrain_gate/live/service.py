"""The long-running job behind `retrain-gate watch` and the TUI: the writer/follower roles.

One process per state folder is the *writer*: it watches the export folder, ingests, and
saves the store. Any other process *follows*: it re-reads the writer's state when it changes,
says so, and takes over when the writer goes away. Both re-evaluate when the ledger or the
eval set changes (a person approved from another terminal, someone edited the eval set).

Everything the service has to say goes through one callback, `on_event(LiveEvent)` (one
typed event per thing that happens, live/events.py), called from the service's threads; the
TUI turns it into a message with `post_message`, `watch` prints it (cli_watch.py). The service
only decides *when*; the ingest and the figures are the engine's, the pulls are
`PullScheduler`'s, the events derived from the state are `Tracker`'s, and notifications are
`Sending`'s.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from retrain_gate.config import Config
from retrain_gate.engine import Engine
from retrain_gate.errors import RetrainGateError
from retrain_gate.fsutil import signature
from retrain_gate.live.events import (
    BucketReachable,
    BucketSynced,
    BucketUnreachable,
    ConfigEdited,
    Listener,
    LiveEvent,
    NothingNew,
    Problem,
    Progress,
    ReportChanged,
    Role,
    RoleChanged,
    SettingsChanged,
    WatcherNote,
    WatcherStatus,
    batch_events,
)
from retrain_gate.live.pulls import PullScheduler
from retrain_gate.live.sending import Sending
from retrain_gate.live.tracker import Tracker
from retrain_gate.live.watcher import ExportWatcher, WatchEvent, WatchStatus
from retrain_gate.live.writerlock import WriterLock
from retrain_gate.models import Report
from retrain_gate.sources.poller import BucketPoller, PollStatus
from retrain_gate.store import Batch, IngestResult
from retrain_gate.text import plural

T = TypeVar("T")

HOUSEKEEPING_SECONDS = 1.0


class GateService:
    def __init__(self, config: Config, on_event: Listener) -> None:
        self.config = config
        self._on_event = on_event
        self._lock = threading.RLock()  # the engine is used from several threads
        self._stop = threading.Event()
        self._watcher_lock = threading.Lock()
        self._writer_lock = WriterLock(config.paths.state_dir)
        self.engine = Engine(config, persist=False)
        self.role: Role = "starting"
        self._watcher: ExportWatcher | None = None
        self._thread: threading.Thread | None = None
        self._seen: dict[str, object] = {"config": self._config_signature()}  # as started
        self.last_report: Report | None = None
        self._last_progress = 0.0
        self._in_memory = False  # the writer, but the state folder cannot be written
        self._save_error: str | None = None
        self._unreadable: tuple[float, str] | None = None  # since, why: the watcher's trouble
        self._numbers = itertools.count()  # reports, in the order they are computed
        self._publishing = threading.Lock()  # one report told (and shown to the notifier) at a time
        self.pulls = PullScheduler(config, self._emit)
        self.tracker = Tracker(config, self._emit)
        self.sending = Sending(config, self._emit)
        self._poller: BucketPoller | None = None  # the writer's, when export_dir is a bucket
        # The mirror folder's watcher going live is said only once the bucket has answered
        # (held here until then); the watcher's and the poller's threads both reach it.
        self._bucket_lock = threading.Lock()
        self._bucket_listed = False
        self._mirror_live: tuple[WatchStatus, float] | None = None  # (state, at)

    @property
    def watcher(self) -> ExportWatcher | None:
        """The export-folder watcher, while this process is the writer."""
        return self._watcher

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._housekeeping, name="retrain-gate-service", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.close()
        with self._watcher_lock:
            if self._watcher is not None:
                self._watcher.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self.sending.close()
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
        """Start `retrain-gate pull` in the background and say what happens."""
        return self.pulls.start(may_pull=self._may_pull())[1]

    # -------------------------------------------------------------- internals

    def _may_pull(self) -> bool:
        return self.role == "writer" and not self._in_memory

    def _emit(self, event: LiveEvent) -> None:
        # A broken consumer must not stop the watcher.
        with contextlib.suppress(Exception):
            self._on_event(event)

    def _publish(self, why: str) -> None:
        try:
            with self._lock:
                human = self.engine.human_state()
                report = self.engine.evaluate(human)
                number = next(self._numbers)
        except RetrainGateError as exc:
            self._emit(Problem(str(exc)))
            return
        except Exception as exc:
            self._emit(Problem(f"could not compute the figures: {exc!r}"))
            return
        with self._publishing:
            if not self.tracker.is_newest(number):
                return  # computed before figures already told: old news
            self.last_report = report
            self._emit(ReportChanged(report, why))
            self.tracker.report(report, human)
            if self.role == "writer":
                self.sending.observe(report, human, self.engine, self._lock)

    def _become_writer(self, *, persist: bool = True) -> None:
        """Watch and ingest. With `persist=False` (the state folder cannot be written) the
        figures are computed in memory and nothing is saved, as `check` does."""
        taking_over = self._watcher is not None  # after running in memory
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        with self._lock:
            self.engine.close()
            self.engine = Engine(self.config, persist=persist, isolated=True)
            self.engine.warm()
            self.engine.store.frames()  # loads the state, and finds it stale or not
            stale = self.engine.store.stale
            # files removed while no writer watched: the watcher only sees what goes from now
            # (a folder that is not there, unmounted, is not an empty one)
            gone: list[IngestResult] = []
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
            self.sending.start()
        else:
            self.sending.paused()
        state_dir = self.config.paths.state_dir
        if persist:
            message = f"writing {state_dir}"
        else:
            message = (
                f"cannot write {state_dir}: watching anyway, with the figures kept in memory "
                "(nothing is saved; decisions cannot be recorded until it is writable)"
            )
        self._emit(RoleChanged("writer", message))
        if stale is not None:
            self._emit(SettingsChanged(stale))
        for event in batch_events(gone, shown=self.config.paths.shown):
            self._emit(event)
        self._publish("loaded")
        watch = self.config.watch
        watcher = ExportWatcher(
            self.config.paths.export_dir,
            settle_seconds=watch.settle_seconds,
            max_wait_seconds=watch.max_wait_seconds,
            rescan_seconds=watch.rescan_seconds,
            polling=watch.polling,
            on_event=self._on_watch_event,
            on_changes=self._on_changes,
            shown=self.config.paths.shown,
        )
        # Started and recorded together: a close() meanwhile must find it running, or none.
        with self._watcher_lock:
            if self._stop.is_set():
                return
            watcher.start()
            self._watcher = watcher
        self._start_poller()

    def _start_poller(self) -> None:
        """A bucket export_dir: the writer keeps its mirror folder (the folder watched above)
        in step with the bucket; what a poll changes reaches the store as file events."""
        from retrain_gate.sources.bucket import mirror_for

        if self._poller is not None:
            self._poller.close()
            self._poller = None
        mirror = mirror_for(self.config)
        if mirror is None or self._stop.is_set():
            return
        self._poller = BucketPoller(mirror, self.config.paths.poll_seconds, self._on_poll)
        self._poller.start()

    def _on_poll(self, status: PollStatus) -> None:
        """An unreachable bucket is the writer's trouble as an unreadable folder is: said with
        the time it began, kept in the header, and notified after `unreadable_after_seconds`."""
        if status.kind == "unreachable":
            if self._unreadable is None:
                self._unreadable = (status.since, status.message)
            self._emit(BucketUnreachable(status.message, status.since))
        elif status.kind == "reachable":
            self._unreadable = None
            with self._bucket_lock:
                self._bucket_listed, self._mirror_live = True, None
            watcher = self._watcher
            back = watcher.status if watcher is not None else "live"
            self._emit(BucketReachable(status.message, back))
        elif status.kind == "error":
            self._emit(Problem(status.message))
        else:
            self._emit(BucketSynced(status.message))
            with self._bucket_lock:
                self._bucket_listed = True
                held, self._mirror_live = self._mirror_live, None
            if held is not None:
                self._say_mirror_live(*held)

    def _follow(self) -> None:
        holder = self._writer_lock.holder() or "another process"
        self.role = "following"
        self._emit(
            RoleChanged("following", f"following {holder} (read-only; takes over when it stops)")
        )
        self._publish("loaded")

    def _on_changes(self, ready: list[Path], removed: list[Path]) -> None:
        """The files that settled in one tick and those that left: one batch, merged once,
        and one report for all of it."""
        if self._stop.is_set():
            return
        try:
            with self._lock:
                # Saved by the next housekeeping tick: a burst of files costs one write.
                results = self.engine.apply(
                    Batch(tuple(ready), tuple(removed)), progress=self._progress, save=False
                )
        except RetrainGateError as exc:
            self._emit(Problem(str(exc)))
            return
        for event in batch_events(results, shown=self.config.paths.shown):
            self._emit(event)
        names = [r.path.name for r in results if r.outcome in ("ingested", "removed")]
        if not names:
            if ready and all(result.outcome == "unchanged" for result in results):
                self._emit(NothingNew(_nothing_new(ready, self.config)))
            return
        why = f"ingested {names[0]}" if len(names) == 1 else f"{len(names):,} files changed"
        self._publish(why)

    def _progress(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_progress >= 0.1 or done == 0:
            self._last_progress = now
            self._emit(Progress(stage, done, total))

    def _on_watch_event(self, event: WatchEvent) -> None:
        paths = self.config.paths
        if paths.bucket is not None:
            self._on_mirror_event(event)
            return
        if event.status in ("folder_missing", "error"):
            if self._unreadable is None:
                self._unreadable = (event.at, event.message)
        elif event.status in ("live", "polling"):
            self._unreadable = None
        if event.kind == "status" and event.status is not None:
            self._emit(WatcherStatus(event.status, event.message, at=event.at))
        elif event.kind != "status":
            self._emit(WatcherNote(event.kind, event.message, at=event.at))

    def _on_mirror_event(self, event: WatchEvent) -> None:
        """A bucket's mirror folder is ours: how it is watched is not news, and only the
        bucket's listing says whether the export folder can be read (`_on_poll`)."""
        paths = self.config.paths
        if event.kind != "status":
            self._emit(WatcherNote(event.kind, event.message, at=event.at))
            return
        if event.status is None:
            return
        if event.status in ("live", "polling"):
            with self._bucket_lock:
                if not self._bucket_listed or self._unreadable is not None:
                    # said when a listing succeeds (BucketReachable carries this state)
                    self._mirror_live = (event.status, event.at)
                    return
            self._say_mirror_live(event.status, event.at)
            return
        message = event.message
        if event.status == "folder_missing":
            message = f"listing {paths.export_source} for the first time"
        self._emit(WatcherStatus(event.status, message, at=event.at))

    def _say_mirror_live(self, status: WatchStatus, at: float) -> None:
        paths = self.config.paths
        message = f"watching {paths.export_source} (listed every {paths.poll_seconds:g} s)"
        self._emit(WatcherStatus(status, message, at=at))

    def _changed(self, name: str, value: object) -> bool:
        if name in self._seen and self._seen[name] == value:
            return False
        self._seen[name] = value
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
            self._emit(Problem(str(exc)))
            self._become_writer(persist=False)
        state = self.config.paths.state_dir
        self._changed("ledger", signature(state / "ledger.jsonl"))
        self._changed("frames", self._store_signature(state))
        self.tracker.baseline_ledger(self._last_seq())
        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            try:
                self._tick(state)
            except Exception as exc:  # keep watching whatever happens
                self._emit(Problem(f"housekeeping failed: {exc!r}"))

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
                self._emit(Problem(f"{exc} (retrying every second; keep watching)"))
            return
        if self._save_error is not None:
            self._save_error = None
            self._emit(RoleChanged(self.role, "the state is saved again"))

    def _config_signature(self) -> object:
        source = self.config.source
        return None if source is None else signature(source)

    def _config_edited(self) -> None:
        """Say when the config file changed under a running service, and whether the new
        file would load: its settings apply from the next start (a live switch of folders,
        state or thresholds mid-session is a different session)."""
        source = self.config.source
        if source is None or not self._changed("config", self._config_signature()):
            return
        from retrain_gate.config import load_config

        kept = "the settings it started with stay in use until watch or the dashboard restarts"
        if not source.exists():
            self._emit(ConfigEdited(f"{source} was removed; {kept}"))
            return
        try:
            load_config(source)
        except RetrainGateError as exc:
            self._emit(ConfigEdited(f"the config changed and cannot be used: {exc}; {kept}"))
            return
        self._emit(ConfigEdited(f"{source} changed; {kept}"))

    def _tick(self, state: Path) -> None:
        self._config_edited()
        if self._may_pull():
            self._save()
            self.pulls.when_due(may_pull=True)
            self.sending.watch_health(self._unreadable)
        if self._in_memory and self._try_lock():
            self._emit(RoleChanged("writer", "the state folder is writable again"))
            self._become_writer()
            return
        if self.role == "following":
            if self._try_lock():
                self._emit(RoleChanged("writer", "the writer stopped; taking over"))
                self._become_writer()
                return
            if self._changed("frames", self._store_signature(state)):
                with self._lock:
                    self.engine.store.reload()
                self._publish("the writer ingested new exports")
            self.sending.follow(state)
        with self._lock:
            refused = self.engine.store.refused()
            ignored = self.engine.store.ignored()
        self.tracker.refused(refused, ignored)
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

    def _last_seq(self) -> int:
        try:
            with self._lock:
                entries = self.engine.ledger.entries()
        except RetrainGateError:
            return 0
        return entries[-1].seq if entries else 0

    def _tell_ledger(self) -> None:
        try:
            # Under the lock: a decision this process records (run_locked) is appended and
            # known to its shell before this reads it.
            with self._lock:
                entries = self.engine.ledger.entries()
        except RetrainGateError as exc:
            self._emit(Problem(str(exc)))
            return
        self.tracker.ledger(entries)


def _nothing_new(ready: list[Path], config: Config) -> str:
    if len(ready) == 1:
        return f"{config.paths.shown(ready[0])} is as it was last read: the figures stand"
    return f"{plural(len(ready), 'file')} as they were last read: the figures stand"
