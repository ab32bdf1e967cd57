"""Issue 22.6: a huge extension-less storage file. It is read by the same loader as exports
(in the worker process under `watch`), refused by name before it is read when decoding its one
task cannot fit in the memory free now, and a Rust panic in the reader costs that one file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from polars.exceptions import PanicException

from retrain_gate.loader import SINGLE_TASK_EXPANSION, available_memory, refusal_of
from tests.lsbuild import ann, kp, task, write_export
from tests.waiting import wait_for
from tests.watchkit import Watch, check


def huge_sparse_file(path: Path) -> int:
    """A file whose one task would need more memory than is free (sparse: no disk used)."""
    available = available_memory()
    assert available is not None, "this test reads /proc/meminfo (Linux)"
    size = available // SINGLE_TASK_EXPANSION + 2**30
    with path.open("wb") as handle:
        handle.truncate(size)
    return size


def configure(folder: Path, max_export_mb: int) -> None:
    config = folder / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text + f"[limits]\nmax_export_mb = {max_export_mb}\n", encoding="utf-8")


def test_a_storage_file_that_cannot_fit_is_refused_by_name_under_watch(folder: Path) -> None:
    exports = folder / "exports"
    huge = exports / "99"
    size = huge_sparse_file(huge)
    configure(folder, size // 2**20 + 10)  # the size limit alone would let it through
    watch = Watch(folder)
    try:
        wait_for(lambda: "refused" in watch.text() and "/99: one task of" in watch.text())
        assert "more than the" in watch.text() and "GB free" in watch.text()
        # it keeps watching: a later export is ingested
        image = "/data/local-files/?d=eps/pick/e1/f1.jpg"
        write_export(
            exports,
            "later.json",
            [task(1, image, annotations=[ann(1, [kp(1, 1)])])],
            mtime=int(os.path.getmtime(huge)) + 10,
        )
        wait_for(lambda: "later.json: 1 frame" in watch.text(), timeout=20)
        assert "Traceback" not in watch.text() and watch.proc.poll() is None
    finally:
        watch.stop()
    data = check(folder)
    assert data["frames"]["total"] == 1
    assert "one task of" in data["refused_files"][str(huge)]


def test_a_rust_panic_is_named_and_costs_one_file() -> None:
    """pyo3's PanicException is a BaseException: caught by name, said in one line."""
    reason = refusal_of(PanicException("index out of bounds"), "file")
    assert reason.startswith("the reader crashed on this file (PanicException: index out")
    assert "could not read this export (ValueError('x'))" in refusal_of(ValueError("x"), "export")
    with pytest.raises(KeyboardInterrupt):  # anything else still stops the program
        refusal_of(KeyboardInterrupt(), "file")
