"""Human decisions: approve a retrain, pin the eval set, report a regression, acknowledge.

The one implementation behind both `retrain-gate approve ...` and the TUI's modals, so an
approval means the same thing wherever it was made. Each decision is one ledger entry; it is
on disk (fsync) before these functions return. Nothing here starts a training.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, Literal, ParamSpec

from retrain_gate.config import Config
from retrain_gate.decisions import manifests
from retrain_gate.decisions.ledger import MEANINGS, LedgerEntry, os_user
from retrain_gate.decisions.names import validate_name, validate_note
from retrain_gate.decisions.output import alert_words
from retrain_gate.engine import Engine
from retrain_gate.errors import RetrainGateError
from retrain_gate.evalset import empty_pin_refusal
from retrain_gate.metrics import delta_episodes, delta_key, open_alert_keys
from retrain_gate.models import HumanState, Report
from retrain_gate.text import plural


class ActionRefused(RetrainGateError):
    """The decision cannot be recorded as asked (and nothing was recorded)."""


class NotAllowed(ActionRefused):
    """This person may not record this decision ([approvals], or their own request)."""


@dataclass(frozen=True)
class Recorded:
    entry: LedgerEntry
    report: Report  # the figures after the decision
    manifest: Path | None = None
    message: str = ""


P = ParamSpec("P")
Decision = Callable[Concatenate[Engine, P], Recorded]


def one_at_a_time(decide: Decision[P]) -> Decision[P]:
    """Run a decision under the ledger's writers' lock, from the state it checks to the entry
    it appends: a second approval at the same moment then sees the first one (its episodes
    already approved) instead of approving them again."""

    @functools.wraps(decide)
    def run(engine: Engine, /, *args: P.args, **kwargs: P.kwargs) -> Recorded:
        with engine.ledger.hold():
            return decide(engine, *args, **kwargs)

    return run


def _name(raw: str) -> str:
    try:
        return validate_name(raw)
    except ValueError as exc:
        raise ActionRefused(f"name: {exc}") from None


Role = Literal["approvers", "ack_by"]


def authorize(config: Config, raw: str, role: Role, doing: str) -> str:
    """The name to record for `raw`, when `[approvals] <role>` lets it decide.

    Called before anything is written, so a refused name leaves the ledger and the approvals
    folder exactly as they were. An unset list lets anyone decide.
    """
    actor = _name(raw)
    allowed = getattr(config.approvals, role)
    if allowed is None:
        return actor
    where = f"[approvals] {role}" + (f" of {config.source}" if config.source else "")
    # A name may be listed plainly, or once per login it may decide from.
    logins = [item.os_user for item in allowed if not isinstance(item, str) and item.name == actor]
    if actor in allowed or os_user() in logins:
        return actor
    if logins:
        raise NotAllowed(
            f"{actor} may {doing} only as the OS user {' or '.join(logins)} ({where}), "
            f"and this is {os_user()}; nothing was recorded"
        )
    names = ", ".join(item if isinstance(item, str) else item.name for item in allowed)
    raise NotAllowed(
        f"{actor} may not {doing}: the name is not in {where} "
        f"({names or 'nobody'}); type your name exactly as listed there, or ask one of them. "
        "Nothing was recorded"
    )


def _note(raw: str | None, *, required: bool, why: str = "") -> str:
    try:
        return validate_note(raw or "", required)
    except ValueError as exc:
        raise ActionRefused(f"note: {exc}{why}") from None


@dataclass(frozen=True)
class SliceRow:
    """One episode an approval now would put in the training slice (a manifest row)."""

    task_subdir: str
    episode: str
    frames: int
    corrected_frames: int
    release: str | None


def approval_preview(engine: Engine) -> list[SliceRow]:
    """What an approval now would approve, before approving: the manifest's rows."""
    table = delta_episodes(engine.store.frames(), engine.config, engine.human_state())
    return [SliceRow(*row) for row in table.select(manifests.COLUMNS).iter_rows()]


def preview_lines(rows: list[SliceRow], limit: int | None = None) -> list[str]:
    """The rows as an aligned plain-text table (typed text not yet made printable)."""
    header = ("task", "episode", "frames", "corrected", "release")
    cells = [
        (r.task_subdir, r.episode, str(r.frames), str(r.corrected_frames), r.release or "-")
        for r in (rows if limit is None else rows[:limit])
    ]
    widths = [min(max(len(c[i]) for c in [header, *cells]), 40) for i in range(5)]
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i in (2, 3) else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in [header, *cells]
    ]
    if limit is not None and len(rows) > limit:
        lines.append(f"… and {len(rows) - limit:,} more (the manifest lists them all)")
    return lines


def _same_person(a: str, b: str) -> bool:
    # Names are already NFC and stripped; case alone must not make one person two.
    return a.casefold() == b.casefold()


@one_at_a_time
def approve(engine: Engine, *, by: str, note: str = "", override: bool = False) -> Recorded:
    """Record an approval: the delta joins the corpus, the eval hash becomes the pin.

    An override (against WAIT, or of an empty delta) needs `override` and a note. With
    `[approvals] second_approver_for_override`, an override is first recorded as a request,
    and an approval by a second, different approver confirms it.
    """
    actor = authorize(engine.config, by, "approvers", "approve")
    human = engine.human_state()
    report = engine.evaluate(human)
    table = delta_episodes(engine.store.frames(), engine.config, human)
    against_wait = not report.ready
    # READY on a regression alone can leave nothing new to train on: an approval then is a
    # retrain on the same data, which someone has to mean (and say why), not a second press.
    empty = table.height == 0
    pending = human.pending_request
    confirming = pending is not None and (against_wait or empty)
    if pending is not None and confirming and _same_person(actor, pending.by):
        raise NotAllowed(
            f"{actor} requested this approval (#{pending.seq}); a second, different approver "
            "must confirm it ([approvals] second_approver_for_override). Nothing was recorded"
        )
    if against_wait and not (override or confirming):
        raise ActionRefused(
            f"the gates say WAIT: {report.reason}. Approving anyway is an override: "
            "pass --override with a --note that says why"
        )
    if empty and not (override or confirming):
        since = f" #{human.last_approval_seq}" if human.last_approval_seq else ""
        raise ActionRefused(
            f"nothing new to approve: no harvested episode since the last approval{since}, so "
            "the training slice would be empty. To record a retrain on the same data anyway "
            f"({report.reason}), pass --override with a --note that says why"
        )
    # An approval pins the eval set it was made against: never one with nothing in it (an
    # override can get here with the eval folder emptied since the last pin).
    empty_eval = empty_pin_refusal(
        engine.config.paths.eval_set, report.eval.current_hash, "approve (it pins the eval set)"
    )
    if empty_eval is not None:
        raise ActionRefused(empty_eval)
    if against_wait:
        why = " (a note is required when approving against a wait)"
    else:
        why = " (a note is required when approving an empty delta)"
    text = _note(note, required=(against_wait or empty) and not confirming, why=why)
    episodes = [list(k) for k in table.select("task_subdir", "episode").rows()]
    payload: dict[str, object] = {
        "decision": report.decision,
        "ready": report.ready,
        "reason": report.reason,
        "override": against_wait or empty,
        "note": text,
        "approved_episodes": episodes,
        "approved_frames": int(table["frames"].sum()) if table.height else 0,
        "eval_hash": report.eval.current_hash,
    }
    if (
        (against_wait or empty)
        and not confirming
        and engine.config.approvals.second_approver_for_override
    ):
        return _request(engine, actor, report, payload)
    if pending is not None and confirming:
        payload |= {
            "confirms_request": pending.seq,
            "requested_by": pending.by,
            "request_note": pending.note,
        }
    manifest, manifest_sha256 = manifests.write(
        engine.config.paths.state_dir, manifests.text(table)
    )
    payload |= {
        "meaning": MEANINGS["approval"],
        "ended_alert_keys": open_alert_keys(report, human),
        "manifest": str(manifest),
        "manifest_sha256": manifest_sha256,
        "figures": report.model_dump(mode="json"),
    }
    try:
        entry = engine.ledger.append("approval", actor, payload)
    except Exception:
        manifest.unlink(missing_ok=True)
        raise
    after = engine.evaluate()
    second = f", confirming #{pending.seq} by {pending.by}" if pending and confirming else ""
    return Recorded(
        entry,
        after,
        manifest,
        f"approved by {actor}{second}: {plural(table.height, 'episode')} join the corpus "
        f"({report.corpus_episodes} -> {after.corpus_episodes})",
    )


def _request(engine: Engine, actor: str, report: Report, payload: dict[str, object]) -> Recorded:
    """The first half of a two-person override: recorded, nothing approved, no manifest."""
    payload = payload | {
        "meaning": MEANINGS["request"],
        "figures": report.model_dump(mode="json"),
    }
    entry = engine.ledger.append("request", actor, payload)
    return Recorded(
        entry,
        engine.evaluate(),
        message=(
            f"approval requested by {actor} (#{entry.seq}): an override needs a second, "
            "different approver to confirm it (approve) or refuse it (decline); "
            "nothing is approved yet"
        ),
    )


@one_at_a_time
def pin_eval(engine: Engine, *, by: str, note: str) -> Recorded:
    actor = authorize(engine.config, by, "approvers", "pin the eval set")
    text = _note(note, required=True, why=" (say why the eval set changed)")
    before = engine.evaluate()
    current = before.eval.current_hash
    if current is None:
        raise ActionRefused(
            f"the eval set is missing at {engine.config.paths.eval_set}; nothing to pin"
        )
    empty = empty_pin_refusal(engine.config.paths.eval_set, current)
    if empty is not None:
        raise ActionRefused(empty)
    payload = {
        "meaning": MEANINGS["pin"],
        "eval_hash": current,
        "previous_hash": before.eval.pinned_hash,
        "note": text,
    }
    entry = engine.ledger.append("pin", actor, payload)
    return Recorded(entry, engine.evaluate(), message=f"eval set pinned at {current[:8]}")


@one_at_a_time
def report_regression(engine: Engine, *, by: str, note: str) -> Recorded:
    actor = _name(by)
    text = _note(note, required=True, why=" (say what got worse)")
    entry = engine.ledger.append("report", actor, {"meaning": MEANINGS["report"], "note": text})
    return Recorded(
        entry,
        engine.evaluate(),
        message="regression reported: it overrides the cadence until a retrain is approved",
    )


def _alert_named(key: str, human: HumanState) -> str:
    """An open alert as a person names it: who reported it and what they saw, for a report."""
    kind, _, seq = key.partition(":")
    for report in human.open_reports:
        if kind == "report" and seq == str(report.seq):
            return f"the regression {report.by} reported in #{report.seq} ({report.note})"
    return alert_words(key)


@one_at_a_time
def acknowledge(engine: Engine, *, by: str, note: str = "") -> Recorded:
    actor = authorize(engine.config, by, "ack_by", "acknowledge alerts")
    text = _note(note, required=False)
    human = engine.human_state()
    keys = open_alert_keys(engine.evaluate(human), human)
    if not keys:
        raise ActionRefused("there is no open regression alert to acknowledge")
    entry = engine.ledger.append(
        "ack", actor, {"meaning": MEANINGS["ack"], "alert_keys": keys, "note": text}
    )
    return Recorded(
        entry,
        engine.evaluate(),
        message=(
            f"acknowledged by {actor}: {'; '.join(_alert_named(key, human) for key in keys)} "
            "(the alert stays open until a retrain is approved)"
        ),
    )


@one_at_a_time
def decline(engine: Engine, *, by: str, note: str) -> Recorded:
    """Record that the gate was looked at and a retrain is not wanted now, and why. The
    decision stays what the data say; the dashboard shows the decline until the delta or the
    open alerts change."""
    actor = authorize(engine.config, by, "approvers", "decline")
    text = _note(note, required=True, why=" (say why not now)")
    human = engine.human_state()
    report = engine.evaluate(human)
    pending = human.pending_request
    if not report.ready and pending is None:
        raise ActionRefused(f"the gates say WAIT: {report.reason}; there is no retrain to decline")
    table = delta_episodes(engine.store.frames(), engine.config, human)
    pairs = [(str(t), str(e)) for t, e in table.select("task_subdir", "episode").rows()]
    payload = {
        "meaning": MEANINGS["decline"],
        "decision": report.decision,
        "reason": report.reason,
        "note": text,
        "delta_episodes": len(pairs),
        "delta_key": delta_key(pairs),
        "alert_keys": open_alert_keys(report, human),
        "declines_request": pending.seq if pending is not None else None,
        "figures": report.model_dump(mode="json"),
    }
    entry = engine.ledger.append("decline", actor, payload)
    refused = f" (the request #{pending.seq} by {pending.by})" if pending is not None else ""
    return Recorded(
        entry,
        engine.evaluate(),
        message=(
            f"declined by {actor}{refused}: {text} (shown until the delta or the alert changes)"
        ),
    )
