"""A target-storage folder under a running watcher: annotation files appearing, overwritten and
removed while `watch` runs, and a burst of saves merged in batches (one report per batch, not
one per file). Real files, real filesystem events, the real process."""

from __future__ import annotations

import threading
from pathlib import Path

from retrain_gate.config import load_config
from retrain_gate.live.events import FILE_LINES, BatchRead, Ingested, LiveEvent, ReportChanged
from retrain_gate.live.service import GateService
from tests.lsbuild import kp
from tests.unit.test_storage_files import annotation_file
from tests.waiting import wait_for
from tests.watchkit import Watch, check

ACCEPTED = [kp(10, 10, rid="r1", origin="prediction")]
MOVED = [kp(14, 10, rid="r1", origin="prediction-changed")]


def test_annotation_files_saved_overwritten_and_deleted_under_watch(
    folder: Path, watch: Watch
) -> None:
    exports = folder / "exports"
    annotation_file(exports, 11, ACCEPTED, updated="2026-03-01T00:00:00Z", mtime=1_000)
    annotation_file(exports, 12, ACCEPTED, task_id=2, updated="2026-03-01T00:00:00Z", mtime=1_001)
    wait_for(lambda: "ingested" in watch.text() and "/12: 1 frame" in watch.text(), timeout=20)
    data = check(folder)
    assert (data["frames"]["total"], data["frames"]["reviewed"]) == (2, 2)
    assert data["frames"]["corrected"] == 0

    # Label Studio rewrites annotation 11 in place when the labeler moves the point.
    annotation_file(exports, 11, MOVED, updated="2026-03-02T00:00:00Z", mtime=1_100)
    wait_for(lambda: "/11: 1 frame, 0 new, 1 changed" in watch.text(), timeout=20)
    assert check(folder)["frames"]["corrected"] == 1

    # Annotation 12 deleted in Label Studio (the storage may delete objects): its file goes,
    # and with it the only annotation of task 2, whose frame no export ever held.
    (exports / "12").unlink()
    wait_for(lambda: "removed" in watch.text() and "/12: its annotation is gone" in watch.text())
    data = check(folder)
    assert (data["frames"]["total"], data["frames"]["reviewed"]) == (1, 1)
    assert watch.proc.poll() is None and "Traceback" not in watch.text()


def test_a_burst_of_saves_is_merged_in_batches(folder: Path) -> None:
    """300 annotation files land at once (a Sync rewrites every file): each is ingested, and
    the dashboard gets a handful of reports, not one per file."""
    updates: list[LiveEvent] = []
    lock = threading.Lock()

    def on_update(update: LiveEvent) -> None:
        with lock:
            updates.append(update)

    service = GateService(load_config(folder / "config.toml"), on_update)
    service.start()
    try:
        wait_for(lambda: any(isinstance(u, ReportChanged) for u in updates), timeout=20)
        with lock:
            reports_before = sum(isinstance(u, ReportChanged) for u in updates)
        for aid in range(1, 301):
            annotation_file(
                folder / "exports",
                aid,
                ACCEPTED,
                task_id=aid,
                updated="2026-03-01T00:00:00Z",
                mtime=1_000 + aid,
            )

        def all_in() -> bool:
            report = service.last_report
            return report is not None and report.frames.total == 300

        wait_for(all_in, timeout=60, what="all 300 frames in a report")
        with lock:
            lines = [u for u in updates if isinstance(u, Ingested | BatchRead)]
            reports = sum(isinstance(u, ReportChanged) for u in updates) - reports_before
        files = sum(u.files if isinstance(u, BatchRead) else 1 for u in lines)
        assert files == 300
        assert 1 <= reports <= 30, reports  # batches of what settled together
        # ... and a batch of many files is one line (how the 300 split into batches depends
        # on the machine's speed: tests/unit/test_batch_lines.py has the rule itself)
        for u in lines:
            if isinstance(u, BatchRead):
                assert u.files > FILE_LINES
                assert (
                    u.text
                    == f"ingested {u.files} files: {u.files} frames, {u.files} new, 0 changed"
                )
    finally:
        service.close()
