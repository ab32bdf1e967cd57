"""Plain-text renderings of a `Report`, shared by `check`, `watch` and the ledger views.

Every untrusted string (task names, releases, names, notes) goes through `printable`.
"""

from __future__ import annotations

from retrain_gate.config import Config
from retrain_gate.decisions.names import NOTE_MAX
from retrain_gate.models import EpisodeExample, Gate, Regression, Report
from retrain_gate.text import decision_reason, plural, printable


def headline(report: Report) -> str:
    return f"{report.decision:<6} {printable(decision_reason(report.decision, report.reason))}"


# The widest verdict: the columns after it line up whatever the verdict.
VERDICT_WIDTH = 7


def gate_verdict(gate: Gate, regression: Regression | None = None) -> str:
    """pass / FAIL; for regression ok / ALERT, or, when it could not judge, `n/a` (fewer than
    two releases: not applicable yet) or `unknown` (too few episodes to compare)."""
    if gate.name != "regression":
        return "pass" if gate.passed else "FAIL"
    if gate.passed is None:
        applicable = regression is None or regression.state != "fewer_than_two_releases"
        return "unknown" if applicable else "n/a"
    return "ok" if gate.passed else "ALERT"


def gate_line(gate: Gate, regression: Regression | None = None) -> str:
    verdict = gate_verdict(gate, regression)
    return f"  {gate.name:<11} {verdict:<{VERDICT_WIDTH}}  {printable(gate.detail)}"


def frame_summary(report: Report) -> str:
    f = report.frames
    parts = [
        plural(f.total, "frame"),
        f"{f.reviewed:,} reviewed",
        f"{f.skipped:,} skipped",
        f"{f.corrected:,} corrected",
    ]
    if f.unmapped:
        parts.append(f"{f.unmapped:,} unmapped (see below)")
    if f.correction_unknown:
        parts.append(f"{f.correction_unknown:,} with corrections unknown")
    e = report.episodes
    return (
        "  "
        + ", ".join(parts)
        + f"; {plural(e.total, 'episode')}, {e.harvested:,} harvested, "
        + f"corpus {report.corpus_episodes:,}"
    )


def decided_lines(report: Report) -> list[str]:
    """What people said of the current figures: a decline, an approval awaiting a second."""
    lines = []
    if report.declined is not None:
        d = report.declined
        lines.append(
            f"  declined by {printable(d.by)} at {d.at}: {printable(d.note, limit=NOTE_MAX)} "
            "(until the delta or the alert changes)"
        )
    if report.pending_approval is not None:
        r = report.pending_approval
        lines.append(
            f"  approval requested by {printable(r.by)} at {r.at}: "
            f"{printable(r.note, limit=NOTE_MAX)}; waiting for a second approver "
            "(approve to confirm, decline to refuse)"
        )
    return lines


def unmapped_text(report: Report, config: Config) -> str:
    """Why frames are unmapped (§2), naming the key to fix, with examples; "" when none are."""
    unmapped = report.unmapped
    count = report.frames.unmapped
    if not count:
        return ""
    field = printable(config.episodes.field, limit=60)
    frames = plural(count, "frame")
    if unmapped.key == "field":
        return (
            f"{frames} unmapped: none has a path under task.data['{field}']; "
            "set [episodes] field to the key of task.data that holds the image path"
        )
    examples = ", ".join(printable(path, limit=120) for path in unmapped.examples)
    text = f"{frames} unmapped: [episodes] pattern does not match their paths, e.g. {examples}"
    if unmapped.without_path:
        verb = "has" if unmapped.without_path == 1 else "have"
        text += f"; {unmapped.without_path:,} {verb} no path under task.data['{field}']"
    return text


# What a pattern should find, shown in every warning that it found something else.
_SHOULD_CAPTURE = (
    "[episodes] pattern should capture the robot task as task_subdir and the recorded run as "
    "episode: e.g. .../pick_cube/ep_0007/f_0001.jpg gives task_subdir 'pick_cube', episode "
    "'ep_0007' (docs/sources.md shows the pattern for local files, cloud URLs and uploads)"
)


def _episode_words(example: EpisodeExample) -> str:
    return (
        f"task '{printable(example.task_subdir, limit=60)}', "
        f"episode '{printable(example.episode, limit=60)}' "
        f"(e.g. {printable(example.path, limit=120)})"
    )


def _key(example: EpisodeExample) -> tuple[str, str]:
    return example.task_subdir, example.episode


def mapping_findings(report: Report, config: Config) -> list[tuple[str, str]]:
    """Signs that `[episodes] pattern` maps frames, but to nonsense (§2; metrics finds them):
    Label Studio upload paths, one episode holding most frames, every episode holding one
    frame. Each as (what was found, with an example; what the pattern should capture), the
    second starting with its separator; empty when the mapping looks sound. `config` is the
    one the report was made with: its pattern is named."""
    shape = report.mapping
    pattern = printable(config.episodes.pattern, limit=120)
    findings = []
    upload = shape.upload_example
    if upload is not None:
        are = "is a Label Studio upload" if shape.upload_frames == 1 else "are Label Studio uploads"
        findings.append(
            (
                f"{plural(shape.upload_frames, 'frame')} {are}, mapped as {_episode_words(upload)}",
                f": [episodes] pattern = '{pattern}' took Label Studio's folder and project "
                "number for a task and an episode. An uploaded file keeps only its name, so name "
                "the files task__episode__frame.jpg before uploading and use pattern = "
                r"'/data/upload/\d+/[0-9a-f]+-(?P<task_subdir>.+?)__(?P<episode>.+?)__', "
                "or serve the frames from local files or cloud storage, which keep their folders; "
                + _SHOULD_CAPTURE,
            )
        )
    dominant = shape.dominant
    # When the upload is the dominant episode, the upload warning already names it.
    if dominant is not None and (upload is None or _key(upload) != _key(dominant)):
        mapped = report.frames.total - report.frames.unmapped
        findings.append(
            (
                f"one episode holds {dominant.frames * 100 // mapped}% of the mapped frames "
                f"({dominant.frames:,} of {mapped:,}): {_episode_words(dominant)}",
                f"; [episodes] pattern = '{pattern}' may capture a folder above the runs as the "
                f"episode. {_SHOULD_CAPTURE}",
            )
        )
    if shape.single_frame is not None:
        findings.append(
            (
                f"each of the {report.episodes.total:,} episodes holds one frame, e.g. "
                f"{_episode_words(shape.single_frame)}",
                f"; [episodes] pattern = '{pattern}' may capture the file name as the episode. "
                f"{_SHOULD_CAPTURE}",
            )
        )
    return findings


def mapping_warnings(report: Report, config: Config) -> list[str]:
    """`mapping_findings` as `check` prints them: one sentence each."""
    return [what + advice for what, advice in mapping_findings(report, config)]


def configuration_problem(report: Report, config: Config) -> str | None:
    """Every frame unmapped: nothing can be computed, so it is the config that is wrong."""
    if not report.unmapped.every_frame or not report.frames.total:
        return None
    key = "[episodes] field" if report.unmapped.key == "field" else "[episodes] pattern"
    where = f"{config.source}: " if config.source is not None else ""
    return f"{where}{key}: every frame is unmapped; {unmapped_text(report, config)}"


def report_lines(report: Report, config: Config | None = None) -> list[str]:
    lines = [headline(report), *decided_lines(report)]
    lines.extend(gate_line(gate, report.regression) for gate in report.gates)
    lines.append(frame_summary(report))
    if config is not None and report.frames.unmapped:
        lines.append(f"  {unmapped_text(report, config)}")
    if config is not None:
        lines.extend(f"  warning: {text}" for text in mapping_warnings(report, config))
    unknown = release_unknown_text(report)
    if unknown:
        lines.append(f"  {unknown}")
    return lines


def release_unknown_text(report: Report) -> str:
    """Frames reviewed from a prediction no ingested file showed as an object (target-storage
    files and the default export give only its id): say how many, and how to name them."""
    count = report.frames.release_unknown
    if not count:
        return ""
    return (
        f"releases unknown for {plural(count, 'reviewed frame')}: their predictions are known "
        "only by id; add a full snapshot to the export folder (Label Studio: Export, with "
        "predictions), or run `retrain-gate pull`"
    )


def gate_state(report: Report) -> tuple[str, ...]:
    """What `watch` compares to decide whether something worth a line changed."""
    return (
        report.decision,
        report.reason,
        *(f"{g.name}:{g.passed}:{g.detail}" for g in report.gates),
        *decided_lines(report),
    )
