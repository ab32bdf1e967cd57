"""The ledger as people read it: `retrain-gate ledger`'s lines and CSV, `--json`, the news line
of the dashboard's Activity and `watch`, and the selection of a period for an audit.

Typed text (names, notes) is returned as recorded; the caller makes it printable for a
terminal (`text.printable`), and the CSV quotes cells a spreadsheet would run as formulas.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from retrain_gate.decisions.ledger import MEANINGS, LedgerEntry, canonical_json, gates_said
from retrain_gate.text import csv_cell, json_safe, plural, short_hash


def origin(entry: LedgerEntry) -> str:
    """Who recorded an entry, from where: `os_user@host`, and the browser when it came
    through `serve` (the OS user is then the one `serve` runs as, not the person's)."""
    via = entry.payload.get("via")
    return f"{entry.os_user}@{entry.host}" + (f" via the {via}" if isinstance(via, str) else "")


# In the order an auditor reads a signature: what it meant, who, when, from where, why; then
# what exactly was recorded, and the chain.
CSV_COLUMNS = (
    "seq",
    "meaning",
    "name",
    "time_utc",
    "os_user",
    "host",
    "reason",
    "details",
    "kind",
    "payload",
    "prev_hash",
    "hash",
)


def entries_to_csv(entries: Sequence[LedgerEntry], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        # The same JSON value, with bidi overrides and C1 controls (from task names in an
        # approval's figures) escaped: this is read in terminals and spreadsheets.
        payload = json_safe(canonical_json(entry.payload).decode("utf-8"))
        row = (
            entry.seq,
            entry.meaning,
            entry.actor,
            entry.ts,
            entry.os_user,
            entry.host,
            entry.reason,
            entry_details(entry),
            entry.kind,
            payload,
            entry.prev_hash,
            entry.hash,
        )
        writer.writerow([csv_cell(cell) for cell in row])


def entries_to_json(entries: Sequence[LedgerEntry]) -> list[dict[str, Any]]:
    """The entries as plain JSON values (for `--json`), exactly as stored."""
    return [entry.as_dict() for entry in entries]


def alert_words(key: str) -> str:
    """An alert key ("statistics:PREV->CUR", "report:SEQ") as a person would name the alert."""
    kind, _, rest = key.partition(":")
    if kind == "statistics" and "->" in rest:
        previous, _, current = rest.partition("->")
        return f"the regression alert on {current} (against {previous})"
    if kind == "report" and rest.isdigit():
        return f"the regression reported in #{rest}"
    return key


def entry_details(entry: LedgerEntry) -> str:
    """What exactly the entry recorded, beyond its meaning, in a few words."""
    p: dict[str, Any] = entry.payload
    if entry.kind in ("approval", "request"):
        episodes = p.get("approved_episodes")
        count = plural(len(episodes), "episode") if isinstance(episodes, list) else "? episodes"
        parts = [count]
        if p.get("override"):
            parts.append("against WAIT (override)")
        confirms = p.get("confirms_request")
        if isinstance(confirms, int):
            parts.append(f"confirms #{confirms} by {p.get('requested_by', '?')}")
        manifest = p.get("manifest")
        tail = f" → {Path(manifest).name}" if isinstance(manifest, str) else ""
        return ", ".join(parts) + tail
    if entry.kind == "decline":
        declines = p.get("declines_request")
        if isinstance(declines, int):
            return f"declines the request #{declines}"
        return gates_said(str(p.get("decision", "?")), str(p.get("reason", "?")))
    if entry.kind == "pin":
        value = p.get("eval_hash")
        return f"at {short_hash(value if isinstance(value, str) else None)}"
    if entry.kind == "ack":
        keys = p.get("alert_keys")
        return "; ".join(alert_words(str(k)) for k in keys) if isinstance(keys, list) else "?"
    return ""


def entry_summary(entry: LedgerEntry) -> str:
    """One decision as one phrase: what it meant and what it recorded, in words
    ("pinned the eval set at 36989d10"). A note can follow it after a colon, so the phrase
    itself has none between the meaning and the details."""
    details = entry_details(entry)
    p: dict[str, Any] = entry.payload
    if entry.meaning != MEANINGS[entry.kind]:
        # A meaning recorded in other words than ours: keep them, details in brackets.
        return f"{entry.meaning} ({details})" if details else entry.meaning
    if entry.kind == "approval":
        return f"approved a retrain of {details}"
    if entry.kind == "request":
        episodes = p.get("approved_episodes")
        count = plural(len(episodes), "episode") if isinstance(episodes, list) else "? episodes"
        return f"requested a retrain of {count} against WAIT (needs a second approver)"
    if entry.kind == "pin":
        return f"pinned the eval set {details}"
    if entry.kind == "decline":
        declines = p.get("declines_request")
        if isinstance(declines, int):
            return f"declined the retrain requested in #{declines}"
        return f"declined a retrain when {details}"
    if entry.kind == "ack" and details != "?":
        return f"acknowledged {details}"
    return entry.meaning


def entry_line(entry: LedgerEntry) -> str:
    """`retrain-gate ledger`'s line: meaning, name, UTC time, OS user and host, reason, then
    what was recorded. Typed text is not yet made printable (the caller does)."""
    details = entry_details(entry)
    return (
        f"#{entry.seq:<4} {entry.meaning} · {entry.actor} · {entry.ts} · "
        f"{origin(entry)} · reason: {entry.reason}" + (f" · {details}" if details else "")
    )


def news_line(entry: LedgerEntry) -> str:
    """One entry as a line of news (the dashboard's Activity, `watch`): number, who (and from
    where), what, and the reason."""
    # The reason is the note, or "(no note...)" in brackets, which needs no colon before it.
    reason = f": {entry.note}" if entry.note else f" {entry.reason}"
    return f"ledger #{entry.seq}: {entry.actor} ({origin(entry)}) {entry_summary(entry)}{reason}"


def _period_bound(text: str, option: str, *, end: bool) -> datetime:
    """A day (YYYY-MM-DD, the whole day) or an ISO time; without a zone it is UTC."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{option} {text!r} is not a date; use YYYY-MM-DD or an ISO time such as "
            "2026-11-30T18:00Z (UTC unless a zone is given)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def in_period(
    entries: Sequence[LedgerEntry], since: str | None, until: str | None
) -> list[LedgerEntry]:
    """Entries from `since` (inclusive) to `until` (a day: through its end); `ValueError` for a
    bound that is not a date."""
    low = _period_bound(since, "--since", end=False) if since else None
    high = _period_bound(until, "--until", end=True) if until else None
    day_end = until is not None and len(until) == 10
    out = []
    for entry in entries:
        at = datetime.fromisoformat(entry.ts.replace("Z", "+00:00"))
        if low is not None and at < low:
            continue
        if high is not None and (at >= high if day_end else at > high):
            continue
        out.append(entry)
    return out
