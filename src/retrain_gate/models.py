"""The shapes that flow through the core: the frame table, human state, and the report.

Data flows one way: export file -> parsed frames (FRAME_SCHEMA) -> store -> metrics -> Report.
Field names of `Report` are those of `check --json` in docs/semantics.md.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

# One row per Label Studio task (a frame), after §1-§3 of docs/semantics.md are applied to it.
FRAME_SCHEMA: dict[str, pl.DataType] = {
    "project": pl.Int64(),  # task.project, null when absent
    "task_id": pl.Int64(),  # task.id
    "stamp": pl.String(),  # greatest of task.updated_at and annotations' updated_at/created_at
    "arrival_mtime_ns": pl.Int64(),  # the export file's mtime: ties on stamp go to the later file
    "arrival_name": pl.String(),  # the export file's name: ties on mtime
    "path": pl.String(),  # URL-decoded task.data[field], null when missing / not a string
    "task_subdir": pl.String(),  # null when unmapped
    "episode": pl.String(),  # null when unmapped
    "episode_frames": pl.Int64(),  # task.data[frames_field] when a positive int, else null
    "status": pl.String(),  # "reviewed" | "skipped" | "open"
    "has_source": pl.Boolean(),  # reviewed with a source prediction (§3 cases 1-3)
    "corrected": pl.Boolean(),
    "correction_unknown": pl.Boolean(),
    "release": pl.String(),  # source prediction's model_version, null when none
    "release_created_at": pl.String(),  # source prediction's created_at, null when unknown
}

FRAME_KEY = ["project", "task_id"]
EPISODE_KEY = ["task_subdir", "episode"]


def empty_frames() -> pl.DataFrame:
    return pl.DataFrame(schema=FRAME_SCHEMA)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


# List fields default to a plain `[]`, which pydantic copies for each instance. With
# `default_factory=list`, building the class inspects the signature of the builtin `list`,
# which parses its text signature with tokenize: a cost paid at every process's start-up.


# ---------------------------------------------------------------- human state (from the ledger)


class Pin(_Model):
    hash: str
    by: str
    at: str  # ISO 8601 UTC
    kind: Literal["pin", "approval"]


class RegressionReport(_Model):
    """A regression reported by hand (ledger kind `report`)."""

    seq: int
    by: str
    at: str
    note: str


class Ack(_Model):
    alert_key: str
    by: str
    at: str
    note: str = ""


class Decline(_Model):
    """A lead looked at the gate and said "not now" (ledger kind `decline`). `delta_key` and
    `alert_keys` are what was declined: the dashboard says so until either changes."""

    seq: int
    by: str
    at: str
    note: str
    delta_key: str
    alert_keys: list[str] = []


class ApprovalRequest(_Model):
    """An approval against WAIT waiting for a second, different approver (kind `request`)."""

    seq: int
    by: str
    at: str
    note: str


class HumanState(_Model):
    """Everything the ledger says that the gates depend on. Rebuilt from the ledger alone."""

    approved_episodes: list[tuple[str, str]] = []  # (task_subdir, episode)
    approvals: int = 0
    last_approval_at: str | None = None
    declined: Declined | None = None  # the decision stands; this is what a person said of it
    pending_approval: ApprovalRequest | None = None
    last_approval_seq: int | None = None
    pin: Pin | None = None
    # Statistical alert keys ("statistics:PREV->CUR") ended by an approval: never raised again.
    ended_alert_keys: list[str] = []
    open_reports: list[RegressionReport] = []  # reports with no approval after them
    acks: list[Ack] = []
    last_decline: Decline | None = None  # since the last approval
    pending_request: ApprovalRequest | None = None  # neither confirmed nor declined yet


# ---------------------------------------------------------------- the report (`check --json`)


class EvalStatus(_Model):
    status: Literal["missing", "unpinned", "pinned", "drifted"]
    current_hash: str | None
    pinned_hash: str | None
    pinned_by: str | None = None
    pinned_at: str | None = None
    path: str = ""


class ReleaseStats(_Model):
    model_version: str
    episodes: int
    corrected_frames: int
    cpe: float | None
    first_seen: str | None = None  # earliest created_at among its source predictions


class Regression(_Model):
    active: bool
    source: Literal["statistics", "report"] | None
    previous: str | None
    current: str | None
    p_value: float | None
    acknowledged_by: str | None
    acknowledged_at: str | None = None
    state: Literal["regression", "no_regression", "insufficient_data", "fewer_than_two_releases"]
    detail: str = ""
    alert_key: str | None = None
    reported_by: str | None = None
    report_note: str | None = None
    previous_cpe: float | None = None
    current_cpe: float | None = None


class FrameCounts(_Model):
    total: int
    reviewed: int
    skipped: int
    corrected: int
    unmapped: int
    correction_unknown: int
    # reviewed from a prediction known only by its id: no ingested file named its release
    release_unknown: int = 0


class EpisodeCounts(_Model):
    total: int
    harvested: int


class Unmapped(_Model):
    """What a person needs to fix unmapped frames (§2): which key to blame, and examples."""

    # "field": no unmapped frame has a string under task.data[field]; "pattern": some have a
    # path the pattern does not match. None when nothing is unmapped.
    key: Literal["field", "pattern"] | None = None
    without_path: int = 0  # unmapped frames with no string under task.data[field]
    examples: list[str] = []  # a few paths the pattern did not match, sorted
    every_frame: bool = False  # every frame is unmapped: a configuration error


class EpisodeExample(_Model):
    """One episode as the pattern found it, with one of its paths, to show a person."""

    task_subdir: str
    episode: str
    frames: int  # frames of it in the store
    path: str  # its first path, sorted


class MappingShape(_Model):
    """Signs that the episode mapping (§2) is nonsense, worded by render.mapping_warnings;
    every field empty when it looks sound."""

    upload_frames: int = 0  # mapped frames whose path is a Label Studio upload
    upload_example: EpisodeExample | None = None
    # an episode holding more than half of the mapped frames (with 3 episodes or more)
    dominant: EpisodeExample | None = None
    # every episode holds one frame (with 10 episodes or more): one of them
    single_frame: EpisodeExample | None = None


class TaskStats(_Model):
    """One row of the per-task table: how far each robot task is, and how good its
    pre-annotations are (corrections per harvested episode, over every release)."""

    task_subdir: str
    episodes: int
    harvested: int
    in_progress: int  # episodes not harvested yet
    delta: int  # harvested episodes no approval has taken in
    corrected_frames: int  # over the harvested episodes
    cpe: float | None  # corrected_frames / harvested, None with none harvested


class Gate(_Model):
    name: Literal["delta", "spread", "eval", "regression"]
    # None: the gate could not judge (regression with too few episodes or releases), which
    # must never read as a pass.
    passed: bool | None
    value: int | float | str | None
    threshold: int | float | str | None
    detail: str


class Backlog(_Model):
    """Work a new model would invalidate: not-yet-harvested episodes pre-annotated by the newest
    release (their open frames would need new pre-annotations)."""

    release: str | None
    episodes: int
    frames: int


class Declined(_Model):
    """The current delta and alerts were declined: by whom, when and why."""

    seq: int
    by: str
    at: str
    note: str


class Report(_Model):
    ready: bool
    reason: str
    corpus_episodes: int
    delta_episodes: int
    needed_episodes: int
    delta_fraction: float | None
    task_counts: dict[str, int]
    task_gini: float
    top_task_share: float
    eval: EvalStatus
    releases: list[ReleaseStats]
    regression: Regression
    frames: FrameCounts
    episodes: EpisodeCounts
    gates: list[Gate]
    # extras
    decision: Literal["READY", "WAIT", "REGRESSION"]
    top_task: str | None = None
    spread_tasks: list[str] = []
    backlog: Backlog | None = None
    approvals: int = 0
    last_approval_at: str | None = None
    declined: Declined | None = None  # the decision stands; this is what a person said of it
    pending_approval: ApprovalRequest | None = None
    unmapped: Unmapped = Unmapped()
    mapping: MappingShape = MappingShape()
    tasks: list[TaskStats] = []
