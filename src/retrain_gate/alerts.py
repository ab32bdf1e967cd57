"""When acknowledged statistical alerts were seen to end (§7: "it may then be raised again").

An acknowledgement is recorded in the ledger for an alert key (`statistics:PREV->NEW`). If
the condition stops holding and later holds again for the same pair, that is a new alert,
and the old acknowledgement must not silence it. The ledger cannot tell: the condition is a
function of the exports, not of a human decision. So every evaluation that sees an
acknowledged alert no longer active records the moment here (`alerts.json` in state_dir),
and an acknowledgement made before that moment no longer counts.

This file is an observation, not a decision: without it (a fresh state folder) every
acknowledgement counts, as before, and the figures are otherwise the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from retrain_gate.models import HumanState, Report

FILE_NAME = "alerts.json"
_STATISTICS = "statistics:"


def instant(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts)
    except ValueError:
        return None


def ended_after(ack_at: str, ended_at: str | None) -> bool:
    """True when the alert was seen to end at or after the acknowledgement was made."""
    if ended_at is None:
        return False
    ack, ended = instant(ack_at), instant(ended_at)
    return ack is not None and ended is not None and ack <= ended


def observe_ends(
    report: Report, human: HumanState, ends: Mapping[str, str], now: str
) -> dict[str, str] | None:
    """The new end times when this report shows an acknowledged statistical alert no longer
    active (None when nothing changed). Only keys with an acknowledgement are kept, so the
    record is bounded by the ledger."""
    active = report.regression.alert_key if report.regression.active else None
    latest: dict[str, str] = {}
    for ack in human.acks:  # in ledger order: the last one per key is the current one
        if ack.alert_key.startswith(_STATISTICS):
            latest[ack.alert_key] = ack.at
    updated = {key: at for key, at in ends.items() if key in latest}
    for key, ack_at in latest.items():
        if key != active and not ended_after(ack_at, updated.get(key)):
            updated[key] = now
    return updated if updated != dict(ends) else None


def load(state_dir: Path) -> dict[str, str]:
    """The recorded end times; an unreadable file counts as none (it is only an observation)."""
    try:
        data = json.loads((state_dir / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    ends = data.get("ended_at") if isinstance(data, dict) else None
    if not isinstance(ends, dict):
        return {}
    return {k: v for k, v in ends.items() if isinstance(k, str) and isinstance(v, str)}


def dumps(ends: Mapping[str, str]) -> str:
    return json.dumps({"ended_at": dict(sorted(ends.items()))}, ensure_ascii=False, indent=1)
