"""§3's prediction index across files, on hand-written exports: a prediction seen as an object
in any ingested file gives the source of frames that know it only by id (rule 3) or hold no
prediction objects at all (rule 4). Each expected verdict is worked out by hand in the test."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import polars as pl

from retrain_gate.config import Config
from retrain_gate.store import FrameStore
from tests.lsbuild import ann, kp, pred, task, write_export

CONFIG = Config()
IMAGE = "/data/local-files/?d=eps/pick/e1/f1.jpg"


def verdict(store: FrameStore, task_id: int) -> dict[str, Any]:
    row = store.frames().filter(pl.col("task_id") == task_id)
    assert row.height == 1
    names = ("status", "has_source", "corrected", "correction_unknown", "release")
    return {name: row[name][0] for name in names}


def ingest_all(tmp_path: Path, files: list[tuple[str, list[Any]]]) -> FrameStore:
    store = FrameStore(tmp_path / "state", CONFIG)
    for mtime, (name, tasks) in enumerate(files, start=1):
        result = store.ingest(write_export(tmp_path / "exports", name, tasks, mtime=mtime))
        assert result.outcome == "ingested", result.reason
    return store


# Prediction 7 (release m2) proposed regions r1 and r2; the labeler kept r1 untouched
# (origin "prediction") and deleted r2: corrected, by the deleted region. Without the
# prediction's content that cannot be seen: not corrected (the origins alone say accepted).
M2 = pred(7, [kp(10, 10, rid="r1"), kp(20, 20, rid="r2")], version="m2", created="2026-02-01")
KEPT_R1 = [kp(10, 10, rid="r1", origin="prediction")]
ACCEPTED = {"has_source": True, "corrected": False, "correction_unknown": False, "release": None}
DELETED_R2 = {"has_source": True, "corrected": True, "correction_unknown": False, "release": "m2"}


def community_task(tid: int = 1, **extra: Any) -> dict[str, Any]:
    """As Label Studio's default export writes it: predictions as bare ids, the annotation's
    inline `prediction` empty, the source only as `parent_prediction`."""
    chosen = ann(11, KEPT_R1, parent=7, updated="2026-03-02T00:00:00Z")
    return task(tid, IMAGE, predictions=[7], annotations=[chosen], **extra)


def test_without_the_prediction_the_source_stays_unknown(tmp_path: Path) -> None:
    store = ingest_all(tmp_path, [("a.json", [community_task()])])
    assert verdict(store, 1) == {"status": "reviewed", **ACCEPTED}


def test_a_sibling_annotation_carrying_the_prediction_inline_names_it(tmp_path: Path) -> None:
    """The chosen annotation (the later one) has `prediction: {}`; an earlier annotation of the
    same task carries prediction 7 inline: the index has it, so the source is known."""
    sibling = ann(10, KEPT_R1, parent=7, updated="2026-03-01T00:00:00Z", inline=M2)
    chosen = ann(11, KEPT_R1, parent=7, updated="2026-03-02T00:00:00Z")
    tasks = [task(1, IMAGE, predictions=[7], annotations=[sibling, chosen])]
    store = ingest_all(tmp_path, [("a.json", tasks)])
    assert verdict(store, 1) == {"status": "reviewed", **DELETED_R2}


def test_a_snapshot_in_either_order_gives_the_release_to_frames_known_by_id(
    tmp_path: Path,
) -> None:
    """The snapshot was taken before the labeler saved (older stamp): its version of the frame
    loses, but its prediction objects name the source of the newer version."""
    snapshot = [task(1, IMAGE, predictions=[M2], updated="2026-02-15T00:00:00Z")]
    community = [community_task()]
    for order in itertools.permutations([("snap.json", snapshot), ("comm.json", community)]):
        store = ingest_all(tmp_path / "-".join(name for name, _ in order), list(order))
        assert verdict(store, 1) == {"status": "reviewed", **DELETED_R2}, order


def test_rule_4_takes_the_tasks_latest_listed_prediction_from_any_file(tmp_path: Path) -> None:
    """No parent_prediction and no prediction objects in the chosen version (labeled through
    the API from the predictions the task lists): the latest prediction some file listed in
    this task's predictions is the source (5 created before 6: 6). No origins: the geometric
    comparison, 10 -> 10.2 is within the 0.5 tolerance: not corrected."""
    listed = [
        pred(5, [kp(10, 10)], version="m1", created="2026-01-01"),
        pred(6, [kp(10, 10)], version="m2", created="2026-02-01"),
    ]
    older = [task(1, IMAGE, predictions=listed, updated="2026-01-15T00:00:00Z")]
    chosen = ann(11, [kp(10.2, 10)], parent=None, updated="2026-03-02T00:00:00Z")
    newer = [task(1, IMAGE, predictions=[5, 6], annotations=[chosen])]
    store = ingest_all(tmp_path / "a", [("new.json", newer)])
    assert verdict(store, 1)["has_source"] is False  # nothing listed yet: from scratch
    store = ingest_all(tmp_path / "b", [("new.json", newer), ("old.json", older)])
    assert verdict(store, 1) == {
        "status": "reviewed",
        "has_source": True,
        "corrected": False,
        "correction_unknown": False,
        "release": "m2",
    }


def test_an_inline_copy_does_not_count_for_rule_4(tmp_path: Path) -> None:
    """Prediction 6 seen only inline (in another task's annotation) is not listed in task 1's
    predictions: task 1 stays labeled from scratch."""
    other = task(
        2,
        IMAGE.replace("f1", "f2"),
        annotations=[ann(20, [kp(1, 1)], parent=6, inline=M2 | {"id": 6})],
    )
    chosen = ann(11, [kp(10, 10)], parent=None)
    store = ingest_all(tmp_path, [("a.json", [other, task(1, IMAGE, annotations=[chosen])])])
    assert verdict(store, 1)["has_source"] is False


def test_the_copy_that_arrived_last_wins(tmp_path: Path) -> None:
    """Prediction 7 seen twice with different releases: the later file's copy names it."""
    first = [task(2, IMAGE.replace("f1", "f2"), predictions=[M2], updated="2026-01-01T00:00:00Z")]
    relabeled = pred(7, M2["result"], version="m3", created="2026-02-01")
    second = [
        task(2, IMAGE.replace("f1", "f2"), predictions=[relabeled], updated="2026-01-01T00:00:00Z")
    ]
    store = ingest_all(
        tmp_path, [("c.json", [community_task()]), ("a.json", first), ("b.json", second)]
    )
    assert verdict(store, 1)["release"] == "m3"


def test_the_index_survives_a_restart_and_decides_later_files(tmp_path: Path) -> None:
    ingest_all(tmp_path, [("snap.json", [task(1, IMAGE, predictions=[M2], updated="2026-01-01")])])
    again = FrameStore(tmp_path / "state", CONFIG)
    path = write_export(tmp_path / "exports", "comm.json", [community_task()], mtime=9)
    result = again.ingest(path)
    assert (result.new_frames, result.changed_frames) == (0, 1)
    assert verdict(again, 1) == {"status": "reviewed", **DELETED_R2}
