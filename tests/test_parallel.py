"""The two-process read of a large export (parallel.py) gives exactly what one process gives.

Files here are small; `MIN_BYTES` is lowered so the real fork, the real split and the real
pipe run on them. Each test compares with the ordinary in-process read of the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

from bench import workloads
from retrain_gate import parallel
from retrain_gate.config import Config
from retrain_gate.exports import ExportSource, decode_tasks, read_bytes, task_columns
from retrain_gate.loader import KnownContent, Loaded, load_export
from tests.lsbuild import ann, kp, pred, task, write_export

ROOT = Path(__file__).resolve().parents[1]
LS_REAL = ROOT / "tests" / "data" / "ls_real"
CONFIG = Config()
NOTHING_KNOWN = KnownContent(frozenset())


@pytest.fixture(autouse=True)
def small_files_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    # A thread another test left behind must not quietly turn these into one-process reads
    # (the child here only decodes, hashes and writes a pipe: no lock another thread holds).
    monkeypatch.setattr(parallel, "available", lambda: sys.platform == "linux")


def generated(folder: Path, shape: str, seed: int = 5) -> Path:
    gen = workloads.generator()
    params = dataclasses.replace(gen.Params(), frames=600, days=1, seed=seed)
    gen.generate(params, folder, shape)
    (path,) = sorted(folder.glob("*.json"))
    return path


def in_one_process(path: Path, config: Config, monkeypatch: pytest.MonkeyPatch) -> Loaded:
    with monkeypatch.context() as patch:
        patch.setattr(parallel, "available", lambda: False)
        return load_export(path, config, 0, 0, NOTHING_KNOWN)


def assert_same(path: Path, config: Config, monkeypatch: pytest.MonkeyPatch) -> Loaded:
    two = load_export(path, config, 0, 0, NOTHING_KNOWN)
    one = in_one_process(path, config, monkeypatch)
    assert (two.refusal, two.digest, two.size) == (one.refusal, one.digest, one.size)
    if one.parsed is not None:
        assert two.parsed is not None
        assert_frame_equal(two.parsed.frames, one.parsed.frames)
        assert (two.parsed.tasks, two.parsed.duplicate_ids) == (
            one.parsed.tasks,
            one.parsed.duplicate_ids,
        )
    return two


@pytest.mark.parametrize("shape", ["snapshot", "community"])
def test_halves_are_the_whole_file(tmp_path: Path, shape: str) -> None:
    path = generated(tmp_path / "exports", shape)
    raw, _mtime = read_bytes(path, CONFIG)
    before = bytes(raw)
    halves = parallel.read_in_two(raw, CONFIG, want_digest=True)
    assert halves is not None, "the two-process path did not run"
    assert bytes(raw) == before  # the boundary's comma is put back
    whole = decode_tasks(before, path, CONFIG)
    assert halves.tasks == len(whole)
    assert halves.columns == task_columns(whole, CONFIG)
    assert halves.digest() == hashlib.sha256(before).hexdigest()


@pytest.mark.parametrize("shape", ["snapshot", "community"])
@pytest.mark.parametrize("frames_field", [None, "n_frames"])
def test_load_export_gives_the_same_frames(
    tmp_path: Path, shape: str, frames_field: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = generated(tmp_path / "exports", shape)
    config = Config.model_validate({"episodes": {"frames_field": frames_field}})
    assert_same(path, config, monkeypatch)


@pytest.mark.parametrize("name", sorted(p.name for p in LS_REAL.glob("*export*.json")))
def test_real_label_studio_exports(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(LS_REAL / name, tmp_path / name)
    raw, _ = read_bytes(tmp_path / name, CONFIG)
    if raw[:1] == b"[" and len(json.loads(raw)) > 1:
        assert parallel.read_in_two(raw, CONFIG, want_digest=True) is not None
    assert_same(tmp_path / name, CONFIG, monkeypatch)


def nested_task_shapes(folder: Path) -> Path:
    """Every task carries a list of task-shaped objects: boundaries that are not between
    top-level tasks look like ones until the first half fails to decode."""
    tasks = []
    for tid in range(1, 41):
        t = task(
            tid,
            f"/data/local-files/?d=ep/pick/ep{tid % 4}/f{tid}.jpg",
            predictions=[pred(tid, [kp(1, 1)])],
            annotations=[ann(tid, [kp(1, 1, origin="prediction")], parent=tid)],
        )
        t["data"]["history"] = [{"id": n, "data": {"image": "x"}} for n in range(30)]
        tasks.append(t)
    return write_export(folder, "nested.json", tasks, mtime=100)


def test_task_shaped_objects_inside_tasks_fall_back_to_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = nested_task_shapes(tmp_path)
    raw, _ = read_bytes(path, CONFIG)
    before = bytes(raw)
    # Wherever the split lands, the answer is the whole file's or None, never a wrong one.
    for share in (0.1, 0.3, 0.5, 0.7, 0.9):
        monkeypatch.setattr(parallel, "OWN_SHARE", share)
        halves = parallel.read_in_two(raw, CONFIG, want_digest=False)
        assert bytes(raw) == before
        if halves is not None:
            halves.close()
            assert halves.columns == task_columns(decode_tasks(before, path, CONFIG), CONFIG)
        assert_same(path, CONFIG, monkeypatch)


def test_a_broken_task_in_the_childs_half_gets_the_ordinary_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks: list[dict[str, Any]] = [
        task(tid, f"/d/?d=e/pick/ep1/f{tid}.jpg", annotations=[ann(tid, [kp(1, 1)])])
        for tid in range(1, 61)
    ]
    tasks[55]["annotations"][0]["result"] = {"not": "a list"}  # in the second half
    path = write_export(tmp_path, "broken.json", tasks, mtime=100)
    loaded = assert_same(path, CONFIG, monkeypatch)
    assert loaded.refusal is not None and "task #56" in loaded.refusal


def test_a_child_that_dies_costs_only_the_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = generated(tmp_path / "exports", "community")
    real_columns_of, parent = parallel.columns_of, os.getpid()

    def dying_in_the_child(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() != parent:
            os._exit(9)  # as if killed while reading its half
        return real_columns_of(*args, **kwargs)

    monkeypatch.setattr(parallel, "columns_of", dying_in_the_child)
    raw, _ = read_bytes(path, CONFIG)
    assert parallel.read_in_two(raw, CONFIG, want_digest=True) is None
    assert_same(path, CONFIG, monkeypatch)


def test_a_child_that_dies_while_hashing_costs_only_the_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = generated(tmp_path / "exports", "snapshot")
    parent, real_sha256 = os.getpid(), hashlib.sha256

    def dying_in_the_child(data: Any = b"") -> Any:
        if os.getpid() != parent:
            os._exit(9)  # after its columns were sent
        return real_sha256(data)

    monkeypatch.setattr(parallel.hashlib, "sha256", dying_in_the_child)
    raw, _ = read_bytes(path, CONFIG)
    halves = parallel.read_in_two(raw, CONFIG, want_digest=True)
    assert halves is not None and halves.columns  # the columns had come back
    assert halves.digest() is None
    loaded = assert_same(path, CONFIG, monkeypatch)
    assert loaded.digest == real_sha256(path.read_bytes()).hexdigest()


def test_each_process_reads_its_own_part_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = generated(tmp_path / "exports", "community")
    size = path.stat().st_size
    monkeypatch.setattr(parallel, "SEARCH_BYTES", 64 * 1024)  # a window well inside the file
    parent, real_fill, real_read_all = os.getpid(), ExportSource.fill, ExportSource.read_all
    ends: list[int] = []
    whole_reads: list[int] = []

    def recorded_fill(self: ExportSource, end: int) -> bool:
        if os.getpid() == parent:  # what the child records is lost with it
            ends.append(end)
        return real_fill(self, end)

    def recorded_read_all(self: ExportSource) -> bytearray:
        whole_reads.append(1)
        return real_read_all(self)

    monkeypatch.setattr(ExportSource, "fill", recorded_fill)
    monkeypatch.setattr(ExportSource, "read_all", recorded_read_all)
    loaded = load_export(path, CONFIG, 0, 0, NOTHING_KNOWN)
    # This process read up to its boundary window only, and never the whole file: the rest,
    # and so the hash, came from the child.
    assert ends == [int(size * parallel.OWN_SHARE) + 2 * parallel.SEARCH_BYTES] and ends[0] < size
    assert whole_reads == []
    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(ExportSource, "fill", real_fill)
    monkeypatch.setattr(ExportSource, "read_all", real_read_all)
    one = in_one_process(path, CONFIG, monkeypatch)
    assert loaded.parsed is not None and one.parsed is not None
    assert_frame_equal(loaded.parsed.frames, one.parsed.frames)


def test_a_file_that_grows_while_the_child_reads_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = generated(tmp_path / "exports", "snapshot")
    real_fill, parent = ExportSource.fill, os.getpid()

    def appended_first(self: ExportSource, end: int) -> bool:
        if os.getpid() != parent:
            with path.open("ab") as handle:  # a writer still appending to the export
                handle.write(b"  ")
        return real_fill(self, end)

    monkeypatch.setattr(ExportSource, "fill", appended_first)
    loaded = load_export(path, CONFIG, 0, 0, NOTHING_KNOWN)
    monkeypatch.setattr(ExportSource, "fill", real_fill)
    # The ordinary read of the file as it is now: trailing spaces are still a valid export.
    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.size == path.stat().st_size
    assert_same(path, CONFIG, monkeypatch)


def test_fill_reads_parts_and_sees_a_changed_size(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"[" + b"1," * 5000 + b"1]")
    with ExportSource(path, CONFIG) as source:
        buffer = source.buffer()
        assert source.fill(100) and buffer[:100] == path.read_bytes()[:100]
        assert source.fill(source.size) and buffer[:] == path.read_bytes()
        with path.open("ab") as handle:
            handle.write(b" ")
        assert not source.fill(source.size)  # it grew
    with ExportSource(path, CONFIG) as source:
        source.fill(10)
        path.write_bytes(b"[1]")
        assert not source.fill(source.size)  # it shrank


def test_what_is_not_a_list_of_tasks_is_read_in_one_process(tmp_path: Path) -> None:
    single = write_export(tmp_path, "one.json", task(1), mtime=100)
    raw, _ = read_bytes(single, CONFIG)
    assert parallel.read_in_two(raw, CONFIG, want_digest=True) is None
    spaced = tmp_path / "spaced.json"
    spaced.write_bytes(b"  " + (tmp_path / "one.json").read_bytes())
    raw, _ = read_bytes(spaced, CONFIG)
    assert parallel.read_in_two(raw, CONFIG, want_digest=True) is None


def test_not_used_with_other_threads_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real `available`
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    assert parallel.available() is (sys.platform == "linux")
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert parallel.available() is False
