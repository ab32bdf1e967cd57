"""Replaying the ledger into the humans' state: what the gates need from every decision so far.

Entries are read in `seq` order; a payload that is not what its kind records is a `LedgerError`
naming the entry, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from retrain_gate.decisions.ledger import LedgerEntry
from retrain_gate.errors import LedgerError
from retrain_gate.models import Ack, ApprovalRequest, Decline, HumanState, Pin, RegressionReport


def _payload_error(entry: LedgerEntry, detail: str) -> LedgerError:
    return LedgerError(f"ledger entry {entry.seq} ({entry.kind} by {entry.actor}): {detail}")


def _str_list(entry: LedgerEntry, key: str) -> list[str]:
    value = entry.payload.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _payload_error(entry, f"payload.{key} must be a list of strings")
    return value


def _episode_list(entry: LedgerEntry) -> list[tuple[str, str]]:
    value = entry.payload.get("approved_episodes", [])
    if not isinstance(value, list):
        raise _payload_error(entry, "payload.approved_episodes must be a list")
    pairs: list[tuple[str, str]] = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
        ):
            raise _payload_error(
                entry, "payload.approved_episodes must hold [task_subdir, episode] pairs"
            )
        pairs.append((item[0], item[1]))
    return pairs


def _eval_hash(entry: LedgerEntry, required: bool) -> str | None:
    value = entry.payload.get("eval_hash")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _payload_error(entry, "payload.eval_hash must be a hash string")
    return value


def _decline(entry: LedgerEntry) -> Decline:
    key = entry.payload.get("delta_key")
    if not isinstance(key, str):
        raise _payload_error(entry, "payload.delta_key must be a string")
    return Decline(
        seq=entry.seq,
        by=entry.actor,
        at=entry.ts,
        note=entry.note,
        delta_key=key,
        alert_keys=_str_list(entry, "alert_keys"),
    )


def human_state(entries: Sequence[LedgerEntry]) -> HumanState:
    """Everything the gates need from the ledger, replayed in seq order."""
    approved: dict[tuple[str, str], None] = {}  # an ordered set
    ended: dict[str, None] = {}
    approvals = 0
    last_approval: LedgerEntry | None = None
    pin: Pin | None = None
    open_reports: list[RegressionReport] = []
    acks: dict[str, Ack] = {}
    last_decline: Decline | None = None
    pending: ApprovalRequest | None = None
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.kind in ("approval", "decline"):
            # Either answers a pending request; an approval also ends what was declined.
            pending = None
            last_decline = _decline(entry) if entry.kind == "decline" else None
        if entry.kind == "request":
            pending = ApprovalRequest(seq=entry.seq, by=entry.actor, at=entry.ts, note=entry.note)
        elif entry.kind == "approval":
            approvals += 1
            last_approval = entry
            for episode in _episode_list(entry):
                approved.setdefault(episode, None)
            for key in _str_list(entry, "ended_alert_keys"):
                ended.setdefault(key, None)
            eval_hash = _eval_hash(entry, required=False)
            if eval_hash is not None:
                pin = Pin(hash=eval_hash, by=entry.actor, at=entry.ts, kind="approval")
            # An approval retrains on whatever was reported: those reports are answered.
            open_reports = []
        elif entry.kind == "pin":
            pin = Pin(
                hash=_eval_hash(entry, required=True) or "",
                by=entry.actor,
                at=entry.ts,
                kind="pin",
            )
        elif entry.kind == "report":
            open_reports.append(
                RegressionReport(seq=entry.seq, by=entry.actor, at=entry.ts, note=entry.note)
            )
        elif entry.kind == "ack":
            for key in _str_list(entry, "alert_keys"):
                # Re-inserting keeps the dict ordered by latest acknowledgement.
                acks.pop(key, None)
                acks[key] = Ack(alert_key=key, by=entry.actor, at=entry.ts, note=entry.note)
    return HumanState(
        approved_episodes=list(approved),
        approvals=approvals,
        last_approval_at=last_approval.ts if last_approval else None,
        last_approval_seq=last_approval.seq if last_approval else None,
        pin=pin,
        ended_alert_keys=list(ended),
        open_reports=open_reports,
        acks=list(acks.values()),
        last_decline=last_decline,
        pending_request=pending,
    )
