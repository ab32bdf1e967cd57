"""What the store remembers of each export file (`state_dir/ingested.json`): path, size and
mtime (an unchanged file is not read again), content hash (the same content under another
name counts once), and the read settings the frames were made with (frames made under other
settings are never shown as current)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REGISTRY_FILE = "ingested.json"
REGISTRY_VERSION = 2  # 2: the read settings are recorded

Outcome = Literal["ingested", "duplicate", "unchanged", "refused", "ignored", "removed"]


@dataclass
class FileRecord:
    size: int
    mtime_ns: int
    sha256: str
    outcome: Outcome
    reason: str = ""
    frames: int = 0
    at: float = field(default_factory=time.time)
    # a per-annotation storage file: the frame [project, task id] whose annotation it holds
    frame: list[Any] | None = None


@dataclass
class Registry:
    settings: dict[str, Any] | None  # None: unknown (no registry, or an older one)
    files: dict[str, FileRecord]


def read_registry(path: Path) -> Registry:
    """The records of `ingested.json`; empty when it is missing or damaged (files are then
    read again, and merging them again changes nothing)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != REGISTRY_VERSION:
            return Registry(None, {})
        files = {key: FileRecord(**value) for key, value in data["files"].items()}
        settings = data["settings"]
        return Registry(settings if isinstance(settings, dict) else None, files)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return Registry(None, {})


def registry_json(settings: dict[str, Any], files: dict[str, FileRecord]) -> str:
    # msgspec encodes the records as they are (a folder holds tens of thousands of them, and
    # this is written once a batch); imported here, once something was ingested, so that a
    # `check` with nothing new never loads it
    import msgspec

    payload = {"version": REGISTRY_VERSION, "settings": settings, "files": files}
    return msgspec.json.encode(payload).decode("utf-8")


def known_record(
    records: dict[str, FileRecord], path: Path, size: int, mtime_ns: int
) -> FileRecord | None:
    """The record of `path` when the file is unchanged since (same size and mtime)."""
    record = records.get(str(path))
    if record is not None and record.size == size and record.mtime_ns == mtime_ns:
        return record
    return None
