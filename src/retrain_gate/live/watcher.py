"""Decide *when* an export file is ready to ingest: watchdog events, settling, and rescans.

Threads and who calls what:

- The watchdog observer thread runs `_Hints.dispatch`, which only records "something happened to
  this path at this time" in a dict under a lock. It does no I/O and cannot raise: an exception
  escaping a watchdog handler kills the observer silently (watchdog #427, #793), and the handler
  runs under the observer's lock, so a slow handler would stall every event.
- One worker thread of ours does everything else: it starts and restarts the observer, stats the
  pending files until they settle, rescans the folder, and calls `on_changes` and `on_event`.
  Callbacks therefore never run concurrently with each other, and `on_changes` can do the
  ingest directly without its own locking.

Events are hints, never truth: `created` fires when a copy starts, `modified` fires many times per
write, and inotify drops events when its queue overflows. A file is handed over only once a
`stat()` shows it quiet (see `_settled`), and a periodic rescan catches whatever events missed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from retrain_gate.candidates import classify_name
from retrain_gate.fsutil import Signature, signature
from retrain_gate.text import plural

log = logging.getLogger(__name__)

EventKind = Literal["status", "still_changing", "vanished", "error", "rescan"]
WatchStatus = Literal["live", "polling", "folder_missing", "stopped", "error"]

POLL_INTERVAL = 0.5  # PollingObserver's snapshot interval, and our folder-health interval
CLOSED_RECHECK = 0.2  # after a close-after-write, the size must hold this long before handover
CLOSE_TIMEOUT = 1.0


def _lsig(path: Path) -> Signature | None:
    return signature(path, follow=False)  # of a symbolic link itself


@dataclass(frozen=True)
class WatchEvent:
    """Something the person watching should know; `status` is set only for kind "status"."""

    kind: EventKind
    path: Path | None
    message: str
    status: WatchStatus | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class WatchCounts:
    """What the watcher holds now: each is bounded by the files in the folder."""

    handed: int  # files handed over, in the state they were handed over in
    pending: int  # files waiting to settle
    hints: int  # file events not yet looked at


@dataclass
class _Track:
    """Settle state of one pending path (worker thread only)."""

    first_seen: float
    activity_at: float  # last created/modified/moved/attrib hint
    sig: Signature | None = None
    sig_since: float = 0.0  # when `sig` was first observed
    closed_at: float | None = None  # close-after-write with no activity since
    warned: bool = False
    stat_error_reported: bool = False


class _Hints(FileSystemEventHandler):
    """Runs on the observer thread: turns events into (path, time, closed) hints and returns."""

    def __init__(
        self,
        record: Callable[[str, bool], None],
        report: Callable[[str], None],
        forget: Callable[[str], None],
    ) -> None:
        super().__init__()
        self._record = record
        self._report = report
        self._forget = forget

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            if event.is_directory:
                return
            kind = event.event_type
            if kind == "moved":
                # A rename into place (atomic save, finished download) is the file's arrival
                # under its new name, and its departure from the old one (`mv B.json C.json`).
                self._forget(os.fsdecode(event.src_path))
                if event.dest_path:
                    self._record(os.fsdecode(event.dest_path), False)
            elif kind in ("created", "modified", "attrib"):
                self._record(os.fsdecode(event.src_path), False)
            elif kind == "closed":
                self._record(os.fsdecode(event.src_path), True)
            elif kind == "deleted":
                self._forget(os.fsdecode(event.src_path))
            # opened / closed_no_write: nothing to do.
        except Exception as exc:  # never let an exception reach watchdog's dispatch loop
            with contextlib.suppress(Exception):
                self._report(f"file event handler failed: {exc!r}")


class ExportWatcher:
    """Watch `export_dir` recursively and hand over the settled candidate files, a tick at a time.

    `on_changes(ready, removed)` gets the files that settled in one tick (oldest first) and the
    files handed over earlier that have left, together, so the caller merges them once.
    It and `on_event(event)` run on the watcher's own worker thread, one at a time; the
    events' messages name paths with `shown`.
    A path is handed over again only after its (size, mtime_ns) changed; deduplicating the same
    content under another name is the caller's job. An exception from `on_changes` becomes an
    "error" event, and its files are not retried until they change.

    Memory: the record of handed-over files is a dict keyed by path, so it is bounded by the
    number of files in the folder; every complete rescan drops entries for deleted files. The
    pending set is bounded the same way.
    """

    def __init__(
        self,
        export_dir: Path,
        *,
        settle_seconds: float,
        max_wait_seconds: float,
        rescan_seconds: float,
        polling: bool,
        on_event: Callable[[WatchEvent], None],
        on_changes: Callable[[list[Path], list[Path]], None],
        shown: Callable[[Path], str] = str,
    ) -> None:
        self.export_dir = Path(os.path.abspath(export_dir))
        # How messages name a path: a bucket's mirror files by their URL (config.paths.shown).
        self._shown = shown
        self._folder = shown(self.export_dir)
        self._settle_seconds = settle_seconds
        self._max_wait_seconds = max_wait_seconds
        self._rescan_seconds = rescan_seconds
        self._polling = polling
        self._on_event = on_event
        self._on_changes = on_changes
        # this tick's changes, handed over together at its end (worker thread only)
        self._ready_batch: list[Path] = []
        self._removed_batch: list[Path] = []
        self._tick = max(0.02, min(0.25, settle_seconds / 4))
        self._closed_recheck = min(CLOSED_RECHECK, settle_seconds)

        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: WatchStatus = "stopped"

        # Shared with the observer thread.
        self._lock = threading.Lock()
        self._hints: dict[Path, tuple[float, bool]] = {}
        self._gone: set[Path] = set()  # delete events, checked on the worker thread
        self._handler_error: str | None = None

        # Worker thread only.
        self._handler = _Hints(self._record_hint, self._record_handler_error, self._record_gone)
        self._observer: BaseObserver | None = None
        self._watched_identity: tuple[int, int] | None = None
        self._fallback_polling = False
        self._tracks: dict[Path, _Track] = {}
        self._handed: dict[Path, Signature] = {}
        self._specials: set[Path] = set()  # reported once each; pruned by complete rescans
        self._last_loop_error: str | None = None

    # -- public ---------------------------------------------------------------------------------

    @property
    def status(self) -> WatchStatus:
        return self._status

    @property
    def observer(self) -> BaseObserver | None:
        """The file observer running now (None while the folder is missing); a restart
        replaces it."""
        return self._observer

    def counts(self) -> WatchCounts:
        """The sizes of the watcher's records, read from any thread (each len() is atomic)."""
        with self._lock:
            hints = len(self._hints)
        return WatchCounts(handed=len(self._handed), pending=len(self._tracks), hints=hints)

    def start(self) -> None:
        """Start watching in the background; the first status arrives as an event."""
        if self._stop.is_set():
            raise RuntimeError("this ExportWatcher was closed; create a new one")
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="retrain-gate-watcher", daemon=True)
        self._thread.start()

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Stop watching (idempotent). True if everything stopped within `timeout`.

        False only when `on_changes` is still running an ingest; the worker then stops as soon as it
        returns, without handing over anything else.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            self._status = "stopped"
            return True
        if thread is not threading.current_thread():
            thread.join(timeout)
        return not thread.is_alive()

    # -- observer thread ------------------------------------------------------------------------

    def _record_hint(self, raw: str, closed: bool) -> None:
        path = Path(raw)
        if not self._wanted(path):
            return
        with self._lock:
            self._hints[path] = (time.monotonic(), closed)

    def _record_gone(self, raw: str) -> None:
        with self._lock:
            self._gone.add(Path(raw))

    def _record_handler_error(self, message: str) -> None:
        with self._lock:
            self._handler_error = message

    def _wanted(self, path: Path) -> bool:
        if classify_name(path) == "ignore":
            return False
        try:
            parts = path.relative_to(self.export_dir).parts
        except ValueError:
            return True
        # Files inside hidden folders (a sync client's scratch space, .git) are not exports.
        return not any(part.startswith(".") for part in parts[:-1])

    # -- worker thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            next_health = 0.0
            next_rescan = time.monotonic() + self._rescan_seconds
            while not self._stop.is_set():
                try:
                    now = time.monotonic()
                    if now >= next_health:
                        self._check_health()
                        next_health = now + POLL_INTERVAL
                    if self._observer is not None and now >= next_rescan:
                        self._scan("rescan")
                        next_rescan = now + self._rescan_seconds
                    self._settle()
                    self._hand_over()  # also after a rescan that found files removed
                    self._last_loop_error = None
                except Exception as exc:  # the loop must outlive any one bad tick
                    log.exception("watcher tick failed")
                    message = f"watcher error: {exc!r}"
                    if message != self._last_loop_error:
                        self._last_loop_error = message
                        self._emit(WatchEvent("error", None, message))
                self._stop.wait(self._tick)
        finally:
            self._stop_observer()
            self._set_status("stopped", f"stopped watching {self._folder}")

    def _emit(self, event: WatchEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("on_event callback failed for %r", event)

    def _set_status(self, status: WatchStatus, message: str, *, force: bool = False) -> None:
        if status == self._status and not force:
            return
        self._status = status
        self._emit(WatchEvent("status", None, message, status))

    def _folder_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.export_dir)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
        return (st.st_dev, st.st_ino)

    def _check_health(self) -> None:
        identity = self._folder_identity()
        if identity is None:
            if self._status != "folder_missing":
                self._stop_observer()
                # Whatever was pending went with the folder; the catch-up scan redoes the rest.
                self._tracks.clear()
                self._set_status(
                    "folder_missing",
                    f"{self._folder} does not exist (yet); waiting for it to appear",
                )
            return
        if self._observer is None:
            if self._start_observer(identity):
                self._scan("catch-up")
            return
        if identity != self._watched_identity:
            # Removed and recreated between two checks: the old watch points at a dead inode.
            self._stop_observer()
            if self._start_observer(identity, replaced=True):
                self._scan("catch-up")
            return
        observer = self._observer
        if not observer.is_alive() or not all(e.is_alive() for e in list(observer.emitters)):
            self._emit(
                WatchEvent("error", None, "the file observer stopped; restarting it and rescanning")
            )
            self._stop_observer()
            if self._start_observer(identity):
                self._scan("rescan")

    def _launch(self, polling: bool) -> BaseObserver:
        """A started observer on export_dir; a half-started one is stopped before raising."""
        observer: BaseObserver = PollingObserver(timeout=POLL_INTERVAL) if polling else Observer()
        try:
            observer.schedule(self._handler, str(self.export_dir), recursive=True)
            observer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                observer.stop()
            raise
        return observer

    def _start_observer(self, identity: tuple[int, int], *, replaced: bool = False) -> bool:
        polling = self._polling or self._fallback_polling
        try:
            observer = self._launch(polling)
        except (FileNotFoundError, NotADirectoryError):
            # Vanished between the health check and the watch; the next check reports it.
            return False
        except OSError as exc:
            if not polling:
                # Typically ENOSPC (fs.inotify.max_user_watches) or EMFILE (max_user_instances).
                self._fallback_polling = True
                self._emit(
                    WatchEvent(
                        "error",
                        None,
                        f"native file events unavailable for {self._folder} ({exc}); "
                        "falling back to polling (raise fs.inotify.max_user_watches to avoid this)",
                    )
                )
                return self._start_observer(identity, replaced=replaced)
            self._set_status("error", f"cannot watch {self._folder} ({exc}); retrying")
            return False
        self._observer = observer
        self._watched_identity = identity
        if polling:
            fallback = self._fallback_polling and not self._polling
            how = "polling (fallback)" if fallback else "polling"
            status: WatchStatus = "polling"
        else:
            how = "live file events"
            status = "live"
        prefix = "the folder was replaced; " if replaced else ""
        self._set_status(status, f"{prefix}watching {self._folder} ({how})", force=replaced)
        return True

    def _stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return
        try:
            observer.stop()
            observer.join(CLOSE_TIMEOUT / 2)
        except Exception:
            log.exception("stopping the file observer failed")

    def _scan(self, reason: Literal["catch-up", "rescan"]) -> None:
        """Queue every candidate not yet handed over in its current state; prune the record."""
        now = time.monotonic()
        seen: set[Path] = set()
        specials: set[Path] = set()
        failed: list[OSError] = []
        queued = 0
        for dirpath, dirnames, filenames in os.walk(self.export_dir, onerror=failed.append):
            if self._stop.is_set():
                return
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = Path(dirpath, name)
                if classify_name(path) == "ignore":
                    continue
                try:
                    st = os.stat(path)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        # A symlink loop: _settle hands it over once, to be refused by name.
                        seen.add(path)
                        if path not in self._tracks and self._handed.get(path) != _lsig(path):
                            self._tracks[path] = _Track(first_seen=now, activity_at=now)
                            queued += 1
                    continue
                if not stat.S_ISREG(st.st_mode):
                    specials.add(path)
                    self._report_special(path)
                    continue
                seen.add(path)
                sig = (st.st_size, st.st_mtime_ns)
                if path in self._tracks or self._handed.get(path) == sig:
                    continue
                self._tracks[path] = _Track(first_seen=now, activity_at=now, sig=sig, sig_since=now)
                queued += 1
        # Only a complete listing proves a file is gone; a partial one would forget live files.
        if not failed:
            for path in [p for p in self._handed if p not in seen]:
                self._removed(path)
            self._specials &= specials
        if queued:
            if reason == "catch-up":
                message = f"catching up: {plural(queued, 'file')} in {self._folder} to check"
            else:
                message = f"rescan found {plural(queued, 'new or changed file')} that events missed"
            self._emit(WatchEvent("rescan", None, message))

    def _report_special(self, path: Path) -> None:
        """A FIFO, socket or device in the folder: say so once (reading a FIFO would block)."""
        if path not in self._specials:
            self._specials.add(path)
            self._emit(
                WatchEvent(
                    "error",
                    path,
                    f"refused {self._shown(path)}: not a regular file "
                    "(a FIFO, socket or device); remove it",
                )
            )

    def _drain_hints(self) -> None:
        with self._lock:
            hints, self._hints = self._hints, {}
            gone, self._gone = self._gone, set()
            handler_error, self._handler_error = self._handler_error, None
        if handler_error is not None:
            self._emit(WatchEvent("error", None, handler_error))
        for path in gone:
            # only a file handed over earlier is news; anything else never reached anyone
            if path in self._handed and path not in hints and not os.path.lexists(path):
                self._removed(path)
        for path, (at, closed) in hints.items():
            track = self._tracks.get(path)
            if track is None:
                track = self._tracks[path] = _Track(first_seen=at, activity_at=at)
            if closed:
                track.closed_at = at
            else:
                track.activity_at = max(track.activity_at, at)
                track.closed_at = None

    def _settled(self, track: _Track, now: float) -> bool:
        # Quiet means: the same (size, mtime_ns) and no write hints for settle_seconds ...
        if now - max(track.sig_since, track.activity_at) >= self._settle_seconds:
            return True
        # ... or the writer closed the file and a stat after the close still agrees (Linux only).
        if track.closed_at is None:
            return False
        return now - max(track.sig_since, track.closed_at) >= self._closed_recheck

    def _settle(self) -> None:
        self._drain_hints()
        if not self._tracks:
            return
        now = time.monotonic()
        ready: list[tuple[int, Path, Signature]] = []
        for path, track in list(self._tracks.items()):
            try:
                st = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                del self._tracks[path]
                if path in self._handed:
                    self._removed(path)
                else:
                    self._emit(
                        WatchEvent(
                            "vanished",
                            path,
                            f"{self._shown(path)} disappeared before it could be read",
                        )
                    )
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    # A symlink loop never becomes a file: hand it over once (keyed by the
                    # link itself) so the caller refuses it with a reason, as `check` does,
                    # instead of stat-ing it on every tick for ever.
                    del self._tracks[path]
                    link_sig = _lsig(path)
                    if link_sig is not None and self._handed.get(path) != link_sig:
                        ready.append((link_sig[1], path, link_sig))
                    continue
                # E.g. permission denied while a writer holds it; keep waiting, say so once.
                track.sig = None
                if not track.stat_error_reported:
                    track.stat_error_reported = True
                    self._emit(
                        WatchEvent(
                            "error", path, f"{self._shown(path)}: cannot stat ({exc.strerror})"
                        )
                    )
                continue
            if not stat.S_ISREG(st.st_mode):
                del self._tracks[path]
                self._report_special(path)
                continue
            sig = (st.st_size, st.st_mtime_ns)
            if sig != track.sig:
                track.sig = sig
                track.sig_since = now
            if self._settled(track, now):
                del self._tracks[path]
                if self._handed.get(path) != sig:
                    ready.append((st.st_mtime_ns, path, sig))
            elif not track.warned and now - track.first_seen >= self._max_wait_seconds:
                track.warned = True
                waited = now - track.first_seen
                self._emit(
                    WatchEvent(
                        "still_changing",
                        path,
                        f"{self._shown(path)} is still being written after {waited:.0f} s "
                        f"({plural(st.st_size, 'byte')} so far); it will be read once it "
                        "stops changing",
                    )
                )
        # Oldest first, so exports are ingested in the order they were written.
        for _, path, sig in sorted(ready):
            if self._stop.is_set():
                return
            self._handed[path] = sig
            self._ready_batch.append(path)
        self._hand_over()

    def _removed(self, path: Path) -> None:
        """A file handed over earlier left the folder."""
        del self._handed[path]
        self._removed_batch.append(path)

    def _hand_over(self) -> None:
        """What settled and what left in one tick is one batch: the caller merges it once."""
        if not self._ready_batch and not self._removed_batch:
            return
        ready, self._ready_batch = self._ready_batch, []
        removed, self._removed_batch = self._removed_batch, []
        if self._stop.is_set():
            return
        try:
            self._on_changes(ready, removed)
        except Exception as exc:
            log.exception("on_changes failed")
            changed = [*ready, *removed]
            names = ", ".join(p.name for p in changed[:3])
            more = f" and {len(changed) - 3:,} more" if len(changed) > 3 else ""
            path = changed[0] if len(changed) == 1 else None
            self._emit(WatchEvent("error", path, f"ingest failed ({names}{more}): {exc!r}"))
