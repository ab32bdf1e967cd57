"""Parsing in a worker process gives exactly what parsing in-process gives."""

from __future__ import annotations

import shutil
from pathlib import Path

from retrain_gate.config import Config
from retrain_gate.engine import Engine
from retrain_gate.loader import IsolatedLoader, KnownContent, load_export

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


def test_a_worker_that_dies_costs_one_file_and_is_replaced(tmp_path: Path) -> None:
    loader = IsolatedLoader()
    try:
        loader.warm()
        pool = loader._executor()
        for process in list(pool._processes.values()):  # what an OOM kill would do
            process.kill()
            process.join()
        path = tmp_path / "a.json"
        path.write_text('[{"id": 1, "data": {"image": "e/p/ep/f.jpg"}}]', encoding="utf-8")
        known = KnownContent(frozenset(), frozenset())
        st = path.stat()
        first = loader(path, Config(), st.st_size, st.st_mtime_ns, known)
        assert first.refusal is not None and "died" in first.refusal
        again = loader(path, Config(), st.st_size, st.st_mtime_ns, known)
        assert again.refusal is None and again.parsed is not None
        assert again.parsed.frames.equals(
            load_export(path, Config(), st.st_size, st.st_mtime_ns, known).parsed.frames  # type: ignore[union-attr]
        )
    finally:
        loader.close()
