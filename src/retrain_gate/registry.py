"""What the store remembers of each export file (`state_dir/ingested.json`): path, size and
mtime (an unchanged file is not read again) and content hash (the same content under another
name counts once). Kept apart from store.py, which needs polars, so that `check` can look
for new exports before polars is imported (readahead.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REGISTRY_FILE = "ingested.json"
REGISTRY_VERSION = 1

Outcome = Literal["ingested", "duplicate", "unchanged", "refused"]


@dataclass
class FileRecord:
    size: int
    mtime_ns: int
    sha256: str
    outcome: Outcome
    reason: str = ""
    frames: int = 0
    at: float = field(default_factory=time.time)


def read_registry(path: Path) -> dict[str, FileRecord]:
    """The records of `ingested.json`; empty when it is missing or damaged (files are then
    read again, and merging them again changes nothing)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != REGISTRY_VERSION:
            return {}
        return {key: FileRecord(**value) for key, value in data["files"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def known_record(
    records: dict[str, FileRecord], path: Path, size: int, mtime_ns: int
) -> FileRecord | None:
    """The record of `path` when the file is unchanged since (same size and mtime)."""
    record = records.get(str(path))
    if record is not None and record.size == size and record.mtime_ns == mtime_ns:
        return record
    return None
