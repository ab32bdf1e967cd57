"""CI smoke of the benchmark harness at a tiny size: it runs end to end and the engine's
figures equal the stdlib baseline's on every workload. Timings are recorded, never asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.__main__ import main
from bench.harness import run_process


def test_harness_tiny(tmp_path: Path) -> None:
    assert main(["--size", "tiny", "--runs", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results-tiny.json").read_text(encoding="utf-8"))
    assert {c["shape"] for c in results["cold"]} == {"snapshot", "community"}
    for cold in results["cold"]:
        assert cold["figures_agree"], cold["problems"]
        assert cold["check_s"] > 0
    assert [r["exports_ingested"] for r in results["recompute"]] == [1, 3]
    assert all(r["frames"] > 0 for r in results["recompute"])
    assert (tmp_path / "results-tiny.md").exists()


def test_storage_bench_tiny(tmp_path: Path) -> None:
    """bench/storage.py end to end at a tiny size: the per-annotation folder gives the figures
    of the one export holding the same tasks, and every workload ran."""
    from bench.storage import report_md, run

    results = run([20, 60], 1, tmp_path, log=lambda _m: None)
    assert results["figures_agree"]
    assert set(results["cold"]) == {"files-20", "files-60", "export-60"}
    assert results["noop_s"] > 0 and results["one_new_s"] > 0
    assert "files-60 / export-60" in report_md(results)


def test_a_process_reports_its_own_peak_rss_however_large_the_harness_grew() -> None:
    """Linux carries the exec'ing process's high-water RSS into the new program's ru_maxrss;
    the harness had grown to ~470 MB and every cold check after that "peaked" there."""
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # touch every page
    proc = run_process([sys.executable, "-c", "print('small')"])
    assert proc.stdout == b"small\n" and proc.returncode == 0
    assert proc.rss < 150 * 2**20
    del ballast
