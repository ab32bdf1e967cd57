"""Plain-text renderings of a `Report`, shared by `check`, `watch` and the ledger views.

Every untrusted string (task names, releases, names, notes) goes through `printable`.
"""

from __future__ import annotations

from retrain_gate.models import Gate, Report
from retrain_gate.text import printable


def headline(report: Report) -> str:
    return f"{report.decision:<6} {printable(report.reason)}"


def gate_line(gate: Gate) -> str:
    verdict = "pass" if gate.passed else "FAIL"
    if gate.name == "regression":
        verdict = {True: "ok", False: "ALERT", None: "unknown"}[gate.passed]
    return f"  {gate.name:<11} {verdict:<5}  {printable(gate.detail)}"


def frame_summary(report: Report) -> str:
    f = report.frames
    parts = [
        f"{f.total:,} frames",
        f"{f.reviewed:,} reviewed",
        f"{f.skipped:,} skipped",
        f"{f.corrected:,} corrected",
    ]
    if f.unmapped:
        parts.append(f"{f.unmapped:,} unmapped (path not matched by [episodes] pattern)")
    if f.correction_unknown:
        parts.append(f"{f.correction_unknown:,} with corrections unknown")
    e = report.episodes
    return (
        "  "
        + ", ".join(parts)
        + f"; {e.total:,} episodes, {e.harvested:,} harvested, corpus {report.corpus_episodes:,}"
    )


def report_lines(report: Report) -> list[str]:
    lines = [headline(report)]
    lines.extend(gate_line(gate) for gate in report.gates)
    lines.append(frame_summary(report))
    return lines


def gate_state(report: Report) -> tuple[str, ...]:
    """What `watch` compares to decide whether something worth a line changed."""
    return (
        report.decision,
        report.reason,
        *(f"{g.name}:{g.passed}:{g.detail}" for g in report.gates),
    )
