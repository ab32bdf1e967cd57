"""§1: the figures follow the folder as it is now. A removed or renamed file takes its
versions with it, each of its frames falls back to its latest version among the files that
remain, the same bytes under a new name are the same versions newly arrived, and reading the
folder incrementally always gives what a fresh read of it gives. In-process; the same with
`watch` running: tests/test_removal.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrain_gate.config import Config, parse_config
from retrain_gate.engine import Engine
from retrain_gate.models import FRAME_KEY
from retrain_gate.store import Batch, FrameStore
from tests.lsbuild import ann, kp, pred, task, write_export
from tests.unit.test_storage_files import annotation_file

CONFIG = Config()
DAY1, DAY2 = "2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z"


def image(tid: int) -> str:
    return f"/data/local-files/?d=eps/pick/e1/f{tid}.jpg"


def reviewed(tid: int, stamp: str) -> dict[str, Any]:
    return task(tid, image(tid), annotations=[ann(tid, [kp(10, 10)], updated=stamp)])


def engine_for(root: Path, state: str = "state") -> Engine:
    config = parse_config(
        {
            "paths": {"export_dir": "exports", "state_dir": state, "eval_set": "/no/eval"},
            "gates": {"initial_corpus_episodes": 10},
        },
        base=root,
    )
    return Engine(config)


def frames_by_id(engine: Engine) -> dict[int, str]:
    rows = engine.store.frames().select("task_id", "status").iter_rows()
    return dict(sorted(rows))


# ------------------------------------------------------------------ the reported bugs


def test_same_bytes_back_under_a_new_name_after_the_first_was_removed(tmp_path: Path) -> None:
    """`cp X A.json; rm A.json; cp X B.json`: B's bytes were known by A's digest, whose
    record had left (the twin lookup raised StopIteration). They are read as new versions."""
    exports = tmp_path / "exports"
    body = [reviewed(1, DAY1), reviewed(2, DAY1)]
    store = FrameStore(tmp_path / "state", CONFIG)
    first = write_export(exports, "A.json", body, mtime=1_000)
    assert store.ingest(first).outcome == "ingested"
    first.unlink()
    removed = store.remove(first)
    assert removed is not None and removed.outcome == "removed"
    assert store.frames().is_empty()  # A's frames left with it
    second = write_export(exports, "B.json", body, mtime=1_100)
    result = store.ingest(second)
    assert (result.outcome, result.frames, result.new_frames) == ("ingested", 2, 2)
    assert set(store.frames()["arrival_name"]) == {"B.json"}  # newly arrived
    # `mv B.json C.json`: the same again
    renamed = exports / "C.json"
    second.rename(renamed)
    results = store.apply(Batch(changed=(renamed,), removed=(second,)))
    assert [r.outcome for r in results] == ["ingested", "removed"]
    assert set(store.frames()["arrival_name"]) == {"C.json"}
    assert store.frames().height == 2


def test_a_duplicate_takes_over_when_its_twin_is_removed(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    body = [reviewed(1, DAY1)]
    engine = engine_for(tmp_path)
    write_export(exports, "A.json", body, mtime=1_000)
    write_export(exports, "B.json", body, mtime=1_100)
    assert [r.outcome for r in engine.scan()] == ["ingested", "duplicate"]
    (exports / "A.json").unlink()
    outcomes = sorted(r.outcome for r in engine.scan())
    assert outcomes == ["ingested", "removed"]  # B read, A gone
    assert frames_by_id(engine) == {1: "reviewed"}
    assert set(engine.store.frames()["arrival_name"]) == {"B.json"}


def test_a_removed_export_leaves_the_figures(tmp_path: Path) -> None:
    """F holds frame 1 reviewed on day 2 and frame 2; G holds frame 1 not yet reviewed (open) and
    frame 3. Both: frames 1 (F's, reviewed), 2, 3. F removed: frame 1 falls back to G's
    version (not reviewed), frame 2 leaves (no file holds it)."""
    exports = tmp_path / "exports"
    write_export(exports, "G.json", [task(1, image(1)), reviewed(3, DAY1)], mtime=1_000)
    write_export(exports, "F.json", [reviewed(1, DAY2), reviewed(2, DAY1)], mtime=1_100)
    engine = engine_for(tmp_path)
    engine.scan()
    assert frames_by_id(engine) == {1: "reviewed", 2: "reviewed", 3: "reviewed"}
    (exports / "F.json").unlink()
    [result] = engine.scan()
    assert result.outcome == "removed" and "F.json" in result.message
    assert (result.removed_frames, result.changed_frames) == (1, 2)  # 2 gone, 1 changed
    assert frames_by_id(engine) == {1: "open", 3: "reviewed"}
    # the state saved agrees, and so does a fresh read of the folder
    assert frames_by_id(engine_for(tmp_path)) == {1: "open", 3: "reviewed"}
    fresh = engine_for(tmp_path, "fresh")
    fresh.scan()
    assert frames_by_id(fresh) == frames_by_id(engine)


def test_an_older_snapshot_removed_changes_nothing_and_reads_nothing(tmp_path: Path) -> None:
    """Rotation: a snapshot superseded by a later one holds no version in use: its removal
    is counted and nothing is read again."""
    exports = tmp_path / "exports"
    write_export(exports, "old.json", [task(1, image(1))], mtime=1_000)
    write_export(exports, "new.json", [reviewed(1, DAY1)], mtime=1_100)
    engine = engine_for(tmp_path)
    engine.scan()
    read: list[str] = []
    (exports / "old.json").unlink()
    [result] = engine.scan(on_file=lambda name, i, n: read.append(name))
    assert (result.outcome, result.changed_frames) == ("removed", 0)
    assert read == []
    assert frames_by_id(engine) == {1: "reviewed"}


def test_a_stale_refusal_goes_when_the_file_is_fixed_or_removed(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    engine = engine_for(tmp_path)
    bad = exports / "A.json"
    exports.mkdir()
    bad.write_text("[{", encoding="utf-8")
    engine.scan()
    assert list(engine.store.refused()) == [str(bad)]
    write_export(exports, "A.json", [reviewed(1, DAY1)], mtime=1_000)  # fixed
    engine.scan()
    assert engine.store.refused() == {}
    bad.write_text("[{", encoding="utf-8")
    engine.scan()
    bad.unlink()
    engine.scan()
    assert engine.store.refused() == {} and str(bad) not in engine.store.registry()
    assert engine.store.frames().is_empty()  # its good version left with it


def test_the_prediction_index_follows_removal(tmp_path: Path) -> None:
    """§3: a prediction only seen in a removed file leaves the index. The annotation file of
    frame 1 names prediction 7 by id; the snapshot S holds 7's object (model m2). With S:
    release m2; S removed: the source is known by id only, release unknown."""
    exports = tmp_path / "exports"
    annotation_file(exports, 11, [kp(10, 10)], parent=7, updated=DAY1, mtime=1_000)
    p7 = pred(7, [kp(10, 10)], version="m2")
    write_export(exports, "S.json", [task(1, image(1), predictions=[p7])], mtime=1_100)
    engine = engine_for(tmp_path)
    engine.scan()
    row = engine.store.frames().row(0, named=True)
    assert (row["status"], row["release"]) == ("reviewed", "m2")
    (exports / "S.json").unlink()
    engine.scan()
    row = engine.store.frames().row(0, named=True)
    assert (row["status"], row["release"], row["has_source"]) == ("reviewed", None, True)
    fresh = engine_for(tmp_path, "fresh")
    fresh.scan()
    assert (
        fresh.store.frames()
        .drop("arrival_mtime_ns")
        .equals(engine.store.frames().drop("arrival_mtime_ns"))
    )


def test_a_listing_leaves_with_the_file_that_listed_it(tmp_path: Path) -> None:
    """E lists prediction 7 (m1) in task 1's predictions. F, later, holds task 1 reviewed
    from scratch as far as F shows (no parent, no prediction objects: rule 4 asks the index)
    and a copy of 7 inline in task 2 (7's content now comes from F, unlisted). With E, task 1's
    source is 7 (listed by E): release m1. E removed: no file lists a prediction for task 1,
    so it has no source and no release, as a fresh read of F alone gives."""
    exports = tmp_path / "exports"
    p7 = pred(7, [kp(10, 10)], version="m1")
    write_export(exports, "E.json", [task(1, image(1), predictions=[p7])], mtime=1_000)
    inline = ann(2, [kp(10, 10)], parent=7, inline=p7, updated=DAY1)
    write_export(
        exports,
        "F.json",
        [reviewed(1, DAY2), task(2, image(2), annotations=[inline])],
        mtime=1_100,
    )
    engine = engine_for(tmp_path)
    engine.scan()
    first = engine.store.frames().filter(pl.col("task_id") == 1).row(0, named=True)
    assert (first["status"], first["has_source"], first["release"]) == ("reviewed", True, "m1")
    (exports / "E.json").unlink()
    engine.scan()
    first = engine.store.frames().filter(pl.col("task_id") == 1).row(0, named=True)
    assert (first["status"], first["has_source"], first["release"]) == ("reviewed", False, None)


def test_a_frame_pending_in_both_its_exported_and_its_storage_version(tmp_path: Path) -> None:
    """Found by the property below. Annotation file 20 (frame 1, day 2, from prediction 7 by
    id), then s0 (frame 1 reviewed on day 1 with no source named: pending by task), then s1
    (prediction 7's object, m2). Frame 1's storage version wins (day 2) and waits for 7: its
    pending row must survive s0's, which belongs to the other table's version of frame 1."""
    exports = tmp_path / "exports"
    engine = engine_for(tmp_path)
    annotation_file(exports, 20, [kp(10, 10)], task_id=1, parent=7, updated=DAY2, mtime=1_010)
    engine.scan()
    write_export(exports, "s0.json", [reviewed(1, DAY1)], mtime=1_020)
    engine.scan()
    p7 = pred(7, [kp(10, 10)], version="m2")
    write_export(exports, "s1.json", [task(1, image(1), predictions=[p7])], mtime=1_030)
    engine.scan()
    row = engine.store.frames().row(0, named=True)
    assert (row["arrival_name"], row["release"], row["corrected"]) == ("20", "m2", False)


# ------------------------------------------------------------------ property


POOL = [
    [reviewed(1, DAY1), task(2, image(2))],
    [reviewed(1, DAY2), reviewed(2, DAY1)],
    [task(1, image(1), predictions=[pred(7, [kp(10, 10)], version="m2")]), reviewed(3, DAY1)],
    [reviewed(3, DAY2)],
    [
        reviewed(1, DAY2),
        task(2, image(2), annotations=[ann(2, [kp(10, 10)], parent=7, inline=pred(7, [kp(9, 9)]))]),
    ],
]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 3), st.integers(0, len(POOL) - 1)),
        st.tuples(st.just("annotation"), st.integers(0, 3), st.integers(1, 3)),
        st.tuples(st.just("remove"), st.integers(0, 7), st.just(0)),
        st.tuples(st.just("rename"), st.integers(0, 7), st.integers(0, 3)),
        st.tuples(st.just("copy"), st.integers(0, 7), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=8,
)


def figures(engine: Engine) -> tuple[Any, ...]:
    frames = engine.store.frames().sort(FRAME_KEY).drop("arrival_mtime_ns")
    report = json.loads(engine.evaluate().model_dump_json())
    return frames.rows(), report


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps)
def test_an_incremental_read_equals_a_fresh_read(tmp_path_factory: Any, plan: Any) -> None:
    """Random writes, annotation saves, removals, renames and copies, each followed by an
    incremental `check`: the state equals a fresh read of the folder as it is then."""
    root = tmp_path_factory.mktemp("removal")
    exports = root / "exports"
    exports.mkdir()
    engine = engine_for(root)
    clock = 1_000
    for round_, (op, a, b) in enumerate(plan):
        clock += 10
        present = sorted(exports.iterdir())
        if op == "write":
            write_export(exports, f"s{a}.json", POOL[b], mtime=clock)
        elif op == "annotation":
            stamp = DAY1 if a % 2 else DAY2
            path = annotation_file(
                exports, 20 + a, [kp(10 + a, 10)], task_id=b, parent=7, updated=stamp, mtime=clock
            )
            assert path.exists()
        elif present:
            source = present[a % len(present)]
            target = exports / (f"c{b}.json" if source.suffix else f"{30 + b}")
            if op == "remove":
                source.unlink()
            elif op == "rename" and source != target:
                source.rename(target)
            elif op == "copy" and source != target:
                shutil.copyfile(source, target)
                os.utime(target, (clock, clock))
        engine.scan()
        fresh = engine_for(root, f"fresh{round_}")
        fresh.scan()
        assert figures(engine) == figures(fresh), (round_, op, a, b)
        shutil.rmtree(root / f"fresh{round_}", ignore_errors=True)
