"""Parsing in a worker process gives exactly what parsing in-process gives."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

from retrain_gate.config import Config
from retrain_gate.engine import Engine
from retrain_gate.loader import IsolatedLoader, KnownContent, load_export
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]


def demo_engine(folder: Path, *, isolated: bool) -> Engine:
    shutil.copytree(REPO / "fixtures" / "demo" / "exports", folder / "exports")
    config = Config.model_validate(
        {"paths": {"export_dir": "exports", "state_dir": "state", "eval_set": "/none"}}
    ).resolved(folder)
    return Engine(config, isolated=isolated)


def test_isolated_engine_gives_the_same_figures(tmp_path: Path) -> None:
    local = demo_engine(tmp_path / "local", isolated=False)
    isolated = demo_engine(tmp_path / "isolated", isolated=True)
    try:
        local_results = [r.outcome for r in local.scan()]
        isolated_results = [r.outcome for r in isolated.scan()]
        assert local_results == isolated_results == ["ingested"] * 5
        assert isolated.evaluate() == local.evaluate()
        # the same content under another name is recognised across the process boundary
        exports = isolated.config.paths.export_dir
        first = sorted(exports.iterdir())[0]
        shutil.copy(first, exports / "copy.json")
        assert isolated.ingest(exports / "copy.json").outcome == "duplicate"
        (exports / "bad.json").write_text("[{", encoding="utf-8")
        refused = isolated.ingest(exports / "bad.json")
        assert refused.outcome == "refused" and "truncated" in refused.reason
    finally:
        isolated.close()


def test_an_idle_worker_that_died_is_replaced(tmp_path: Path) -> None:
    loader = IsolatedLoader()
    try:
        loader.warm()
        pid = loader.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # what an OOM kill would do
        wait_for(lambda: loader.worker_pid is None, what="the worker to die")
        path, known, st = one_file(tmp_path)
        again = loader(path, Config(), st.st_size, st.st_mtime_ns, known)
        assert again.refusal is None and again.parsed is not None
        assert loader.worker_pid not in (None, pid)  # a new worker
        local = load_export(path, Config(), st.st_size, st.st_mtime_ns, known).parsed
        assert local is not None and again.parsed.frames.equals(local.frames)
    finally:
        loader.close()


def test_a_worker_dying_mid_file_costs_that_file_only(tmp_path: Path) -> None:
    # The first worker reads the request's header and dies, as an OOM kill mid-read would;
    # the next one is the real worker.
    marker = tmp_path / "died-once"
    script = (
        "import pathlib, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch(); sys.stdin.buffer.read(8); sys.exit(9)\n"
        "from retrain_gate.loader import serve\n"
        "serve()\n"
    )
    loader = IsolatedLoader([sys.executable, "-c", script])
    try:
        path, known, st = one_file(tmp_path)
        first = loader(path, Config(), st.st_size, st.st_mtime_ns, known)
        assert first.refusal is not None and "died" in first.refusal
        second = loader(path, Config(), st.st_size, st.st_mtime_ns, known)
        assert second.refusal is None and second.parsed is not None
    finally:
        loader.close()


def one_file(folder: Path) -> tuple[Path, KnownContent, os.stat_result]:
    path = folder / "a.json"
    path.write_text('[{"id": 1, "data": {"image": "e/p/ep/f.jpg"}}]', encoding="utf-8")
    return path, KnownContent(frozenset()), path.stat()


def test_the_worker_yields_the_cores_to_the_dashboard(tmp_path: Path) -> None:
    loader = IsolatedLoader()
    try:
        path, known, st = one_file(tmp_path)
        assert loader(path, Config(), st.st_size, st.st_mtime_ns, known).parsed is not None
        pid = loader.worker_pid
        assert pid is not None
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + 10)
    finally:
        loader.close()
