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
from typing import TYPE_CHECKING

from retrain_gate.errors import RetrainGateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from retrain_gate.actions import Recorded
    from retrain_gate.config import Config
    from retrain_gate.engine import Engine

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

    approve = commands.add_parser(
        "approve", help="record a retrain approval (starts nothing; writes the training slice)"
    )
    _add_config(approve)
    approve.add_argument("--by", required=True, metavar="NAME", help="your name, as recorded")
    approve.add_argument("--note", default="", metavar="TEXT")
    approve.add_argument(
        "--override", action="store_true", help="approve although the gates say WAIT (needs --note)"
    )

    pin = commands.add_parser("pin-eval", help="pin the current eval set (a deliberate choice)")
    _add_config(pin)
    pin.add_argument("--by", required=True, metavar="NAME")
    pin.add_argument("--note", required=True, metavar="TEXT")

    report = commands.add_parser(
        "report-regression", help="labelers say pre-annotations got worse: raise an alert"
    )
    _add_config(report)
    report.add_argument("--by", required=True, metavar="NAME")
    report.add_argument("--note", required=True, metavar="TEXT")

    ack = commands.add_parser("ack", help="acknowledge the open regression alert(s)")
    _add_config(ack)
    ack.add_argument("--by", required=True, metavar="NAME")
    ack.add_argument("--note", default="", metavar="TEXT")

    ledger = commands.add_parser(
        "ledger", help="the history of human decisions; `verify` checks it"
    )
    _add_config(ledger)
    ledger.add_argument("action", nargs="?", choices=["verify"], help="check the whole chain")
    fmt = ledger.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON array of entries")
    fmt.add_argument("--csv", action="store_true", help="CSV for a spreadsheet")

    reindex = commands.add_parser(
        "reindex",
        help="read every export again and rebuild the frames (the ledger is kept)",
    )
    _add_config(reindex)

    watch = commands.add_parser("watch", help="watch the export folder and print changes")
    _add_config(watch)

    tui = commands.add_parser("tui", help="the live dashboard")
    _add_config(tui)

    pull = commands.add_parser(
        "pull",
        help="download a full snapshot from Label Studio into the export folder ([labelstudio])",
    )
    _add_config(pull)
    return parser


def _load(args: argparse.Namespace) -> Config:
    from retrain_gate.config import load_config

    return load_config(args.config)


def cmd_init(args: argparse.Namespace) -> int:
    from retrain_gate.config import write_default_config

    write_default_config(args.path)
    print(f"wrote {args.path}; edit [paths] to point at your export folder and eval set")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from retrain_gate.engine import engine_for_command, require_sources
    from retrain_gate.progress import TerminalProgress
    from retrain_gate.render import report_lines
    from retrain_gate.text import json_safe, printable

    config = _load(args)
    require_sources(config)
    progress = TerminalProgress()
    with engine_for_command(config) as engine:
        _say_if_stale(engine)
        try:
            results, report = engine.refresh(progress, progress.set_file)
        finally:
            progress.close()
        refused = engine.store.refused()
    if args.json:
        for result in results:
            if result.outcome == "refused":
                print(
                    f"refused {printable(result.path)}: {printable(result.reason)}", file=sys.stderr
                )
        data = report.model_dump(mode="json")
        data["refused_files"] = refused
        print(json_safe(json.dumps(data, indent=2, ensure_ascii=False)))
    else:
        print("\n".join(report_lines(report)))
        if refused:
            print(f"  {len(refused)} file(s) refused; fix or remove them:")
            for path, reason in sorted(refused.items())[:20]:
                print(f"    {printable(path)}: {printable(reason)}")
    if args.exit_code:
        return 0 if report.ready else 1
    return 0


def _say_if_stale(engine: Engine) -> None:
    """One line when the stored frames were made under other read settings."""
    engine.store.frames()
    if engine.store.stale:
        print(f"retrain-gate: {engine.store.stale}", file=sys.stderr)


def _decide(args: argparse.Namespace, action: Callable[[Engine], Recorded]) -> Recorded:
    from retrain_gate.engine import engine_for_command, require_sources

    config = _load(args)
    require_sources(config)
    with engine_for_command(config) as engine:
        _say_if_stale(engine)
        engine.scan()  # decisions are made on the figures of every export that has landed
        return action(engine)


def cmd_reindex(args: argparse.Namespace) -> int:
    from retrain_gate.engine import engine_for_command, require_sources
    from retrain_gate.errors import StateError
    from retrain_gate.progress import TerminalProgress
    from retrain_gate.render import headline

    config = _load(args)
    require_sources(config)
    with engine_for_command(config) as engine:
        if not engine.persist:
            raise StateError(
                f"{config.paths.state_dir}: another retrain-gate is the writer there (or the "
                "folder is read-only); stop it, or run reindex there"
            )
        engine.store.reset()
        progress = TerminalProgress()
        try:
            results, report = engine.refresh(progress, progress.set_file)
        finally:
            progress.close()
    ingested = sum(r.outcome == "ingested" for r in results)
    refused = sum(r.outcome == "refused" for r in results)
    print(
        f"reindexed {config.paths.state_dir}: {ingested} export(s) read, {refused} refused; "
        "the ledger is unchanged"
    )
    print(f"now: {headline(report)}")
    return 0


def _print_recorded(recorded: Recorded) -> None:
    from retrain_gate.render import headline
    from retrain_gate.text import printable

    entry = recorded.entry
    print(
        f"recorded #{entry.seq} {entry.kind} by {printable(entry.actor)} "
        f"({printable(entry.os_user)}@{printable(entry.host)}) at {entry.ts}"
    )
    if recorded.message:
        print(printable(recorded.message))
    print(f"now: {headline(recorded.report)}")


def cmd_approve(args: argparse.Namespace) -> int:
    from retrain_gate.actions import approve

    recorded = _decide(
        args, lambda e: approve(e, by=args.by, note=args.note, override=args.override)
    )
    _print_recorded(recorded)
    print(f"training slice: {recorded.manifest}")
    print(
        "next: train on the corpus plus this slice with your usual pipeline; "
        "retrain-gate starts nothing."
    )
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    from retrain_gate.actions import pin_eval

    _print_recorded(_decide(args, lambda e: pin_eval(e, by=args.by, note=args.note)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from retrain_gate.actions import report_regression

    _print_recorded(_decide(args, lambda e: report_regression(e, by=args.by, note=args.note)))
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from retrain_gate.actions import acknowledge

    _print_recorded(_decide(args, lambda e: acknowledge(e, by=args.by, note=args.note)))
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    from retrain_gate.ledger import Ledger, entries_to_csv, entries_to_json, entry_summary
    from retrain_gate.text import json_safe, printable

    config = _load(args)
    ledger = Ledger(config.paths.state_dir)
    if args.action == "verify":
        result = ledger.verify()
        if result.ok:
            print(f"ledger ok: {printable(result.message)}")
            if result.last_hash:
                print(f"last hash {result.last_hash} (keep a copy elsewhere to detect truncation)")
            return 0
        print(f"ledger FAILED: {printable(result.message)}", file=sys.stderr)
        return 1
    entries = ledger.entries()
    if args.json:
        print(json_safe(json.dumps(entries_to_json(entries), indent=2, ensure_ascii=False)))
    elif args.csv:
        entries_to_csv(entries, sys.stdout)
    else:
        if not entries:
            print(f"the ledger is empty ({ledger.path})")
        for entry in entries:
            note = f": {printable(entry.note)}" if entry.note else ""
            print(
                f"#{entry.seq:<4} {entry.ts}  {entry.kind:<8} {printable(entry.actor)} "
                f"({printable(entry.os_user)}@{printable(entry.host)})  "
                f"{printable(entry_summary(entry))}{note}"
            )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from retrain_gate.service import run_watch

    return run_watch(_load(args))


def cmd_tui(args: argparse.Namespace) -> int:
    config = _load(args)
    from retrain_gate.tui.app import run_tui  # imported here: `check` never loads Textual

    return run_tui(config)


def cmd_pull(args: argparse.Namespace) -> int:
    from retrain_gate.labelstudio.pull import pull_snapshot
    from retrain_gate.text import printable

    config = _load(args)
    tty = sys.stderr.isatty()

    def show(message: str) -> None:
        # One redrawn line on a terminal; in a log, one line per step.
        if tty:
            sys.stderr.write(f"\r{printable(message)}"[:200] + "\x1b[K")
        else:
            sys.stderr.write(printable(message) + "\n")
        sys.stderr.flush()

    try:
        path = pull_snapshot(config, show)
    finally:
        if tty:
            sys.stderr.write("\r\x1b[K")
    print(f"pulled {printable(path)}; `check` or the running watcher will read it")
    return 0


HANDLERS = {
    "init": cmd_init,
    "check": cmd_check,
    "approve": cmd_approve,
    "pin-eval": cmd_pin,
    "report-regression": cmd_report,
    "ack": cmd_ack,
    "ledger": cmd_ledger,
    "reindex": cmd_reindex,
    "watch": cmd_watch,
    "tui": cmd_tui,
    "pull": cmd_pull,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


def run() -> None:
    """The console script and `python -m retrain_gate`."""
    sys.exit(main())


if __name__ == "__main__":
    run()
