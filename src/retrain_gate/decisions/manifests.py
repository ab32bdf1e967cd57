"""Training-slice manifests: the CSV an approval writes, and the check that it is still the file
that was approved.

An approval entry records the manifest's path and the sha256 of its bytes, so the ledger binds
the decision to exactly the episodes the training job will read. `check` compares a manifest on
disk with that hash: a changed file is a failure (the job would train on something nobody
approved), a missing one only a warning (manifests are derived and can be regenerated, and a
state folder copied for an audit may not carry them).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl

from retrain_gate.decisions.ledger import LedgerEntry
from retrain_gate.errors import StateError
from retrain_gate.text import csv_cell

COLUMNS = ["task_subdir", "episode", "frames", "corrected_frames", "release"]
FOLDER = "approvals"

Status = Literal["ok", "changed", "missing"]


def text(table: pl.DataFrame) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in table.select(COLUMNS).iter_rows():
        writer.writerow([csv_cell("" if value is None else value) for value in row])
    return buffer.getvalue()


def write(state_dir: Path, content: str) -> tuple[Path, str]:
    """Write a new manifest durably; (its path, the sha256 of its bytes)."""
    folder = state_dir / FOLDER
    data = content.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"training-slice-{stamp}-{digest[:8]}.csv"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise StateError(
            f"{path}: cannot write the training-slice manifest ({exc.strerror}); "
            "nothing was recorded"
        ) from None
    return path, digest


@dataclass(frozen=True)
class ManifestCheck:
    seq: int  # the approval's ledger entry
    actor: str
    path: Path  # where the manifest is (or was expected)
    recorded_sha256: str
    status: Status
    actual_sha256: str | None = None

    def describe(self) -> str:
        head = f"entry {self.seq} ({self.actor}): {self.path}"
        if self.status == "ok":
            return f"{head}: sha256 matches the ledger ({self.recorded_sha256[:12]}…)"
        if self.status == "missing":
            return f"{head}: missing (the approval is intact; the file it wrote is gone)"
        return (
            f"{head}: CHANGED since it was approved (ledger {self.recorded_sha256[:12]}…, "
            f"file now {(self.actual_sha256 or '?')[:12]}…)"
        )


def recorded(entry: LedgerEntry) -> tuple[str, str] | None:
    """(path, sha256) an approval entry recorded for its manifest, or None."""
    if entry.kind != "approval":
        return None
    path, digest = entry.payload.get("manifest"), entry.payload.get("manifest_sha256")
    if isinstance(path, str) and isinstance(digest, str):
        return path, digest
    return None


def locate(stored: str, state_dir: Path) -> Path:
    """Where the manifest is now: the recorded path, or the same name in this state folder's
    approvals/ (a state folder moved or copied for an audit)."""
    path = Path(stored)
    if path.exists():
        return path
    moved = state_dir / FOLDER / path.name
    return moved if moved.exists() else path


def check(entry: LedgerEntry, state_dir: Path) -> ManifestCheck | None:
    found = recorded(entry)
    if found is None:
        return None
    stored, digest = found
    path = locate(stored, state_dir)
    try:
        with path.open("rb") as handle:
            actual = hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return ManifestCheck(entry.seq, entry.actor, path, digest, "missing")
    except OSError as exc:
        raise StateError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    status: Status = "ok" if actual == digest else "changed"
    return ManifestCheck(entry.seq, entry.actor, path, digest, status, actual)


def check_all(entries: Sequence[LedgerEntry], state_dir: Path) -> list[ManifestCheck]:
    return [c for c in (check(entry, state_dir) for entry in entries) if c is not None]
