"""CI smoke of the benchmark harness at a tiny size: it runs end to end and the engine's
figures equal the stdlib baseline's on every workload. Timings are recorded, never asserted."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main


def test_harness_tiny(tmp_path: Path) -> None:
    assert main(["--size", "tiny", "--runs", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results-tiny.json").read_text(encoding="utf-8"))
    assert {c["shape"] for c in results["cold"]} == {"snapshot", "community"}
    for cold in results["cold"]:
        assert cold["figures_agree"], cold["problems"]  # bench.floor's figures included
        assert cold["floor_s"] > 0
    assert [r["exports_ingested"] for r in results["recompute"]] == [1, 3]
    assert all(r["frames"] > 0 for r in results["recompute"])
    assert (tmp_path / "results-tiny.md").exists()
