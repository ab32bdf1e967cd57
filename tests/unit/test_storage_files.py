"""Label Studio's target-storage folders (§1): per-annotation files grouped by frame, files
overwritten and removed, task-format files, and files that are neither. Hand-written files in
the shape Label Studio 1.23 writes them (io_storages: `StorageAnnotationSerializer`, the task
nested under `task`, no predictions); each expected verdict is worked out in the test."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from retrain_gate.config import Config
from retrain_gate.store import FrameStore
from tests.lsbuild import ann, kp, pred, task, write_export

CONFIG = Config()
IMAGE = "/data/local-files/?d=eps/pick/e1/f1.jpg"
R1_R2 = [kp(10, 10, rid="r1"), kp(20, 20, rid="r2")]


def annotation_file(
    folder: Path,
    aid: int,
    result: list[dict[str, Any]],
    *,
    task_id: int = 1,
    parent: int | None = 7,
    updated: str,
    mtime: int,
    cancelled: bool = False,
) -> Path:
    """One file as Label Studio's default target storage writes it: named by the annotation
    id, no extension, the task nested, no predictions."""
    body = ann(aid, result, parent=parent, updated=updated, created=updated, cancelled=cancelled)
    body["task"] = {
        "id": task_id,
        "data": {"image": IMAGE.replace("f1", f"f{task_id}")},
        "project": 1,
        "updated_at": "2026-01-01T00:00:00Z",
        "meta": {},
        "is_labeled": True,
    }
    body["project"] = 1
    body["completed_by"] = {"id": 1, "email": "kim@example.com"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / str(aid)
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def verdict(store: FrameStore, task_id: int = 1) -> dict[str, Any]:
    row = store.frames().filter(pl.col("task_id") == task_id)
    assert row.height == 1, row
    names = ("status", "has_source", "corrected", "correction_unknown", "release")
    return {name: row[name][0] for name in names}


def scan(store: FrameStore, folder: Path) -> list[str]:
    """What a `check` does: forget what left the folder, ingest what is new, oldest first."""
    outcomes = [r.outcome for r in store.forget_missing()]
    paths = sorted(
        (p for p in folder.iterdir() if store.needs_ingest(p)),
        key=lambda p: (p.stat().st_mtime_ns, p.name),
    )
    outcomes += [store.ingest(p).outcome for p in paths]
    return outcomes


KEPT_BOTH = [kp(10, 10, rid="r1", origin="prediction"), kp(20, 20, rid="r2", origin="prediction")]
DELETED_R2 = [kp(10, 10, rid="r1", origin="prediction")]


def test_annotation_files_are_grouped_by_frame_and_removed_ones_taken_away(tmp_path: Path) -> None:
    folder = tmp_path / "storage"
    store = FrameStore(tmp_path / "state", CONFIG)
    # Two annotators on task 1: Kim kept both regions, Ana (later) deleted r2.
    annotation_file(folder, 11, KEPT_BOTH, updated="2026-03-01T00:00:00Z", mtime=10)
    annotation_file(folder, 12, DELETED_R2, updated="2026-03-02T00:00:00Z", mtime=11)
    assert scan(store, folder) == ["ingested", "ingested"]
    assert store.frames().height == 1  # one frame, two annotations
    # Chosen: Ana's, the later. Source known only by id 7, no snapshot: release unknown;
    # origins present and none changed, content unknown: not corrected.
    assert verdict(store) == {
        "status": "reviewed",
        "has_source": True,
        "corrected": False,
        "correction_unknown": False,
        "release": None,
    }
    # A snapshot taken before anyone labeled (older stamp) brings prediction 7: release m2,
    # and Ana's missing r2 is now a deleted region: corrected.
    snapshot = [task(1, IMAGE, predictions=[pred(7, R1_R2, version="m2")], updated="2026-02-01")]
    write_export(folder, "project-1-at-2026-02-01.json", snapshot, mtime=12)
    assert scan(store, folder) == ["ingested"]
    assert verdict(store)["release"] == "m2" and verdict(store)["corrected"] is True
    # Ana's file removed (the storage may delete objects): Kim's annotation is the one left,
    # both regions kept: not corrected.
    (folder / "12").unlink()
    assert scan(store, folder) == ["removed"]
    assert verdict(store) == {
        "status": "reviewed",
        "has_source": True,
        "corrected": False,
        "correction_unknown": False,
        "release": "m2",
    }
    # Kim's removed too: no storage version left; the snapshot's version shows (no annotation).
    (folder / "11").unlink()
    assert scan(store, folder) == ["removed"]
    assert verdict(store)["status"] == "open"


def test_an_overwritten_file_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "storage"
    store = FrameStore(tmp_path / "state", CONFIG)
    annotation_file(folder, 11, KEPT_BOTH, updated="2026-03-01T00:00:00Z", mtime=10)
    scan(store, folder)
    assert verdict(store)["corrected"] is False
    # The labeler opened it again and moved r2 (Label Studio rewrites the same file).
    moved = [KEPT_BOTH[0], kp(25, 20, rid="r2", origin="prediction-changed")]
    annotation_file(folder, 11, moved, updated="2026-03-05T00:00:00Z", mtime=20)
    assert scan(store, folder) == ["ingested"]
    assert verdict(store)["corrected"] is True
    assert store.frames().height == 1


def test_the_newer_of_storage_and_export_versions_wins_and_arrival_order_does_not_matter(
    tmp_path: Path,
) -> None:
    """An export made after Kim's save holds a re-review by Ana (stamp 03-09, cancelled:
    skipped); Kim's storage file (03-01) is older: the frame is skipped, whichever came first."""
    for first in ("storage", "export"):
        folder = tmp_path / first / "exports"
        store = FrameStore(tmp_path / first / "state", CONFIG)
        later = [
            task(
                1,
                IMAGE,
                annotations=[ann(13, [], cancelled=True, updated="2026-03-09T00:00:00Z")],
                updated="2026-03-09T00:00:00Z",
            )
        ]
        mtimes = {"storage": (10, 20), "export": (20, 10)}[first]
        annotation_file(folder, 11, KEPT_BOTH, updated="2026-03-01T00:00:00Z", mtime=mtimes[0])
        write_export(folder, "project-1-at-2026-03-09.json", later, mtime=mtimes[1])
        scan(store, folder)
        assert verdict(store)["status"] == "skipped", first


def test_task_format_files_and_other_files_without_an_extension(tmp_path: Path) -> None:
    folder = tmp_path / "storage"
    folder.mkdir()
    store = FrameStore(tmp_path / "state", CONFIG)
    # Task format without the .json extension: one task, as in an export.
    one_task = task(5, IMAGE, annotations=[ann(50, [kp(1, 1)])])
    (folder / "5").write_text(json.dumps(one_task), encoding="utf-8")
    (folder / "README").write_text("notes about this bucket\n", encoding="utf-8")
    (folder / "list").write_text("[]", encoding="utf-8")
    assert sorted(scan(store, folder)) == ["ignored", "ignored", "ingested"]
    assert verdict(store, 5)["status"] == "reviewed"
    assert sorted(Path(p).name for p in store.ignored()) == ["README", "list"]
    assert store.refused() == {}
    # Gone from the folder: no longer counted.
    (folder / "README").unlink()
    scan(store, folder)
    assert [Path(p).name for p in store.ignored()] == ["list"]


def test_the_grouped_frames_survive_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "storage"
    annotation_file(folder, 11, KEPT_BOTH, updated="2026-03-01T00:00:00Z", mtime=10)
    annotation_file(folder, 12, DELETED_R2, updated="2026-03-02T00:00:00Z", mtime=11)
    scan(FrameStore(tmp_path / "state", CONFIG), folder)
    again = FrameStore(tmp_path / "state", CONFIG)
    assert again.frames().height == 1
    (folder / "12").unlink()
    assert scan(again, folder) == ["removed"]
    assert again.frames().height == 1
    (folder / "11").unlink()
    scan(again, folder)
    assert again.frames().is_empty()  # no export ever held the frame
