"""What the writer observed, and the events between two observations with their texts.

Events are derived, not logged as they happen: `derive` compares what the writer sees now (the
report, the ledger, the refused files) with what it last observed; each difference is an
event. Every decision's message carries its ledger entry's chain hash: a copy of it kept
elsewhere (a Slack channel) is an anchor that `retrain-gate ledger verify --anchor` checks
the ledger against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from retrain_gate.config import Config
from retrain_gate.decisions.ledger import LedgerEntry
from retrain_gate.decisions.output import alert_words, origin
from retrain_gate.metrics import open_alert_keys
from retrain_gate.models import HumanState, Report
from retrain_gate.text import beyond_decision, percent, plural, printable, short_hash


@dataclass
class Observed:
    """What the writer last saw; persisted with the messages it produced."""

    decision: str | None = None
    alerts: list[str] = field(default_factory=list)  # open alert keys
    ledger_seq: int = 0
    refused: list[str] = field(default_factory=list)  # digests of (path, reason)
    unreadable: bool = False


@dataclass(frozen=True)
class Event:
    kind: str
    title: str
    body: str


@dataclass(frozen=True)
class Snapshot:
    """What `derive` compares with the last observation."""

    report: Report
    human: HumanState
    entries: Sequence[LedgerEntry]
    refused: Mapping[str, str]  # path -> reason


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:16]


def _acknowledged(key: str, report: Report, human: HumanState) -> bool:
    if key == report.regression.alert_key and report.regression.acknowledged_by:
        return True
    return key.startswith("report:") and any(a.alert_key == key for a in human.acks)


def project_name(config: Config) -> str:
    if config.source is not None:
        folder = config.source.resolve().parent.name
        return printable(folder or config.source.name, limit=60)
    return printable(config.paths.state_dir.parent.name, limit=60)


def _command(config: Config, verb: str) -> str:
    where = f" --config {config.source}" if config.source is not None else ""
    return printable(f"retrain-gate {verb}{where}")


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _delta_line(report: Report) -> str:
    line = (
        f"Delta since the last training: {report.delta_episodes}/{report.needed_episodes} "
        "episodes (have/needed)"
    )
    if report.delta_fraction is not None:
        line += f", {percent(report.delta_fraction)} of a corpus of {report.corpus_episodes}"
    return line + "."


def _decision_line(report: Report) -> str:
    rest = beyond_decision(report.decision, report.reason)
    return f"Decision: {report.decision}" + (f", {printable(rest)}." if rest else ".")


def _release_episodes(report: Report, name: str | None) -> str:
    for release in report.releases:
        if release.model_version == name:
            return plural(release.episodes, "episode")
    return "episodes unknown"


def _alert_raised(key: str, snap: Snapshot, config: Config) -> Event:
    report, regression = snap.report, snap.report.regression
    act = (
        f"To acknowledge: press a in the dashboard, or run {_command(config, 'ack --by NAME')}\n"
        f"To retrain: press r, or run {_command(config, 'approve --by NAME')}"
    )
    if key.startswith("report:"):
        seq = int(key.split(":", 1)[1])
        found = next((r for r in snap.human.open_reports if r.seq == seq), None)
        by = printable(found.by) if found else "someone"
        note = printable(found.note) if found else ""
        first = f"Regression reported by {by} (ledger #{seq}): {note}"
        title = f"regression reported by {by}"
        entry = next((e for e in snap.entries if e.seq == seq), None)
        if entry is not None:
            act += f"\n{_anchor(entry)}"
    else:
        prev, cur = printable(regression.previous), printable(regression.current)
        before = _release_episodes(report, regression.previous)
        after = _release_episodes(report, regression.current)
        first = (
            f"{cur} pre-annotates significantly worse than {prev}: corrections per episode "
            f"{_fmt(regression.previous_cpe)} for {prev} ({before}) "
            f"-> {_fmt(regression.current_cpe)} for {cur} ({after}), "
            f"p = {_fmt(regression.p_value, '.3g')} (alpha {config.regression.alpha:g})."
        )
        title = f"regression alert: {cur} worse than {prev}"
    body = "\n".join([first, _decision_line(report), _delta_line(report), act])
    return Event("alert_raised", title, body)


def _alerts_named(keys: Sequence[object]) -> str:
    """Alert keys as a person names the alerts: "the regression alert on v2 (against v1)"."""
    words = [printable(alert_words(str(key))) for key in keys] or ["an alert"]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:]


def _alert_ended(key: str, snap: Snapshot, approved_by: str | None) -> Event:
    named = _alerts_named([key])
    why = (
        f"a retrain was approved by {approved_by}"
        if approved_by
        else "the figures no longer show it"
    )
    body = "\n".join([f"{_sentence(named)} ended: {why}.", _decision_line(snap.report)])
    return Event("alert_ended", f"{named} ended", body)


def _anchor(entry: LedgerEntry) -> str:
    """The line that makes a message an anchor of the ledger (see the module docstring)."""
    return f"Ledger entry #{entry.seq} hash: {entry.hash}"


def _who(entry: LedgerEntry) -> str:
    # from where as `ledger` says it: a decision made in the browser says so
    return f"{printable(entry.actor)} ({printable(origin(entry))}) at {entry.ts}"


def _ledger_event(entry: LedgerEntry, snap: Snapshot, config: Config) -> Event | None:
    payload = entry.payload
    note = printable(payload.get("note") or "")
    noted = f"\nNote: {note}" if note else ""
    if entry.kind == "ack":
        keys = payload.get("alert_keys")
        named = _sentence(_alerts_named(keys if isinstance(keys, list) else []))
        body = (
            f"{named} acknowledged by {_who(entry)} (ledger #{entry.seq}).{noted}\n"
            "The alert stays until a retrain is approved.\n"
            "To retrain: press r in the dashboard, or run "
            f"{_command(config, 'approve --by NAME')}\n{_anchor(entry)}"
        )
        return Event("alert_acknowledged", f"alert acknowledged by {printable(entry.actor)}", body)
    if entry.kind == "approval":
        episodes = len(payload.get("approved_episodes") or [])
        frames = payload.get("approved_frames", 0)
        frames_text = plural(frames, "frame") if isinstance(frames, int) else "? frames"
        join = "joins" if episodes == 1 else "join"
        override = " against a WAIT (override)" if payload.get("override") else ""
        body = (
            f"Retrain approved{override} by {_who(entry)} (ledger #{entry.seq}): "
            f"{plural(episodes, 'episode')} ({frames_text}) {join} the corpus.{noted}\n"
            f"Figures when approved: {printable(payload.get('decision', ''))}, "
            f"{printable(payload.get('reason', ''))}\n"
            f"Training slice: {printable(payload.get('manifest', ''))}\n"
            "retrain-gate starts nothing: train with your usual pipeline.\n"
            f"{_anchor(entry)}"
        )
        return Event("approval", f"retrain approved by {printable(entry.actor)}", body)
    if entry.kind == "pin":
        pinned = short_hash(payload.get("eval_hash"))
        before = short_hash(payload.get("previous_hash"))
        body = (
            f"Eval set pinned at {pinned} (was {before}) by {_who(entry)} "
            f"(ledger #{entry.seq}).{noted}\n{_decision_line(snap.report)}\n{_anchor(entry)}"
        )
        return Event("pin", f"eval set pinned by {printable(entry.actor)}", body)
    return None  # reports are alerts: raised through the open alert keys


def _ready(snap: Snapshot, config: Config) -> Event:
    report = snap.report
    spread = (
        f"Spread: Gini {report.task_gini:.2f}, top task {percent(report.top_task_share, up=True)}"
    )
    if report.top_task:
        spread += f" ({printable(report.top_task)})"
    rest = beyond_decision(report.decision, report.reason)  # READY's reason is "ready"
    body = "\n".join(
        [
            f"READY to retrain: {printable(rest)}" if rest else "READY to retrain.",
            _delta_line(report),
            spread + ".",
            f"Eval set: {report.eval.status}.",
            f"To approve: press r in the dashboard, or run {_command(config, 'approve --by NAME')}",
        ]
    )
    return Event("ready", "READY to retrain", body)


def _wait(snap: Snapshot) -> Event:
    report = snap.report
    body = "\n".join([f"Back to WAIT: {printable(report.reason)}", _delta_line(report)])
    return Event("wait", "back to WAIT", body)


def _refused(new: Mapping[str, str], config: Config) -> Event:
    shown = sorted(new.items())[:5]
    refused = f"{plural(len(new), 'export file')} refused"
    lines = [f"{refused}; fix or remove {'it' if len(new) == 1 else 'them'}:"]
    lines += [
        f"  {printable(Path(p).name, limit=120)}: {printable(r, limit=200)}" for p, r in shown
    ]
    if len(new) > len(shown):
        lines.append(f"  and {len(new) - len(shown):,} more (retrain-gate check lists them)")
    lines.append(f"Export folder: {printable(config.paths.export_source)}")
    return Event("refused", refused, "\n".join(lines))


def _recorded_since(entries: Sequence[LedgerEntry], since: float) -> list[LedgerEntry]:
    found = []
    for entry in entries:
        try:
            at = datetime.fromisoformat(entry.ts).timestamp()
        except ValueError:
            at = since  # a time that cannot be read: sent again rather than lost
        if at >= since:
            found.append(entry)
    return found


def derive(
    prev: Observed | None, snap: Snapshot, config: Config, *, replay_since: float | None = None
) -> tuple[Observed, list[Event]]:
    """The new observation, and the events between `prev` and `snap` (every kind; the caller
    keeps those configured). `prev` None: the first observation of this state folder, where
    the ledger's history is not news but what is true now is. With `replay_since` (the
    outbox was lost), the decisions recorded since then are news again, and so are the alerts
    their approvals ended."""
    report, human = snap.report, snap.human
    first = prev is None
    last = prev or Observed()
    events: list[Event] = []

    last_seq = snap.entries[-1].seq if snap.entries else 0
    if first:
        new_entries = [] if replay_since is None else _recorded_since(snap.entries, replay_since)
    else:
        new_entries = [e for e in snap.entries if e.seq > last.ledger_seq]
    approved_by = next(
        (printable(e.actor) for e in reversed(new_entries) if e.kind == "approval"), None
    )

    alerts = open_alert_keys(report, human)
    for key in alerts:
        if key not in last.alerts and not (first and _acknowledged(key, report, human)):
            events.append(_alert_raised(key, snap, config))
    events.extend(_alert_ended(key, snap, approved_by) for key in last.alerts if key not in alerts)
    if first:
        for entry in new_entries:
            if entry.kind == "approval":
                ended = entry.payload.get("ended_alert_keys") or []
                actor = printable(entry.actor)
                events.extend(_alert_ended(str(k), snap, actor) for k in ended if k not in alerts)
    for entry in new_entries:
        event = _ledger_event(entry, snap, config)
        if event is not None:
            events.append(event)

    if report.decision == "READY" and last.decision != "READY":
        events.append(_ready(snap, config))
    elif report.decision == "WAIT" and last.decision == "READY":
        events.append(_wait(snap))

    refused = {_digest(p, r): (p, r) for p, r in snap.refused.items()}
    new_refused = {p: r for d, (p, r) in refused.items() if d not in last.refused}
    if new_refused:
        events.append(_refused(new_refused, config))

    observed = Observed(
        decision=report.decision,
        alerts=alerts,
        ledger_seq=max(last_seq, last.ledger_seq) if not first else last_seq,
        refused=sorted(refused),
        unreadable=last.unreadable,
    )
    return observed, events


def unreadable_event(config: Config, since: float, now: float, why: str) -> Event:
    minutes = (now - since) / 60
    body = (
        f"The watcher has not been able to read {printable(config.paths.export_source)} for "
        f"{minutes:.0f} min: {printable(why)}\n"
        "New exports are not being ingested until it can."
    )
    return Event("watch_unreadable", "the export folder cannot be read", body)
