"""`retrain-gate`: a thin argparse shell over the core.

Exit codes: 0 when the command ran (for `check --exit-code`: 0 ready, 1 wait), 1 for a
failed `ledger verify`, 2 for errors, which print one message on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from retrain_gate.errors import RetrainGateError
from retrain_gate.text import plural

if TYPE_CHECKING:
    from collections.abc import Callable

    from retrain_gate.config import Config
    from retrain_gate.decisions.actions import Recorded, SliceRow
    from retrain_gate.decisions.ledger import Ledger, LedgerEntry, VerifyResult
    from retrain_gate.engine import Engine
    from retrain_gate.models import Report
    from retrain_gate.store import IngestResult

DEFAULT_CONFIG = Path("config.toml")


def _add_config(parser: argparse.ArgumentParser) -> None:
    # Accepted before the command too (`retrain-gate --config x check`). No default here: a
    # subcommand's default would overwrite the value given before it; `_config` supplies it.
    parser.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
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
    _add_config(parser)
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
        "ledger",
        help="the history of human decisions; `verify` checks it, `head` prints its chain hash",
    )
    _add_config(ledger)
    ledger.add_argument(
        "action",
        nargs="?",
        choices=["verify", "head"],
        help="verify: check the whole chain; head: print the hash of the last entry",
    )
    ledger.add_argument(
        "--anchor",
        metavar="HASH",
        help="with verify: prove that the entry with this hash (kept elsewhere) is in the chain",
    )
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
    tui.add_argument(
        "--via-browser",
        action="store_true",
        help="record decisions as made in a browser (`serve` starts each session with it)",
    )

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


def _config(args: argparse.Namespace) -> Path:
    path: Path = getattr(args, "config", DEFAULT_CONFIG)
    return path


def _load(args: argparse.Namespace) -> Config:
    from retrain_gate.config import load_config

    return load_config(_config(args))


def cmd_init(args: argparse.Namespace) -> int:
    from retrain_gate.config import write_default_config

    if hasattr(args, "config"):
        raise RetrainGateError(
            f"init writes the file named after it, not --config: `retrain-gate init {args.config}`"
        )

    write_default_config(args.path)
    print(f"wrote {args.path}; edit [paths] to point at your export folder and eval set")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from retrain_gate.live.writerlock import engine_for_command
    from retrain_gate.render import report_lines
    from retrain_gate.text import json_safe, printable

    config = _load(args)
    _require_sources(config)
    with engine_for_command(config) as engine:
        _sync_bucket(engine)
        _say_if_stale(engine)
        results, report = _refresh(engine)
        refused = engine.store.refused()
        ignored = engine.store.ignored()
        preview = _preview(engine) if args.episodes else None
    from retrain_gate.render import configuration_problem, mapping_warnings

    problem = configuration_problem(report, config)
    if problem is not None:
        from retrain_gate.errors import ConfigError

        raise ConfigError(problem)
    if args.json:
        for result in results:
            if result.outcome == "refused":
                print(
                    f"refused {printable(config.paths.shown(result.path))}: "
                    f"{printable(result.reason)}",
                    file=sys.stderr,
                )
        data = report.model_dump(mode="json")
        data["refused_files"] = {config.paths.shown(p): r for p, r in refused.items()}
        data["ignored_files"] = {config.paths.shown(p): r for p, r in ignored.items()}
        data["mapping_warnings"] = mapping_warnings(report, config)
        if preview is not None:
            data["delta_episode_list"] = [dataclasses.asdict(row) for row in preview]
        print(json_safe(json.dumps(data, indent=2, ensure_ascii=False)))
    else:
        print("\n".join(report_lines(report, config)))
        if refused:
            print(f"  {plural(len(refused), 'file')} refused; fix or remove them:")
            for path, reason in sorted(refused.items())[:20]:
                print(f"    {printable(config.paths.shown(path))}: {printable(reason)}")
        if ignored:
            print(
                f"  {plural(len(ignored), 'file')} ignored "
                "(not Label Studio files; no figure uses them):"
            )
            for path, reason in sorted(ignored.items())[:20]:
                print(f"    {printable(config.paths.shown(path))}: {printable(reason)}")
        if preview is not None:
            _print_preview(preview)
    if args.exit_code:
        return 0 if report.ready else 1
    return 0


def _require_sources(config: Config) -> None:
    """`require_sources`, for a bucket too: its mirror folder is the export folder."""
    from retrain_gate.engine import require_sources

    if config.paths.bucket is not None:
        with contextlib.suppress(OSError):  # an unwritable state folder is said later
            config.paths.export_dir.mkdir(parents=True, exist_ok=True)
    require_sources(config)


def _sync_bucket(engine: Engine) -> None:
    """Bring a bucket's mirror up to date before reading it. Only the writer syncs: with a
    `watch` running, its poller keeps the mirror, and `check` reads what it holds."""
    if engine.config.paths.bucket is None or not engine.persist:
        return
    from retrain_gate.sources.bucket import mirror_for
    from retrain_gate.text import printable

    mirror = mirror_for(engine.config)
    if mirror is None:
        return
    from retrain_gate.progress import TerminalProgress

    progress = TerminalProgress()
    try:
        # BucketUnreachable: one line naming the URL and why, exit 2
        result = mirror.sync(lambda done, total: progress("downloading objects", done, total))
    finally:
        progress.close()
    for key, why in sorted(result.skipped.items())[:20]:
        print(f"retrain-gate: {printable(key)} not mirrored: {printable(why)}", file=sys.stderr)


def _preview(engine: Engine) -> list[SliceRow]:
    from retrain_gate.decisions.actions import approval_preview

    return approval_preview(engine)


def _print_preview(rows: list[SliceRow]) -> None:
    from retrain_gate.decisions.actions import preview_lines
    from retrain_gate.text import printable

    print(f"  {plural(len(rows), 'episode')} an approval now would put in the training slice:")
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
    from retrain_gate.live.writerlock import engine_for_command

    config = _load(args)
    _require_sources(config)
    with engine_for_command(config) as engine:
        _say_if_stale(engine)
        engine.scan()  # decisions are made on the figures of every export that has landed
        return action(engine)


def cmd_reindex(args: argparse.Namespace) -> int:
    from retrain_gate.errors import StateError
    from retrain_gate.live.writerlock import engine_for_command
    from retrain_gate.render import headline

    config = _load(args)
    _require_sources(config)
    with engine_for_command(config) as engine:
        if not engine.persist:
            raise StateError(
                f"{config.paths.state_dir}: another retrain-gate is the writer there (or the "
                "folder is read-only); stop it, or run reindex there"
            )
        _sync_bucket(engine)
        engine.store.reset()
        results, report = _refresh(engine)
    refused = sum(r.outcome == "refused" for r in results)
    print(
        f"reindexed {config.paths.state_dir}: {_files_read(results)}, {refused:,} refused; "
        "the ledger is unchanged"
    )
    print(f"now: {headline(report)}")
    return 0


def _files_read(results: list[IngestResult]) -> str:
    """'2 exports read', '15 storage files read', '1 export and 15 storage files read'."""
    from retrain_gate.labelstudio.storage import is_storage_name

    read = [r.path for r in results if r.outcome == "ingested"]
    storage = sum(1 for path in read if is_storage_name(path))
    exports = len(read) - storage
    parts = [plural(exports, "export")] if exports or not storage else []
    if storage:
        parts.append(plural(storage, "storage file"))
    return " and ".join(parts) + " read"


def _print_recorded(recorded: Recorded) -> None:
    from retrain_gate.decisions.output import origin
    from retrain_gate.render import headline
    from retrain_gate.text import printable

    entry = recorded.entry
    print(
        f"recorded #{entry.seq} {entry.kind} by {printable(entry.actor)} "
        f"({printable(origin(entry))}) at {entry.ts}"
    )
    if recorded.message:
        print(printable(recorded.message))
    print(f"now: {headline(recorded.report)}")


def cmd_approve(args: argparse.Namespace) -> int:
    from retrain_gate.decisions.actions import approve

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
    from retrain_gate.decisions.actions import decline

    _print_recorded(_decide(args, lambda e: decline(e, by=args.by, note=args.note)))
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    from retrain_gate.decisions.actions import pin_eval

    _print_recorded(_decide(args, lambda e: pin_eval(e, by=args.by, note=args.note)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from retrain_gate.decisions.actions import report_regression

    _print_recorded(_decide(args, lambda e: report_regression(e, by=args.by, note=args.note)))
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from retrain_gate.decisions.actions import acknowledge

    _print_recorded(_decide(args, lambda e: acknowledge(e, by=args.by, note=args.note)))
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    from retrain_gate.decisions.ledger import Ledger
    from retrain_gate.decisions.names import NOTE_MAX
    from retrain_gate.decisions.output import entries_to_csv, entries_to_json, entry_line, in_period
    from retrain_gate.text import json_safe, printable

    if args.action is not None and (args.json or args.csv):
        flag = "--json" if args.json else "--csv"
        raise RetrainGateError(
            f"`ledger {args.action}` does not take {flag}: it prints a verdict; "
            f"use `ledger {flag}` for the entries"
        )
    anchor = _anchor(args.anchor) if args.anchor is not None else None
    if anchor is not None and args.action != "verify":
        raise RetrainGateError(
            "--anchor goes with `ledger verify`: `retrain-gate ledger verify --anchor HASH`"
        )
    config = _load(args)
    ledger = Ledger(config.paths.state_dir)
    if args.action is not None:
        result = ledger.verify()
        if not result.ok:
            print(f"ledger FAILED: {printable(result.message)}", file=sys.stderr)
            return 1
        if args.action == "head":
            return _print_head(ledger, result)
        print(f"ledger ok: {printable(result.message)}")
        if result.last_hash:
            print(
                f"head {result.last_hash} (keep a copy where the ledger's writers cannot edit "
                "it; `ledger verify --anchor HASH` checks against it)"
            )
        entries = ledger.entries()
        anchored = _verify_anchor(entries, anchor, ledger.path) if anchor is not None else 0
        return max(anchored, _verify_manifests(entries, config.paths.state_dir))
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


def _anchor(raw: str) -> str:
    import re

    from retrain_gate.text import printable

    anchor = raw.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", anchor):
        raise RetrainGateError(
            f"--anchor {printable(raw, limit=80)!r} is not a chain hash: give the 64 hex "
            "characters that `retrain-gate ledger head` printed (or a decision's notification "
            "carried)"
        )
    return anchor


def _print_head(ledger: Ledger, result: VerifyResult) -> int:
    """The chain hash alone on stdout (for a script to post elsewhere), what it is on stderr."""
    from retrain_gate.text import printable

    if result.last_hash is None:
        raise RetrainGateError(f"{ledger.path}: no entries yet; there is no head to anchor")
    last = ledger.entries()[result.count - 1]  # entries only grow: the one verified last
    print(result.last_hash)
    print(
        f"the chain hash of entry #{last.seq} ({printable(last.meaning)} · "
        f"{printable(last.actor)} · {last.ts}); keep it where the ledger's writers cannot edit "
        "it: `retrain-gate ledger verify --anchor HASH` then proves that this entry and every "
        "one before it are unchanged",
        file=sys.stderr,
    )
    return 0


def _verify_anchor(entries: list[LedgerEntry], anchor: str, path: Path) -> int:
    """1 unless a verified entry has the hash `anchor`: a hash covers the entry and, through
    `prev_hash`, every entry before it."""
    from retrain_gate.text import printable

    found = next((e for e in entries if e.hash == anchor), None)
    if found is None:
        print(
            f"anchor FAILED: {anchor} is not the hash of any entry of {printable(path)}: the "
            "entry it was taken from, or one before it, was changed or removed and the file "
            "re-chained (or the hash was copied wrong; `retrain-gate ledger head` prints the "
            "current one)",
            file=sys.stderr,
        )
        return 1
    since = len(entries) - found.seq
    print(
        f"anchor ok: {anchor[:12]}… is entry #{found.seq} ({printable(found.meaning)} · "
        f"{printable(found.actor)} · {found.ts}); entries 1 to {found.seq} are exactly as they "
        f"were when it was taken, and {since} {'entry was' if since == 1 else 'entries were'} "
        "added since"
    )
    return 0


def _verify_manifests(entries: list[LedgerEntry], state_dir: Path) -> int:
    """Every approval's manifest against the sha256 its entry recorded: 1 if any changed."""
    from retrain_gate.decisions import manifests
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
    from retrain_gate.decisions import manifests
    from retrain_gate.decisions.ledger import Ledger
    from retrain_gate.errors import LedgerError
    from retrain_gate.text import plural, printable

    config = _load(args)
    ledger = Ledger(config.paths.state_dir)
    entries = ledger.entries()
    if args.seq is None:
        approvals = [e for e in entries if manifests.recorded(e)]
        if not approvals:
            raise LedgerError(f"{ledger.path}: no approval yet; nothing to show")
        entry = approvals[-1]
    else:
        found = [e for e in entries if e.seq == args.seq]
        if not found:
            raise LedgerError(
                f"{ledger.path}: there is no entry {args.seq} (the ledger has "
                f"{plural(len(entries), 'entry', 'entries')}); `retrain-gate ledger` lists them"
            )
        entry = found[0]
        if not manifests.recorded(entry):
            what = (
                "an approval that recorded no manifest"
                if entry.kind == "approval"
                else f"not an approval: it {printable(entry.meaning)}"
            )
            raise LedgerError(f"{ledger.path}: entry {args.seq} is {what}; nothing to show")
    check = manifests.check(entry, config.paths.state_dir)
    assert check is not None
    print(printable(check.describe()), file=sys.stderr)
    if check.status != "ok":
        # Nothing on stdout: `slice=$(retrain-gate manifest)` must never hold a path to a
        # file nobody approved (or to none).
        return 1
    print(printable(check.path))  # alone on stdout, for `slice=$(retrain-gate manifest)`
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from retrain_gate.cli_watch import run_watch

    return run_watch(_load(args))


def cmd_tui(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.via_browser:
        from retrain_gate.decisions.ledger import VIA_BROWSER, record_via

        record_via(VIA_BROWSER)
    from retrain_gate.tui.app import run_tui  # imported here: `check` never loads Textual

    return run_tui(config)


def cmd_notify(args: argparse.Namespace) -> int:
    from retrain_gate.live.notify.send import send_test

    config = _load(args)
    if not config.notify.urls:
        raise RetrainGateError(
            f"{_config(args)}: [notify] urls is empty; add an Apprise URL such as "
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
    return run_serve(_config(args), host=args.host, port=args.port, public_url=args.public_url)


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

    def notice(message: str) -> None:
        # A warning or a kept file is a line of its own, never redrawn over.
        sys.stderr.write(("\r\x1b[K" if tty else "") + printable(message) + "\n")
        sys.stderr.flush()

    try:
        path = pull_snapshot(config, show, notice)
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


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the command's usage, which names what it does take, not the top level's
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
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
