"""The read path in-process: hostile exports refused with a plain reason naming the task, reads
in chunks, pages given back, and what an ingest says changed."""

from __future__ import annotations

import json
import mmap
import sys
from pathlib import Path
from typing import Any

import pytest

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.labelstudio.export import (
    CHUNK,
    parse_export,
    parsed,
    read_columns,
    read_file,
    read_releasable,
)
from retrain_gate.loader import KnownContent, load_export
from retrain_gate.store import FrameStore
from tests.lsbuild import ann, kp, pred, task, write_export
from tests.readkit import load

# ---------------------------------------------------------------- hostile exports, in-process

CONFIG = Config()


def refusal(tmp_path: Path, tasks: Any, config: Config = CONFIG) -> str:
    path = write_export(tmp_path, "project-1-at-x.json", tasks, mtime=1)
    with pytest.raises(ExportRefused) as caught:
        load(path, config)
    return caught.value.reason


def test_an_id_beyond_64_bits_is_refused_naming_the_task(tmp_path: Path) -> None:
    reason = refusal(tmp_path, [task(1), task(2**64 + 5)])
    assert "task #2 in the file" in reason and "64 bits" in reason
    reason = refusal(tmp_path, [task(1, project=-(2**63) - 1)])
    assert "task #1 in the file" in reason and "64 bits" in reason


def test_a_number_that_overflows_a_float_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "project-1-at-y.json"
    good = task(1, predictions=[pred(1, [kp(1, 2)])], annotations=[ann(1, [kp(1, 2)], parent=1)])
    text = json.dumps([good]).replace('"x": 1', '"x": 1000000000e300', 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExportRefused) as caught:
        load(path, CONFIG)
    assert "task #1 in the file" in caught.value.reason
    assert "out of range" in caught.value.reason


def test_a_read_past_its_time_limit_is_refused_with_that_reason(tmp_path: Path) -> None:
    slow = Config.model_validate({"limits": {"max_read_seconds": 1e-9}})
    reason = refusal(tmp_path, [task(i) for i in range(CHUNK + 1)], slow)
    assert "max_read_seconds" in reason and f"of {CHUNK + 1:,} tasks" in reason


def test_a_large_file_is_read_in_chunks_with_the_same_frames(tmp_path: Path) -> None:
    """Tasks across chunk boundaries, one repeated in another chunk: one frame each, the
    later stamp wins (§1 within one file)."""
    tasks = [task(i, f"/d/?d=e/pick/ep{i // 10}/f{i}.jpg") for i in range(2 * CHUNK + 3)]
    tasks.append(task(5, "/d/?d=e/pick/ep0/f5.jpg", updated="2026-06-01T00:00:00Z"))
    path = write_export(tmp_path, "project-1-at-z.json", tasks, mtime=1)
    parsed = load(path, CONFIG)
    assert parsed.tasks == 2 * CHUNK + 4 and parsed.duplicate_ids == 1
    assert parsed.frames.height == 2 * CHUNK + 3
    row = parsed.frames.filter(parsed.frames["task_id"] == 5)
    assert row["stamp"].to_list() == ["2026-06-01T00:00:00Z"]


def test_a_read_gives_back_the_pages_of_the_tasks_it_has_read(tmp_path: Path) -> None:
    """The loader's read: the same tables as a plain read, whatever the whitespace between
    tasks, and the first tasks' pages given back (zeros) once read."""
    tasks = [
        task(
            i,
            f"/d/?d=e/pick/ep{i // 10}/f{i}.jpg",
            predictions=[pred(i, [kp(i % 7, 1)], version="m1")],
            annotations=[ann(i, [kp(i % 7 + (i % 3), 1)], parent=i)],
        )
        for i in range(2 * CHUNK + 3)
    ]
    for name, text in [
        ("project-1-at-a.json", json.dumps(tasks, indent=2)),
        ("project-1-at-b.json", "[ " + " ,\n\t".join(json.dumps(t) for t in tasks) + "\n]\n"),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        plain_raw, plain_mtime_ns = read_file(path, CONFIG)  # a storage task file's read
        plain = parse_export(plain_raw, path, CONFIG, mtime_ns=plain_mtime_ns)
        raw, mtime_ns = read_releasable(path, CONFIG)
        columns = read_columns(raw, path, CONFIG)
        released = parsed(path, columns, CONFIG, (mtime_ns, path.name))
        assert plain.frames.equals(released.frames)
        assert plain.pending.equals(released.pending)
        assert plain.predictions.equals(released.predictions)
        assert plain.frames["corrected"].sum() == len([i for i in range(len(tasks)) if i % 3])
        if sys.platform == "linux":  # where given-back private pages read as zeros
            assert isinstance(raw, mmap.mmap)
            assert raw[: mmap.PAGESIZE] == bytes(mmap.PAGESIZE), name


def test_a_bad_task_after_the_first_chunk_is_named(tmp_path: Path) -> None:
    """Named by its place in the file, never "not valid JSON" (the first tasks' pages are
    already given back when it is reached)."""
    for bad, words in [
        ({"annotations": [{"id": 1, "result": "not a list"}]}, "must be a list of regions"),
        ({"id": "seven"}, "Expected `int`, got `str`"),
    ]:
        tasks: list[Any] = [task(i) for i in range(CHUNK + 5)]
        tasks[CHUNK + 2].update(bad)
        path = write_export(tmp_path, "project-1-at-c.json", tasks, mtime=1)
        loaded = load_export(path, CONFIG, path.stat().st_size, 1, KnownContent(frozenset()))
        assert loaded.parsed is None and loaded.refusal is not None
        assert f"task #{CHUNK + 3} in the file" in loaded.refusal, loaded.refusal
        assert words in loaded.refusal, loaded.refusal


# ---------------------------------------------------------------- what an ingest says changed


def test_an_ingest_counts_frames_whose_content_changed(tmp_path: Path) -> None:
    store = FrameStore(tmp_path / "state", CONFIG)
    exports = tmp_path / "exports"
    day1 = [task(i, updated="2026-01-01T00:00:00Z") for i in range(1, 11)]
    first = store.ingest(write_export(exports, "a.json", day1, mtime=1))
    assert (first.frames, first.new_frames, first.changed_frames) == (10, 10, 0)
    assert "10 frames, 10 new, 0 changed" in first.message
    # The next daily snapshot: the same 10 (one re-labeled later), and 2 more.
    day2 = [*day1[:9], task(10, annotations=[ann(10, [kp(1, 1)])], updated="2026-01-02")]
    day2 += [task(11), task(12)]
    second = store.ingest(write_export(exports, "b.json", day2, mtime=2))
    assert (second.frames, second.new_frames, second.changed_frames) == (12, 2, 1)
    # The same content again, written differently (another order): nothing changed.
    third = store.ingest(write_export(exports, "c.json", list(reversed(day2)), mtime=3))
    assert third.outcome == "ingested"
    assert (third.new_frames, third.changed_frames) == (0, 0)
    assert "1 frame," not in third.message and "12 frames, 0 new, 0 changed" in third.message
