"""`python -m bench.versus --against SRC [--size full] [--runs 5]`: this checkout's cold `check`
against another version's, in the same run.

SRC is the `src` folder of another version of the package (e.g. `git archive REV src | tar -x
-C /tmp/before`). On each ~180 MB export of the size (bench/harness.py, `SIZES[...].big`), both
versions' `check --json` run as processes on an empty state folder, alternately (the order
swaps every run, so a load that drifts during the run falls on both), and the median wall
times and peak RSS are compared. A ratio from one run is what to read: the absolute times on a
shared machine move with its load.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from bench import workloads
from bench.harness import SIZES, Proc, check_argv, run_process

# What names files, paths or times: the rest of the JSON are the figures.
_NOT_FIGURES = {"refused_files", "ignored_files", "eval", "last_approval_at"}


def figures(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in _NOT_FIGURES}


def compare(
    work: Path, export: workloads.Export, against: Path, runs: int, log: Any
) -> dict[str, Any]:
    setups = {
        "this": workloads.project(work / "versus" / f"{export.name}-this", [export.path]),
        "against": workloads.project(work / "versus" / f"{export.name}-against", [export.path]),
    }
    src = {"this": None, "against": against}
    procs: dict[str, list[Proc]] = {"this": [], "against": []}
    for run in range(runs):
        order = ("this", "against") if run % 2 == 0 else ("against", "this")
        for who in order:
            shutil.rmtree(setups[who].state_dir, ignore_errors=True)
            proc = run_process(check_argv(setups[who].config, "--json"), src=src[who])
            if proc.returncode not in (0, 1):
                raise SystemExit(f"{who}: check failed ({proc.returncode}) on {export.name}")
            procs[who].append(proc)
        log(
            f"  {export.name} run {run + 1}: this {procs['this'][-1].wall:.2f}s "
            f"against {procs['against'][-1].wall:.2f}s"
        )
    this = statistics.median(p.wall for p in procs["this"])
    other = statistics.median(p.wall for p in procs["against"])
    mine = figures(json.loads(procs["this"][0].stdout))
    theirs = figures(json.loads(procs["against"][0].stdout))
    differing = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    return {
        "export": export.name,
        "bytes": export.size,
        "this_s": this,
        "against_s": other,
        "this_over_against": this / other,
        # each run's two checks ran back to back: the median of their ratios drifts least
        "paired_ratio": statistics.median(
            a.wall / b.wall for a, b in zip(procs["this"], procs["against"], strict=True)
        ),
        "this_rss": statistics.median(p.rss for p in procs["this"]),
        "against_rss": statistics.median(p.rss for p in procs["against"]),
        "walls": {who: [p.wall for p in ps] for who, ps in procs.items()},
        "same_figures": not differing,
        "differing": differing,  # e.g. a gate's words, when the versions word it differently
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__)
    parser.add_argument("--against", type=Path, required=True, help="another version's src/")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    against = args.against.resolve()
    if not (against / "retrain_gate" / "__init__.py").is_file():
        parser.error(f"{against} holds no retrain_gate package (give the src/ folder)")
    work = args.out.resolve() / "work"
    rows = []
    for shape, frames in SIZES[args.size].big.items():
        export = workloads.export(work, shape, frames)
        rows.append(compare(work, export, against, args.runs, lambda m: print(m, flush=True)))
    (args.out / f"versus-{args.size}.json").write_text(json.dumps(rows, indent=2))
    print(f"\nthis checkout against {against}, medians of {args.runs}\n")
    print(
        "| export | this (s) | against (s) | this / against | median of the runs' ratios "
        "| peak RSS this / against (MB) | figures that differ |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        differing = ", ".join(r["differing"]) or "none"
        print(
            f"| {r['export']} ({r['bytes'] / 1e6:.0f} MB) | {r['this_s']:.2f} | "
            f"{r['against_s']:.2f} | {r['this_over_against']:.2f} | {r['paired_ratio']:.2f} | "
            f"{r['this_rss'] / 1e6:.0f} / {r['against_rss'] / 1e6:.0f} | {differing} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
