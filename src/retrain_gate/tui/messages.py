"""What the service's threads and the workers tell the UI, as typed messages.

`post_message` is thread-safe and never blocks the poster, so the service's watcher and
housekeeping threads only ever call it. Messages that carry the latest state replace an
unprocessed predecessor (`can_replace`): after a burst of exports only the newest report is
drawn.
"""

from __future__ import annotations

from textual.message import Message

from retrain_gate.history import Outlook
from retrain_gate.live.events import Role
from retrain_gate.models import Report


class ReportReady(Message):
    """New figures from the core."""

    def __init__(self, report: Report, why: str = "", at: float = 0.0) -> None:
        super().__init__()
        self.report = report
        self.why = why
        self.at = at

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ReportReady)


class OutlookReady(Message):
    """The delta's history, rate and exports count for the latest report."""

    def __init__(self, outlook: Outlook) -> None:
        super().__init__()
        self.outlook = outlook

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OutlookReady)


class IngestProgress(Message):
    """An ingest is under way (stage, done, total)."""

    def __init__(self, stage: str, done: int, total: int) -> None:
        super().__init__()
        self.stage = stage
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, IngestProgress)


class Activity(Message):
    """A line for the activity log; `ingested` marks a successful ingest (header time)."""

    def __init__(
        self,
        text: str,
        at: float,
        *,
        level: str = "info",
        ingested: bool = False,
        ingest_done: bool = False,
    ) -> None:
        super().__init__()
        self.text = text
        self.at = at
        self.level = level  # "info" | "warning" | "error"
        self.ingested = ingested
        self.ingest_done = ingest_done


class RefusedFiles(Message):
    """Every file refused in its current form (path -> reason); empty when none are left. And
    the files ignored (not Label Studio files), listed on the same screen."""

    def __init__(self, refused: dict[str, str], ignored: dict[str, str] | None = None) -> None:
        super().__init__()
        self.refused = refused
        self.ignored = ignored or {}

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RefusedFiles)


class LedgerLine(Message):
    """A new ledger entry, written by this process or another (a CLI approval)."""

    def __init__(self, text: str, seq: int, at: float) -> None:
        super().__init__()
        self.text = text
        self.seq = seq
        self.at = at


class WatchState(Message):
    """The watcher's state: live, polling, folder_missing, stopped or error."""

    def __init__(self, status: str, text: str, at: float) -> None:
        super().__init__()
        self.status = status
        self.text = text
        self.at = at


class RoleChanged(Message):
    """Writer (this process watches and ingests) or following (another process does)."""

    def __init__(self, role: Role, text: str, at: float) -> None:
        super().__init__()
        self.role = role
        self.text = text
        self.at = at


class NotifyState(Message):
    """A notification's delivery: "info" (delivered) or "warning"/"error" (retrying, failed)."""

    def __init__(self, level: str, text: str, at: float) -> None:
        super().__init__()
        self.level = level
        self.text = text
        self.at = at
