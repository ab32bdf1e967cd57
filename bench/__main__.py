"""`python -m bench [--size S] [--runs N] [--out DIR] [--only tui|cold]`: see bench/README.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.harness import SIZES, report_md, run, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median; >= 3)")
    parser.add_argument(
        "--out", type=Path, default=Path("bench/out"), help="results and work folder"
    )
    parser.add_argument(
        "--only",
        choices=("all", "tui", "cold"),
        default="all",
        help="tui: only the dashboard's stages (bench/tui.py), into results-SIZE-tui.*; "
        "cold: only the cold checks of the ~180 MB exports, into results-SIZE-cold.*",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    results = run(
        args.size,
        args.runs,
        args.out.resolve(),
        log=lambda m: print(m, flush=True),
        only=args.only,
    )
    path = write(results, args.out, suffix="" if args.only == "all" else f"-{args.only}")
    print()
    print(report_md(results))
    print(f"wrote {path}")
    failed = [c["export"] for c in results.cold if not c["figures_agree"]]
    if failed:
        print(f"FIGURES DIFFER from the baseline on {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
