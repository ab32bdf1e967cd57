"""A cold-check comparison on exports nobody tuned against: `python -m bench.heldout`.

The harness's workloads use seed 1, and every speed decision was measured on them. This
generates ~180 MB exports of both shapes with another seed (default 11), then alternates, per
export, a cold `retrain-gate check --json` (empty state) and the stdlib baseline
(tests/independent.py) as processes: wall time, peak RSS, and whether the figures are identical.

    python -m bench.heldout [--seed N] [--runs N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench import workloads
from bench.harness import PYTHON, check_argv, run_process
from tests.independent import differences

SIZES = [("snapshot", 32000), ("community", 72000)]  # ~180 MB each (bench/README.md)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.heldout", description=__doc__)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    work = args.out.resolve() / "work"  # the config's paths are read relative to it
    failed = False
    print("| export | size | check | baseline | x baseline | peak RSS / size | figures |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for shape, frames in SIZES:
        export = workloads.export(work, shape, frames, seed=args.seed)
        size = export.path.stat().st_size
        checks, bases, problems = [], [], []
        for _ in range(args.runs):
            setup = workloads.project(work / "heldout" / export.name, [export.path])
            check = run_process(check_argv(setup.config, "--json"))
            base = run_process([PYTHON, "-m", "tests.independent", str(setup.config)])
            if check.returncode or base.returncode:
                problems.append("a process failed")
            else:
                figures = json.loads(check.stdout)
                if not figures["frames"]["total"]:
                    problems.append("the check read no frames")
                problems += differences(figures, json.loads(base.stdout))
            checks.append(check)
            bases.append(base)
        wall = statistics.median(p.wall for p in checks)
        base_wall = statistics.median(p.wall for p in bases)
        rss = statistics.median(p.rss for p in checks)
        agree = "identical" if not problems else f"DIFFER: {problems[:3]}"
        failed = failed or bool(problems)
        print(
            f"| {shape}-{frames} seed {args.seed} | {size / 1e6:.0f} MB | {wall:.2f} s | "
            f"{base_wall:.2f} s | {base_wall / wall:.1f}x | {rss / size:.2f} | {agree} |"
        )
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
