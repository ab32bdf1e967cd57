"""§1 of docs/semantics.md: the latest version of each frame wins, whatever the file order."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retrain_gate.config import Config
from retrain_gate.store import FrameStore
from tests.lsbuild import ann, kp, task, write_export

CONFIG = Config()


def statuses(store: FrameStore) -> dict[int, str]:
    return {r["task_id"]: r["status"] for r in store.frames().to_dicts()}


def reviewed_at(tid: int, when: str) -> dict:  # type: ignore[type-arg]
    return task(tid, annotations=[ann(1, [kp(1, 1, origin="manual")], updated=when)])


def test_the_greatest_stamp_wins_in_either_order(tmp_path: Path) -> None:
    old = write_export(
        tmp_path / "x", "a.json", [task(1, updated="2026-01-01T00:00:00Z")], mtime=100
    )
    new = write_export(tmp_path / "x", "b.json", [reviewed_at(1, "2026-01-02T00:00:00Z")], mtime=50)
    for order in ([old, new], [new, old]):
        store = FrameStore(tmp_path / f"state{order[0].name}", CONFIG)
        for path in order:
            assert store.ingest(path).outcome == "ingested"
        # b.json arrived earlier (mtime 50) but its stamp is later: it wins both times.
        assert statuses(store) == {1: "reviewed"}


def test_a_tie_goes_to_the_file_that_arrived_later(tmp_path: Path) -> None:
    same = "2026-01-01T00:00:00Z"
    first = write_export(tmp_path / "x", "z.json", [task(1, updated=same)], mtime=100)
    later = write_export(
        tmp_path / "x",
        "a.json",
        [task(1, updated=same, annotations=[ann(1, [kp(1, 1, origin="manual")], updated=same)])],
        mtime=200,
    )
    for order in ([first, later], [later, first]):
        store = FrameStore(tmp_path / f"s{order[0].name}", CONFIG)
        for path in order:
            store.ingest(path)
        assert statuses(store) == {1: "reviewed"}  # a.json: mtime 200 > 100


def test_a_tie_on_mtime_goes_to_the_later_file_name(tmp_path: Path) -> None:
    same = "2026-01-01T00:00:00Z"
    a = write_export(tmp_path / "x", "a.json", [task(1, updated=same)], mtime=100)
    b = write_export(
        tmp_path / "x",
        "b.json",
        [task(1, updated=same, annotations=[ann(1, [kp(1, 1, origin="manual")], updated=same)])],
        mtime=100,
    )
    for order in ([a, b], [b, a]):
        store = FrameStore(tmp_path / f"s{order[0].name}", CONFIG)
        for path in order:
            store.ingest(path)
        assert statuses(store) == {1: "reviewed"}  # "b.json" > "a.json"


def test_a_frame_missing_from_a_filtered_export_is_kept(tmp_path: Path) -> None:
    full = write_export(tmp_path / "x", "full.json", [task(1), task(2)], mtime=100)
    part = write_export(
        tmp_path / "x", "part.json", [reviewed_at(2, "2026-02-01T00:00:00Z")], mtime=200
    )
    store = FrameStore(tmp_path / "s", CONFIG)
    store.ingest(full)
    store.ingest(part)
    assert statuses(store) == {1: "open", 2: "reviewed"}


def test_same_file_twice_and_same_content_under_another_name(tmp_path: Path) -> None:
    path = write_export(tmp_path / "x", "a.json", [task(1), task(2)], mtime=100)
    store = FrameStore(tmp_path / "s", CONFIG)
    assert store.ingest(path).outcome == "ingested"
    before = store.frames()
    assert store.ingest(path).outcome == "unchanged"
    copy = tmp_path / "x" / "copy.json"
    copy.write_bytes(path.read_bytes())
    result = store.ingest(copy)
    assert result.outcome == "duplicate" and result.duplicate_of == str(path)
    assert store.frames().equals(before)


def test_projects_keep_frames_apart(tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "x",
        "a.json",
        [task(1, project=1), task(1, project=2), task(1, project=None)],
        mtime=1,
    )
    store = FrameStore(tmp_path / "s", CONFIG)
    store.ingest(path)
    assert store.frames().height == 3


def test_the_store_survives_a_restart_and_skips_unchanged_files(tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "x", "a.json", [task(1), reviewed_at(2, "2026-02-01")], mtime=100
    )
    FrameStore(tmp_path / "s", CONFIG).ingest(path)
    again = FrameStore(tmp_path / "s", CONFIG)
    assert not again.needs_ingest(path)
    assert statuses(again) == {1: "open", 2: "reviewed"}


def test_a_refusal_changes_nothing_and_stays_visible(tmp_path: Path) -> None:
    good = write_export(tmp_path / "x", "a.json", [task(1)], mtime=100)
    bad = tmp_path / "x" / "b.json"
    bad.write_text('[{"id": 1, "data"', encoding="utf-8")
    store = FrameStore(tmp_path / "s", CONFIG)
    store.ingest(good)
    before = store.frames()
    result = store.ingest(bad)
    assert result.outcome == "refused" and "truncated" in result.reason
    assert store.frames().equals(before)
    assert list(FrameStore(tmp_path / "s", CONFIG).refused()) == [str(bad)]
    # Completed later: it is read again and ingested, and the refusal goes away.
    write_export(tmp_path / "x", "b.json", [reviewed_at(1, "2026-03-01")], mtime=300)
    assert store.ingest(bad).outcome == "ingested"
    assert store.refused() == {}


def test_a_damaged_frames_file_is_rebuilt_from_the_exports(tmp_path: Path) -> None:
    path = write_export(tmp_path / "x", "a.json", [task(1), task(2)], mtime=100)
    FrameStore(tmp_path / "s", CONFIG).ingest(path)
    (tmp_path / "s" / "frames.parquet").write_bytes(b"garbage")
    store = FrameStore(tmp_path / "s", CONFIG)
    assert store.needs_ingest(path)
    store.ingest(path)
    assert store.frames().height == 2
    assert isinstance(store.frames(), pl.DataFrame)
