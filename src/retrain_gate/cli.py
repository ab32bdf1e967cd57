"""`retrain-gate`: a thin argparse shell over the core.

Exit codes: 0 when the command ran (for `check --exit-code`: 0 ready, 1 wait), 1 for a
failed `ledger verify`, 2 for errors, which print one message on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from retrain_gate.errors import RetrainGateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from retrain_gate.actions import Recorded, SliceRow
    from retrain_gate.config import Config
    from retrain_gate.engine import Engine
    from retrain_gate.ledger import LedgerEntry
    from retrain_gate.models import Report
    from retrain_gate.store import IngestResult

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
    from retrain_gate import __version__

    parser.add_argument("--version", action="version", version=f"retrain-gate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="write a default config file")
    init.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help="where to write it (default: ./config.toml); an existing file is never overwritten",
    )

    check = commands.add_parser("check", help="ingest new exports and print the decision")
    _add_config(check)
    check.add_argument("--json", action="store_true", help="print every figure as JSON")
    check.add_argument(
        "--exit-code", action="store_true", help="exit 0 when ready and 1 when waiting"
    )
    check.add_argument(
        "--episodes",
        action="store_true",
        help="list the delta's episodes: what an approval now would approve",
    )

    approve = commands.add_parser(
        "approve", help="record a retrain approval (starts nothing; writes the training slice)"
    )
    _add_config(approve)
    approve.add_argument("--by", required=True, metavar="NAME", help="your name, as recorded")
    approve.add_argument(
        "--note", default="", metavar="TEXT", help="why, as recorded (required with --override)"
    )
    approve.add_argument(
        "--override", action="store_true", help="approve although the gates say WAIT (needs --note)"
    )

    decline = commands.add_parser(
        "decline", help="record that a READY gate was looked at and a retrain is not wanted now"
    )
    _add_config(decline)
    decline.add_argument("--by", required=True, metavar="NAME", help="your name, as recorded")
    decline.add_argument("--note", required=True, metavar="TEXT", help="why not now")

    pin = commands.add_parser("pin-eval", help="pin the current eval set (a deliberate choice)")
    _add_config(pin)
    pin.add_argument("--by", required=True, metavar="NAME", help="your name, as recorded")
    pin.add_argument(
        "--note", required=True, metavar="TEXT", help="what changed in the eval set, as recorded"
    )

    report = commands.add_parser(
        "report-regression", help="labelers say pre-annotations got worse: raise an alert"
    )
    _add_config(report)
    report.add_argument("--by", required=True, metavar="NAME", help="your name, as recorded")
    report.add_argument(
        "--note", required=True, metavar="TEXT", help="what the labelers see, as recorded"
    )

    ack = commands.add_parser("ack", help="acknowledge the open regression alert(s)")
    _add_config(ack)
    ack.add_argument("--by", required=True, metavar="NAME", help="your name, as recorded")
    ack.add_argument("--note", default="", metavar="TEXT", help="optional, as recorded")

    ledger = commands.add_parser(
        "ledger", help="the history of human decisions; `verify` checks it"
    )
    _add_config(ledger)
    ledger.add_argument("action", nargs="?", choices=["verify"], help="check the whole chain")
    fmt = ledger.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON array of entries")
    fmt.add_argument("--csv", action="store_true", help="CSV for a spreadsheet")
    ledger.add_argument(
        "--since", metavar="DATE", help="only entries from DATE on (YYYY-MM-DD or ISO time, UTC)"
    )
    ledger.add_argument(
        "--until", metavar="DATE", help="only entries up to DATE (a day counts whole, UTC)"
    )

    manifest = commands.add_parser(
        "manifest", help="print an approval's training-slice manifest and check it is unchanged"
    )
    _add_config(manifest)
    manifest.add_argument(
        "seq",
        nargs="?",
        type=int,
        metavar="N",
        help="the approval's ledger entry (default: latest)",
    )

    reindex = commands.add_parser(
        "reindex",
        help="read every export again and rebuild the frames (the ledger is kept)",
    )
    _add_config(reindex)

    watch = commands.add_parser("watch", help="watch the export folder and print changes")
    _add_config(watch)

    tui = commands.add_parser("tui", help="the live dashboard")
    _add_config(tui)

    notify = commands.add_parser("notify", help="notifications: `test` sends one to each URL")
    _add_config(notify)
    notify.add_argument("action", choices=["test"], help="send a test message to each URL")

    serve = commands.add_parser("serve", help="the dashboard in a web browser (textual-serve)")
    _add_config(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when behind a reverse proxy (docs/serve.md)",
    )

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
    from retrain_gate.engine import require_sources
    from retrain_gate.live.writerlock import engine_for_command
    from retrain_gate.render import report_lines
    from retrain_gate.text import json_safe, printable

    config = _load(args)
    require_sources(config)
    with engine_for_command(config) as engine:
        _say_if_stale(engine)
        results, report = _refresh(engine)
        refused = engine.store.refused()
        preview = _preview(engine) if args.episodes else None
    from retrain_gate.render import configuration_problem

    problem = configuration_problem(report, config)
    if problem is not None:
        from retrain_gate.errors import ConfigError

        raise ConfigError(problem)
    if args.json:
        for result in results:
            if result.outcome == "refused":
                print(
                    f"refused {printable(result.path)}: {printable(result.reason)}", file=sys.stderr
                )
        data = report.model_dump(mode="json")
        data["refused_files"] = refused
        if preview is not None:
            data["delta_episode_list"] = [dataclasses.asdict(row) for row in preview]
        print(json_safe(json.dumps(data, indent=2, ensure_ascii=False)))
    else:
        print("\n".join(report_lines(report, config)))
        if refused:
            print(f"  {len(refused)} file(s) refused; fix or remove them:")
            for path, reason in sorted(refused.items())[:20]:
                print(f"    {printable(path)}: {printable(reason)}")
        if preview is not None:
            _print_preview(preview)
    if args.exit_code:
        return 0 if report.ready else 1
    return 0


def _preview(engine: Engine) -> list[SliceRow]:
    from retrain_gate.actions import approval_preview

    return approval_preview(engine)


def _print_preview(rows: list[SliceRow]) -> None:
    from retrain_gate.actions import preview_lines
    from retrain_gate.text import printable

    print(f"  {len(rows):,} episodes an approval now would put in the training slice:")
    for line in preview_lines(rows):
        print(f"    {printable(line)}")


def _say_if_stale(engine: Engine) -> None:
    """One line when the stored frames were made under other read settings."""
    engine.store.frames()
    if engine.store.stale:
        print(f"retrain-gate: {engine.store.stale}", file=sys.stderr)


def _refresh(engine: Engine) -> tuple[list[IngestResult], Report]:
    """Ingest what is new with the progress bar on stderr, then evaluate."""
    from retrain_gate.progress import TerminalProgress

    progress = TerminalProgress()
    try:
        return engine.refresh(progress, progress.set_file)
    finally:
        progress.close()


def _decide(args: argparse.Namespace, action: Callable[[Engine], Recorded]) -> Recorded:
    from retrain_gate.engine import require_sources
    from retrain_gate.live.writerlock import engine_for_command

    config = _load(args)
    require_sources(config)
    with engine_for_command(config) as engine:
        _say_if_stale(engine)
        engine.scan()  # decisions are made on the figures of every export that has landed
        return action(engine)


def cmd_reindex(args: argparse.Namespace) -> int:
    from retrain_gate.engine import require_sources
    from retrain_gate.errors import StateError
    from retrain_gate.live.writerlock import engine_for_command
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
        results, report = _refresh(engine)
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
    if recorded.manifest is None:  # a request: the second approver writes the slice
        return 0
    print(f"training slice: {recorded.manifest}")
    print(
        "next: train on the corpus plus this slice with your usual pipeline; "
        "retrain-gate starts nothing."
    )
    return 0


def cmd_decline(args: argparse.Namespace) -> int:
    from retrain_gate.actions import decline

    _print_recorded(_decide(args, lambda e: decline(e, by=args.by, note=args.note)))
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
    from retrain_gate.ledger import Ledger, entries_to_csv, entries_to_json, entry_line, in_period
    from retrain_gate.names import NOTE_MAX
    from retrain_gate.text import json_safe, printable

    if args.action == "verify" and (args.json or args.csv):
        flag = "--json" if args.json else "--csv"
        raise RetrainGateError(
            f"`ledger verify` does not take {flag}: it prints a verdict; "
            f"use `ledger {flag}` for the entries"
        )
    config = _load(args)
    ledger = Ledger(config.paths.state_dir)
    if args.action == "verify":
        result = ledger.verify()
        if result.ok:
            print(f"ledger ok: {printable(result.message)}")
            if result.last_hash:
                print(f"last hash {result.last_hash} (keep a copy elsewhere to detect truncation)")
            return _verify_manifests(ledger.entries(), config.paths.state_dir)
        print(f"ledger FAILED: {printable(result.message)}", file=sys.stderr)
        return 1
    try:
        entries = in_period(ledger.entries(), args.since, args.until)
    except ValueError as exc:
        raise RetrainGateError(str(exc)) from None
    if args.json:
        print(json_safe(json.dumps(entries_to_json(entries), indent=2, ensure_ascii=False)))
    elif args.csv:
        entries_to_csv(entries, sys.stdout)
    elif not entries:
        empty = "has no entries in that period" if args.since or args.until else "is empty"
        print(f"the ledger {empty} ({ledger.path})")
    else:
        print("#seq  meaning · name · time (UTC) · OS user@host · reason · what was recorded")
        for entry in entries:
            print(printable(entry_line(entry), limit=4 * NOTE_MAX))  # whole notes
    return 0


def _verify_manifests(entries: list[LedgerEntry], state_dir: Path) -> int:
    """Every approval's manifest against the sha256 its entry recorded: 1 if any changed."""
    from retrain_gate import manifests
    from retrain_gate.text import printable

    checks = manifests.check_all(entries, state_dir)
    changed = [c for c in checks if c.status == "changed"]
    missing = [c for c in checks if c.status == "missing"]
    for check in missing:
        print(f"warning: manifest of {printable(check.describe())}", file=sys.stderr)
    for check in changed:
        print(f"manifest FAILED: {printable(check.describe())}", file=sys.stderr)
    ok = len(checks) - len(changed) - len(missing)
    print(f"manifests: {ok} of {len(checks)} match their approval", end="")
    print(f", {len(missing)} missing" if missing else "", end="")
    print(f", {len(changed)} CHANGED" if changed else "")
    return 1 if changed else 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from retrain_gate import manifests
    from retrain_gate.errors import LedgerError
    from retrain_gate.ledger import Ledger
    from retrain_gate.text import printable

    config = _load(args)
    approvals = [e for e in Ledger(config.paths.state_dir).entries() if manifests.recorded(e)]
    if args.seq is not None:
        approvals = [e for e in approvals if e.seq == args.seq]
    if not approvals:
        which = (
            f"entry {args.seq} is not an approval" if args.seq is not None else "no approval yet"
        )
        raise LedgerError(f"{config.paths.state_dir / 'ledger.jsonl'}: {which}; nothing to show")
    check = manifests.check(approvals[-1], config.paths.state_dir)
    assert check is not None
    print(printable(check.path))  # alone on stdout, for `train --slice "$(retrain-gate manifest)"`
    print(printable(check.describe()), file=sys.stderr)
    return 0 if check.status == "ok" else 1


def cmd_watch(args: argparse.Namespace) -> int:
    from retrain_gate.cli_watch import run_watch

    return run_watch(_load(args))


def cmd_tui(args: argparse.Namespace) -> int:
    config = _load(args)
    from retrain_gate.tui.app import run_tui  # imported here: `check` never loads Textual

    return run_tui(config)


def cmd_notify(args: argparse.Namespace) -> int:
    from retrain_gate.live.notify.send import send_test

    config = _load(args)
    if not config.notify.urls:
        raise RetrainGateError(
            f"{args.config}: [notify] urls is empty; add an Apprise URL such as "
            '"json://127.0.0.1:8080/hook" or "${SLACK_URL}"'
        )
    failed = 0
    for shown, ok, why in send_test(config):
        print(f"{shown}: {'sent' if ok else 'FAILED: ' + why}")
        failed += not ok
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from retrain_gate.serve import run_serve

    _load(args)  # a bad config is one line here, not a traceback in every browser session
    return run_serve(args.config, host=args.host, port=args.port, public_url=args.public_url)


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
    "decline": cmd_decline,
    "pin-eval": cmd_pin,
    "report-regression": cmd_report,
    "ack": cmd_ack,
    "ledger": cmd_ledger,
    "manifest": cmd_manifest,
    "reindex": cmd_reindex,
    "watch": cmd_watch,
    "tui": cmd_tui,
    "notify": cmd_notify,
    "serve": cmd_serve,
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
