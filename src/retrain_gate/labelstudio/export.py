"""One Label Studio export file (a JSON list of tasks, or one task) -> its frame table.

The file is split into the bytes of each task in one pass (msgspec, no Python objects), then
decoded a chunk of tasks at a time: memory stays near the file's size whatever its length,
progress is honest, and a read past its time limit stops between chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING

import msgspec

from retrain_gate.errors import ExportRefused
from retrain_gate.labelstudio.format import (
    Refused,
    refuse_by_name,
    split_tasks,
    task_decoder,
    task_refusal,
)
from retrain_gate.labelstudio.frames import TaskColumns, TaskProblem, frame_table
from retrain_gate.labelstudio.predictions import INDEX_SCHEMA, PENDING_SCHEMA, table

if TYPE_CHECKING:
    import polars as pl

    from retrain_gate.config import Config

Progress = Callable[[int, int], None]  # (tasks done, tasks in the file)

CHUNK = 2000  # tasks decoded at a time: a few MB of structs, and a progress step


@dataclass(frozen=True)
class ParsedExport:
    path: Path
    frames: pl.DataFrame  # FRAME_SCHEMA
    tasks: int  # tasks in the file, duplicates included
    duplicate_ids: int  # tasks whose (project, id) repeated inside the file
    pending: pl.DataFrame  # predictions.PENDING_SCHEMA: frames the index decides
    predictions: pl.DataFrame  # predictions.INDEX_SCHEMA: the file's prediction objects


def parse_export(
    raw: bytes | bytearray,
    path: Path,
    config: Config,
    *,
    mtime_ns: int,
    progress: Progress | None = None,
) -> ParsedExport:
    """The frames of an export's bytes; raise `ExportRefused` naming the file when it is not
    a usable Label Studio JSON export, or when reading it takes longer than
    `[limits] max_read_seconds`."""
    columns = read_columns(raw, path, config, progress)
    return parsed(path, columns, config, (mtime_ns, path.name))


def read_columns(
    raw: bytes | bytearray, path: Path, config: Config, progress: Progress | None = None
) -> TaskColumns:
    """The per-task columns of an export's bytes (refusals as `parse_export`). Nothing in them
    refers to `raw`: a caller that drops its bytes now builds the tables without them."""
    started = time.monotonic()
    limit = config.limits.max_read_seconds
    try:
        tasks = split_tasks(raw)
        decode = task_decoder(config.episodes.field, config.episodes.frames_field).decode
        columns = TaskColumns(config)
        for start in range(0, len(tasks), CHUNK):
            if progress is not None:
                progress(start, len(tasks))
            if time.monotonic() - started > limit:
                raise Refused(
                    f"reading it took longer than [limits] max_read_seconds = {limit:g} "
                    f"(stopped after {start:,} of {len(tasks):,} tasks); it is read again "
                    "when it changes, or raise the limit"
                )
            for index in range(start, min(start + CHUNK, len(tasks))):
                try:
                    task = decode(tasks[index])
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    raise task_refusal(raw, index, exc) from None
                columns.add(task)
        del tasks
    except Refused as exc:
        raise ExportRefused(path, exc.reason) from None
    except TaskProblem as exc:
        raise ExportRefused(path, f"not a usable Label Studio JSON export ({exc})") from None
    except RecursionError:
        raise ExportRefused(
            path, "the JSON is nested too deeply to be a Label Studio export; re-export it"
        ) from None
    if progress is not None:
        progress(len(columns), len(columns))
    return columns


def parsed(
    path: Path, columns: TaskColumns, config: Config, arrival: tuple[int, str]
) -> ParsedExport:
    frames = frame_table(
        columns.columns(), config, arrival_mtime_ns=arrival[0], arrival_name=arrival[1]
    )
    return ParsedExport(
        path,
        frames,
        len(columns),
        len(columns) - frames.height,
        table(columns.pending, PENDING_SCHEMA, arrival),
        table(columns.predictions, INDEX_SCHEMA, arrival),
    )


def read_export(
    path: Path,
    config: Config,
    *,
    raw: bytes | bytearray | None = None,
    mtime_ns: int | None = None,
    progress: Progress | None = None,
) -> ParsedExport:
    """Read and parse one export file; raise `ExportRefused` when it is not usable."""
    by_name = refuse_by_name(path)
    if by_name:
        raise ExportRefused(path, by_name)
    if raw is None or mtime_ns is None:
        raw, mtime_ns = read_file(path, config)
    return parse_export(raw, path, config, mtime_ns=mtime_ns, progress=progress)


def read_file(path: Path, config: Config) -> tuple[bytearray, int]:
    """A file's bytes and mtime, refusing what is too big or cannot be read."""
    try:
        stat = path.stat()  # before opening: opening a FIFO would wait for a writer
        if not S_ISREG(stat.st_mode):
            raise ExportRefused(path, "not a regular file (a FIFO, socket or device); remove it")
        limit = config.limits.max_export_mb * 1024 * 1024
        if stat.st_size > limit:
            raise ExportRefused(
                path,
                f"{stat.st_size / 2**20:,.0f} MB is over [limits] max_export_mb = "
                f"{config.limits.max_export_mb:g}; raise the limit or export a filtered view",
            )
        with path.open("rb", buffering=0) as handle:
            raw = bytearray(stat.st_size)
            got = handle.readinto(raw) or 0
            if got < len(raw):  # it shrank since the stat
                del raw[got:]
            else:  # or it grew
                raw += handle.read() or b""
    except OSError as exc:
        raise unreadable(path, exc) from None
    return raw, stat.st_mtime_ns


def unreadable(path: Path, exc: OSError) -> ExportRefused:
    if isinstance(exc, FileNotFoundError):
        return ExportRefused(path, "the file disappeared before it could be read")
    if isinstance(exc, IsADirectoryError):
        return ExportRefused(path, "this is a folder, not an export file")
    if isinstance(exc, PermissionError):
        return ExportRefused(path, "no permission to read this file; fix its permissions")
    return ExportRefused(path, f"cannot read the file ({exc.strerror})")
