"""What the live service has to say: one small frozen dataclass per thing that happens.

The service calls one callback with these, from its own threads; the dashboard turns each
into a Textual message and `watch` prints it. Consumers dispatch on the type. The `text` of an
event is for people only: nothing decides anything by reading it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from retrain_gate.models import Report
from retrain_gate.store import IngestResult
from retrain_gate.text import plural

Role = Literal["writer", "following", "starting", "stopped"]
WatchStatus = Literal["live", "polling", "folder_missing", "stopped", "error"]
WatchNoteKind = Literal["still_changing", "vanished", "error", "rescan"]


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class _Said:
    """An event that is only a line for a person."""

    text: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class ReportChanged:
    """New figures (the decision, the gates, the alerts): `why` says what prompted them."""

    report: Report
    why: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class _FileEvent:
    result: IngestResult
    text: str  # the line for a person: `file_event` names paths as the config shows them
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class Ingested(_FileEvent):
    """An export or storage file was read: new or changed frames (or none)."""


@dataclass(frozen=True)
class Skipped(_FileEvent):
    """A file was looked at and left out: the same bytes as one already read, or ignored."""


@dataclass(frozen=True)
class Refused(_FileEvent):
    """A file was refused in its current form (the reason is in `result.reason`)."""


@dataclass(frozen=True)
class Removed(_FileEvent):
    """A per-annotation storage file left the folder, and its annotation with it."""


FileEvent = Ingested | Skipped | Refused | Removed


def file_event(
    result: IngestResult, at: float | None = None, *, shown: Callable[[Path | str], str] = str
) -> FileEvent:
    """The event for what an ingest or a removal did to one file; `shown` names its path
    (config.paths.shown: a bucket's files by their URL, not their copy in the mirror)."""
    stamp = _now() if at is None else at
    text = result.describe(shown)
    if result.outcome == "ingested":
        return Ingested(result, text, at=stamp)
    if result.outcome == "refused":
        return Refused(result, text, at=stamp)
    if result.outcome == "removed":
        return Removed(result, text, at=stamp)
    return Skipped(result, text, at=stamp)


# A catch-up or a storage "Sync" hands over thousands of files at once: past this many, a
# batch is said in one line, not one line per file (a refused file keeps its own line).
FILE_LINES = 10


@dataclass(frozen=True)
class BatchRead:
    """Many files read in one batch: what they did, counted, in one line."""

    files: int
    ingested: bool  # frames came or went: the time of the last ingest moves
    text: str
    at: float = field(default_factory=_now, kw_only=True)


def batch_events(
    results: Iterable[IngestResult], *, shown: Callable[[Path | str], str] = str
) -> list[FileEvent | BatchRead]:
    """The events for one batch's results: one per file for a few files, else one `BatchRead`
    and an event for each refused file."""
    said = [r for r in results if r.outcome != "unchanged"]
    others = [r for r in said if r.outcome != "refused"]
    if len(others) <= FILE_LINES:
        return [file_event(r, shown=shown) for r in said]
    refused: list[FileEvent | BatchRead] = [
        file_event(r, shown=shown) for r in said if r.outcome == "refused"
    ]
    return [BatchRead(len(others), _batch_ingested(others), _batch_text(others)), *refused]


def _batch_ingested(results: list[IngestResult]) -> bool:
    return any(r.outcome in ("ingested", "removed") for r in results)


def _batch_text(results: list[IngestResult]) -> str:
    def of(outcome: str) -> list[IngestResult]:
        return [r for r in results if r.outcome == outcome]

    parts = []
    if ingested := of("ingested"):
        frames = sum(r.frames for r in ingested)
        new = sum(r.new_frames for r in ingested)
        changed = sum(r.changed_frames for r in ingested)
        parts.append(
            f"ingested {plural(len(ingested), 'file')}: {plural(frames, 'frame')}, "
            f"{new:,} new, {changed:,} changed"
        )
    if removed := of("removed"):
        changed = sum(r.changed_frames for r in removed)
        parts.append(
            f"removed {plural(len(removed), 'file')}: their versions leave the figures "
            f"({changed:,} changed)"
        )
    if duplicate := of("duplicate"):
        parts.append(
            f"skipped {plural(len(duplicate), 'file')}: the same content as files already ingested"
        )
    if ignored := of("ignored"):
        parts.append(
            f"ignored {plural(len(ignored), 'file')} without an extension that "
            f"{'is' if len(ignored) == 1 else 'are'} not Label Studio storage files"
        )
    return "; ".join(parts)


@dataclass(frozen=True)
class RefusedFiles:
    """Every file refused in its current form, and every file ignored (not a Label Studio
    file), path -> reason; each empty when none are left."""

    refused: Mapping[str, str]
    ignored: Mapping[str, str]
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class SettingsChanged(_Said):
    """The read settings differ from those the stored frames were made with: all is read
    again."""


@dataclass(frozen=True)
class ConfigEdited(_Said):
    """The config file changed (or left) after the service started with it: the settings in
    use stay those it started with until a restart; `text` says whether the new file is
    usable."""


@dataclass(frozen=True)
class NothingNew(_Said):
    """Files handed over (a catch-up at start, a touch, a storage "Sync" that rewrites every
    file) held exactly what was read from them before: the figures stand."""


@dataclass(frozen=True)
class NothingMapped(_Said):
    """Frames were read, but the pattern maps none of them to an episode (what `check` says)."""


@dataclass(frozen=True)
class PullStarted:
    """A snapshot is being pulled from Label Studio (by hand, or on `pull_minutes`)."""

    text: str
    scheduled: bool = False
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class PullNotice(_Said):
    """What a pull says that must stay on screen: a warning, a file it kept or renamed."""


@dataclass(frozen=True)
class PullDone:
    name: str  # the snapshot's file name in the export folder
    at: float = field(default_factory=_now, kw_only=True)

    @property
    def text(self) -> str:
        return f"pulled {self.name}; it is read like any export"


@dataclass(frozen=True)
class PullFailed:
    why: str
    at: float = field(default_factory=_now, kw_only=True)

    @property
    def text(self) -> str:
        return f"pull failed: {self.why}"


@dataclass(frozen=True)
class RoleChanged:
    """Writer (this process watches and ingests) or following (another process does)."""

    role: Role
    text: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class LedgerAppended:
    """A new ledger entry, written by this process or another (a CLI approval)."""

    seq: int
    text: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class AlertRaised:
    """A regression alert opened (the statistical one, or a person's report)."""

    key: str
    text: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class AlertEnded:
    key: str
    text: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class Progress:
    """An ingest or a pull is under way (`total` 0: no count known)."""

    stage: str
    done: int
    total: int
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class WatcherStatus:
    """The watcher's state changed: live, polling, folder_missing, stopped or error."""

    status: WatchStatus
    text: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class WatcherNote:
    """Something the watcher noticed about a file or a scan (not a change of state)."""

    kind: WatchNoteKind
    text: str
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class NotifyDelivered(_Said):
    """A line for a person."""


@dataclass(frozen=True)
class NotifyProblem:
    """A notification is retrying ("warning") or failed, or cannot be sent ("error")."""

    text: str
    level: Literal["warning", "error"]
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class BucketUnreachable:
    """The bucket named by `export_dir` cannot be listed or read: the figures are kept and the
    poller retries. `since`: when the outage began."""

    text: str
    since: float
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class BucketReachable:
    """The bucket answers again after `BucketUnreachable`; `status` is the watcher's own state,
    to be shown again."""

    text: str
    status: WatchStatus
    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class BucketSynced(_Said):
    """A poll of the bucket changed the mirror folder (what it downloaded or removed)."""


@dataclass(frozen=True)
class Problem(_Said):
    """Something went wrong that a person should see; the service keeps running."""


LiveEvent = (
    ReportChanged
    | Ingested
    | BatchRead
    | Skipped
    | Refused
    | Removed
    | RefusedFiles
    | SettingsChanged
    | ConfigEdited
    | NothingNew
    | NothingMapped
    | PullStarted
    | PullNotice
    | PullDone
    | PullFailed
    | RoleChanged
    | LedgerAppended
    | AlertRaised
    | AlertEnded
    | Progress
    | WatcherStatus
    | WatcherNote
    | NotifyDelivered
    | NotifyProblem
    | BucketUnreachable
    | BucketReachable
    | BucketSynced
    | Problem
)
Listener = Callable[[LiveEvent], None]
