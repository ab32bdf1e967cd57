"""`retrain-gate`: a thin argparse shell over the core.

Exit codes: 0 when the command ran (for `check --exit-code`: 0 ready, 1 wait), 1 for a
failed `ledger verify`, 2 for errors, which print one message on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from retrain_gate.errors import RetrainGateError

DEFAULT_CONFIG = Path("config.toml")


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help="the config file (default: ./config.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrain-gate",
        description="Decide when a model is worth retraining from Label Studio exports.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="write a default config file")
    init.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG)

    check = commands.add_parser("check", help="ingest new exports and print the decision")
    _add_config(check)
    check.add_argument("--json", action="store_true", help="print every figure as JSON")
    check.add_argument(
        "--exit-code", action="store_true", help="exit 0 when ready and 1 when waiting"
    )
    return parser


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from retrain_gate.config import load_config

    return load_config(args.config)


def cmd_init(args: argparse.Namespace) -> int:
    from retrain_gate.config import write_default_config

    write_default_config(args.path)
    print(f"wrote {args.path}; edit [paths] to point at your export folder and eval set")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from retrain_gate.engine import Engine
    from retrain_gate.progress import TerminalProgress
    from retrain_gate.render import report_lines
    from retrain_gate.text import printable

    config = _load(args)
    engine = Engine(config)
    progress = TerminalProgress()
    try:
        results, report = engine.refresh(progress, progress.set_file)
    finally:
        progress.close()
    refused = engine.store.refused()
    for result in results:
        if result.outcome == "refused":
            print(f"refused {printable(result.path)}: {printable(result.reason)}", file=sys.stderr)
    if args.json:
        data = report.model_dump(mode="json")
        data["refused_files"] = refused
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print("\n".join(report_lines(report)))
        if refused:
            print(f"  {len(refused)} file(s) refused; fix or remove them:")
            for path, reason in sorted(refused.items())[:20]:
                print(f"    {printable(path)}: {printable(reason)}")
    if args.exit_code:
        return 0 if report.ready else 1
    return 0


HANDLERS = {
    "init": cmd_init,
    "check": cmd_check,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except RetrainGateError as exc:
        print(f"retrain-gate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("retrain-gate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
