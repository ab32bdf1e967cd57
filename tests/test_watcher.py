"""The watcher against real files and real file-system events (no mocks of watchdog).

Correctness waits use `wait_for` (poll every 20 ms up to a deadline). The only timed waits are
`stays`, for "this must NOT happen", which by nature needs a window: it is a few settle periods.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retrain_gate.candidates import classify_name
from retrain_gate.live import watcher as watcher_module
from retrain_gate.live.watcher import ExportWatcher, WatchEvent
from tests.waiting import wait_for

SETTLE = 0.25
EXPORT = b'[{"id": 1, "data": {"image": "s3://b/task/ep1/0001.jpg"}, "annotations": []}]'


def stays(condition: Callable[[], bool], seconds: float = SETTLE * 3) -> bool:
    """True if `condition` holds for the whole window (for asserting that nothing else happens)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(0.02)
    return condition()


class Recorder:
    def __init__(self, fail_names: frozenset[str] = frozenset()) -> None:
        self.ready: list[tuple[Path, int]] = []
        self.removed: list[Path] = []
        self.events: list[WatchEvent] = []
        self.fail_names = fail_names
        self._lock = threading.Lock()

    def on_changes(self, ready: list[Path], removed: list[Path]) -> None:
        sizes = []
        for path in ready:
            try:
                sizes.append((path, path.stat().st_size))
            except FileNotFoundError:
                sizes.append((path, -1))
        with self._lock:
            self.ready.extend(sizes)
            self.removed.extend(removed)
        failing = [p.name for p in ready if p.name in self.fail_names]
        if failing:
            raise ValueError(f"cannot ingest {failing[0]}")

    def on_event(self, event: WatchEvent) -> None:
        with self._lock:
            self.events.append(event)

    def count(self, path: Path) -> int:
        with self._lock:
            return sum(1 for p, _ in self.ready if p == path)

    def sizes(self, path: Path) -> list[int]:
        with self._lock:
            return [size for p, size in self.ready if p == path]

    def statuses(self) -> list[str | None]:
        with self._lock:
            return [e.status for e in self.events if e.kind == "status"]

    def of_kind(self, kind: str) -> list[WatchEvent]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]


Factory = Callable[..., tuple[ExportWatcher, Recorder]]


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


@pytest.fixture
def start_watcher(export_dir: Path) -> Iterator[Factory]:
    started: list[ExportWatcher] = []

    def factory(
        folder: Path | None = None,
        *,
        polling: bool = False,
        settle: float = SETTLE,
        max_wait: float = 30.0,
        rescan: float = 60.0,
        fail_names: frozenset[str] = frozenset(),
        wait_ready: bool = True,
    ) -> tuple[ExportWatcher, Recorder]:
        recorder = Recorder(fail_names)
        watcher = ExportWatcher(
            folder or export_dir,
            settle_seconds=settle,
            max_wait_seconds=max_wait,
            rescan_seconds=rescan,
            polling=polling,
            on_changes=recorder.on_changes,
            on_event=recorder.on_event,
        )
        started.append(watcher)
        watcher.start()
        if wait_ready:
            expected = "polling" if polling else "live"
            wait_for(lambda: watcher.status == expected, what=f"status {expected}")
        return watcher, recorder

    yield factory
    for watcher in started:
        watcher.close()


def test_classify_name() -> None:
    for name in ("a.json", "A.JSON", "export.csv", "notes.txt", "data.xml", "no_suffix"):
        assert classify_name(Path("/x") / name) == "candidate", name
    ignored = (
        ".hidden.json",
        "x.json.part",
        "x.json.PART",
        "x.json.tmp",
        "x.json.crdownload",
        "x.json~",
        ".#x.json",
        ".x.json.swp",
        "x.json.swp",
    )
    for name in ignored:
        assert classify_name(Path("/x") / name) == "ignore", name
    assert classify_name(Path("/x/folder"), is_dir=True) == "ignore"


def test_slow_writer_is_handed_over_once_after_the_last_chunk(
    export_dir: Path, start_watcher: Factory
) -> None:
    # A pause longer than the settle time is a finished file to the watcher, so the settle
    # time here is far above the writer's pace: a machine that stalls this test for a second
    # (seen on CI-like shared machines) must not make the watcher's right answer a failure.
    settle = 2.0
    _, rec = start_watcher(settle=settle)
    target = export_dir / "slow.json"
    chunks = [EXPORT[i : i + 16] for i in range(0, len(EXPORT), 16)]
    with target.open("wb") as handle:
        for chunk in chunks:
            assert rec.count(target) == 0, "handed over while still being written"
            handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            time.sleep(SETTLE / 3)  # pacing the writer, far below `settle`
    wait_for(lambda: rec.count(target) == 1, what="the slow file")
    assert rec.sizes(target) == [len(EXPORT)]
    assert stays(lambda: rec.count(target) == 1)


def test_close_after_write_skips_the_settle_wait(export_dir: Path, start_watcher: Factory) -> None:
    # Linux reports close-after-write; a closed file with a stable size need not wait to settle.
    _, rec = start_watcher(settle=10.0)
    target = export_dir / "copied.json"
    target.write_bytes(EXPORT)
    wait_for(lambda: rec.count(target) == 1, timeout=3.0, what="the closed file")
    assert rec.sizes(target) == [len(EXPORT)]


def test_rename_into_place(export_dir: Path, start_watcher: Factory) -> None:
    _, rec = start_watcher()
    partial = export_dir / "x.json.part"
    partial.write_bytes(EXPORT)
    os.rename(partial, export_dir / "x.json")
    wait_for(lambda: rec.count(export_dir / "x.json") == 1, what="the renamed file")
    assert stays(lambda: len(rec.ready) == 1)
    assert rec.ready == [(export_dir / "x.json", len(EXPORT))]


def test_fifty_files_at_once(export_dir: Path, start_watcher: Factory) -> None:
    _, rec = start_watcher()
    paths = [export_dir / f"batch_{i:02d}.json" for i in range(50)]
    for path in paths:
        path.write_bytes(EXPORT)
    wait_for(lambda: len(rec.ready) >= 50, what="50 files")
    assert stays(lambda: len(rec.ready) == 50)
    assert sorted(p for p, _ in rec.ready) == sorted(paths)


def test_file_deleted_before_it_settles(export_dir: Path, start_watcher: Factory) -> None:
    _, rec = start_watcher()
    doomed = export_dir / "doomed.json"
    doomed.write_bytes(EXPORT)
    doomed.unlink()
    wait_for(lambda: any(e.path == doomed for e in rec.of_kind("vanished")), what="vanished")
    assert rec.count(doomed) == 0
    survivor = export_dir / "after.json"
    survivor.write_bytes(EXPORT)
    wait_for(lambda: rec.count(survivor) == 1, what="a file after the vanished one")
    assert rec.count(doomed) == 0


def test_truncated_file_handed_over_again_once_completed(
    export_dir: Path, start_watcher: Factory
) -> None:
    _, rec = start_watcher()
    target = export_dir / "cut.json"
    target.write_bytes(EXPORT[:20])
    wait_for(lambda: rec.count(target) == 1, what="the truncated file")
    target.write_bytes(EXPORT)
    wait_for(lambda: rec.count(target) == 2, what="the completed file")
    assert rec.sizes(target) == [20, len(EXPORT)]
    assert stays(lambda: rec.count(target) == 2)


def test_unchanged_file_is_not_handed_over_twice(export_dir: Path, start_watcher: Factory) -> None:
    _, rec = start_watcher(rescan=0.3)
    target = export_dir / "once.json"
    target.write_bytes(EXPORT)
    wait_for(lambda: rec.count(target) == 1, what="the file")
    # Reading it (as the ingest does) and several rescans must not hand it over again.
    target.read_bytes()
    assert stays(lambda: rec.count(target) == 1, seconds=1.0)


def test_folder_removed_and_recreated(export_dir: Path, start_watcher: Factory) -> None:
    watcher, rec = start_watcher()
    shutil.rmtree(export_dir)
    wait_for(lambda: watcher.status == "folder_missing", what="folder_missing")
    export_dir.mkdir()
    wait_for(lambda: watcher.status == "live", what="live again")
    assert rec.statuses() == ["live", "folder_missing", "live"]
    late = export_dir / "late.json"
    late.write_bytes(EXPORT)
    wait_for(lambda: rec.count(late) == 1, what="a file in the recreated folder")


def test_folder_missing_at_start(tmp_path: Path, start_watcher: Factory) -> None:
    folder = tmp_path / "not-yet"
    watcher, rec = start_watcher(folder, wait_ready=False)
    wait_for(lambda: watcher.status == "folder_missing", what="folder_missing")
    folder.mkdir()
    (folder / "first.json").write_bytes(EXPORT)
    wait_for(lambda: rec.count(folder / "first.json") == 1, what="the first file")
    assert rec.statuses() == ["folder_missing", "live"]


def test_polling_mode(export_dir: Path, start_watcher: Factory) -> None:
    watcher, rec = start_watcher(polling=True)
    assert watcher.status == "polling"
    plain = export_dir / "plain.json"
    plain.write_bytes(EXPORT)
    (export_dir / "moved.json.part").write_bytes(EXPORT)
    os.rename(export_dir / "moved.json.part", export_dir / "moved.json")
    wait_for(lambda: rec.count(plain) == 1, what="the plain file")
    wait_for(lambda: rec.count(export_dir / "moved.json") == 1, what="the renamed file")
    assert stays(lambda: len(rec.ready) == 2)


def test_catch_up_on_start(export_dir: Path, start_watcher: Factory) -> None:
    (export_dir / "old.json").write_bytes(EXPORT)
    (export_dir / "task" / "ep1").mkdir(parents=True)
    (export_dir / "task" / "ep1" / "nested.json").write_bytes(EXPORT)
    (export_dir / "refuse_me.csv").write_text("a,b\n")
    (export_dir / "half.json.part").write_bytes(EXPORT[:5])
    (export_dir / ".hidden.json").write_bytes(EXPORT)
    (export_dir / ".sync").mkdir()
    (export_dir / ".sync" / "scratch.json").write_bytes(EXPORT)
    _, rec = start_watcher()
    expected = {
        export_dir / "old.json",
        export_dir / "task" / "ep1" / "nested.json",
        export_dir / "refuse_me.csv",
    }
    wait_for(lambda: len(rec.ready) >= 3, what="the files present before start")
    assert stays(lambda: len(rec.ready) == 3)
    assert {p for p, _ in rec.ready} == expected
    assert [e.message for e in rec.of_kind("rescan")] == [
        f"catching up: 3 files in {export_dir} to check"
    ], "the catch-up should be announced"


def test_on_changes_raising_does_not_stop_the_watcher(
    export_dir: Path, start_watcher: Factory
) -> None:
    _, rec = start_watcher(fail_names=frozenset({"bad.json"}))
    bad = export_dir / "bad.json"
    bad.write_bytes(EXPORT)
    wait_for(lambda: any(e.path == bad for e in rec.of_kind("error")), what="the error event")
    [error] = [e for e in rec.of_kind("error") if e.path == bad]
    assert error.message == "ingest failed (bad.json): ValueError('cannot ingest bad.json')"
    good = export_dir / "good.json"
    good.write_bytes(EXPORT)
    wait_for(lambda: rec.count(good) == 1, what="the next file")
    assert rec.count(bad) == 1, "a failed file is retried only when it changes"


def test_still_changing_is_reported_once(export_dir: Path, start_watcher: Factory) -> None:
    # settle far above the writer's pace, as in the slow-writer test: a stall of the machine
    # is a pause of the writer, which the watcher rightly reads as a finished file
    _, rec = start_watcher(max_wait=0.5, settle=2.0)
    target = export_dir / "endless.json"
    with target.open("wb") as handle:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            handle.write(b" ")
            handle.flush()
            time.sleep(SETTLE / 4)  # pacing the writer
        assert rec.count(target) == 0
    wait_for(lambda: rec.count(target) == 1, what="the file once it stopped")
    warnings = [e for e in rec.of_kind("still_changing") if e.path == target]
    assert len(warnings) == 1


def test_rescan_finds_what_events_missed(export_dir: Path, start_watcher: Factory) -> None:
    watcher, rec = start_watcher(rescan=0.5)
    # Detach the handler: from now on no event reaches us, as after an inotify queue overflow.
    observer = watcher.observer
    assert observer is not None
    observer.unschedule_all()
    missed = export_dir / "missed.json"
    missed.write_bytes(EXPORT)
    wait_for(lambda: rec.count(missed) == 1, what="the rescan to find the file")
    assert rec.of_kind("rescan")
    assert "rescan found 1 new or changed file that events missed" in [
        e.message for e in rec.of_kind("rescan")
    ]


def test_dead_observer_is_restarted(export_dir: Path, start_watcher: Factory) -> None:
    watcher, rec = start_watcher()
    observer = watcher.observer
    assert observer is not None
    observer.stop()
    wait_for(lambda: watcher.observer not in (None, observer), what="a new observer")
    assert any("restarting" in e.message for e in rec.of_kind("error"))
    after = export_dir / "after_restart.json"
    after.write_bytes(EXPORT)
    wait_for(lambda: rec.count(after) == 1, what="a file after the restart")


def test_close_is_quick_and_idempotent(export_dir: Path, start_watcher: Factory) -> None:
    watcher, rec = start_watcher()
    (export_dir / "pending.json").write_bytes(EXPORT)
    started = time.monotonic()
    assert watcher.close() is True
    assert time.monotonic() - started < 1.0
    assert watcher.status == "stopped"
    assert rec.statuses()[-1] == "stopped"
    assert watcher.close() is True
    with pytest.raises(RuntimeError):
        watcher.start()


def test_falls_back_to_polling_when_inotify_is_exhausted(
    export_dir: Path, start_watcher: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in for ENOSPC from inotify_add_watch (fs.inotify.max_user_watches reached); the
    # polling observer that takes over is the real one.
    def exhausted() -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watcher_module, "Observer", exhausted)
    watcher, rec = start_watcher(wait_ready=False)
    wait_for(lambda: watcher.status == "polling", what="the polling fallback")
    assert any("falling back to polling" in e.message for e in rec.of_kind("error"))
    target = export_dir / "polled.json"
    target.write_bytes(EXPORT)
    wait_for(lambda: rec.count(target) == 1, what="a file seen by polling")


def test_close_while_on_changes_is_busy(export_dir: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_ingest(ready: list[Path], removed: list[Path]) -> None:
        entered.set()
        release.wait(10)

    watcher = ExportWatcher(
        export_dir,
        settle_seconds=SETTLE,
        max_wait_seconds=30,
        rescan_seconds=60,
        polling=False,
        on_changes=slow_ingest,
        on_event=lambda event: None,
    )
    (export_dir / "big.json").write_bytes(EXPORT)
    watcher.start()
    try:
        wait_for(entered.is_set, what="the ingest to start")
        started = time.monotonic()
        assert watcher.close(timeout=0.3) is False  # cannot interrupt the caller's ingest
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
    wait_for(lambda: watcher.close(timeout=0.1), what="the worker to finish")
    assert watcher.status == "stopped"


def test_on_changes_hands_a_burst_and_a_removal_in_one_call(export_dir: Path) -> None:
    """What settled in one tick and what left are handed over together, so the caller merges
    them once: 20 files written at once arrive in a few calls, not 20."""
    calls: list[tuple[list[Path], list[Path]]] = []
    lock = threading.Lock()

    def on_changes(ready: list[Path], removed: list[Path]) -> None:
        with lock:
            calls.append((list(ready), list(removed)))

    watcher = ExportWatcher(
        export_dir,
        settle_seconds=SETTLE,
        max_wait_seconds=30.0,
        rescan_seconds=60.0,
        polling=False,
        on_event=lambda _e: None,
        on_changes=on_changes,
    )
    watcher.start()
    try:
        wait_for(lambda: watcher.status == "live", what="status live")
        names = [export_dir / f"e{i:02d}.json" for i in range(20)]
        for path in names:
            path.write_bytes(EXPORT)

        def handed() -> list[Path]:
            with lock:
                return [p for ready, _ in calls for p in ready]

        wait_for(lambda: sorted(handed()) == names, what="all 20 handed over")
        with lock:
            assert len(calls) < 20 and all(not removed for _, removed in calls)
        names[0].unlink()

        def removed() -> list[Path]:
            with lock:
                return [p for _, gone in calls for p in gone]

        wait_for(lambda: removed() == [names[0]], what="the removal handed over")
    finally:
        watcher.close()
