"""One Label Studio export file (a JSON list of tasks, or one task) -> its frame table.

The file is split into the bytes of each task in one pass (msgspec, no Python objects), then
decoded a chunk of tasks at a time: memory stays near the file's size whatever its length,
progress is honest, and a read past its time limit stops between chunks.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import FileIO
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING

import msgspec

from retrain_gate.errors import ExportRefused
from retrain_gate.labelstudio.format import (
    Bytes,
    Refused,
    split_tasks,
    task_decoder,
    task_refusal,
)
from retrain_gate.labelstudio.frames import TaskColumns, TaskProblem, frame_table
from retrain_gate.labelstudio.predictions import stamped
from retrain_gate.text import plural

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
    raw: Bytes,
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
    raw: Bytes,
    path: Path,
    config: Config,
    progress: Progress | None = None,
    *,
    before_release: Callable[[], object] | None = None,
) -> TaskColumns:
    """The per-task columns of an export's bytes (refusals as `parse_export`). Nothing in them
    refers to `raw`. When `raw` comes from `read_releasable`, the pages of the
    tasks already read are given back to the system as the read goes, after `before_release`
    (which waits for anything else still reading the bytes)."""
    started = time.monotonic()
    limit = config.limits.max_read_seconds
    try:
        tasks = split_tasks(raw)
        decode = task_decoder(config.episodes.field, config.episodes.frames_field).decode
        columns = TaskColumns(config)
        spent = _SpentPages(raw, before_release) if isinstance(raw, mmap.mmap) else None
        for start in range(0, len(tasks), CHUNK):
            if progress is not None:
                progress(start, len(tasks))
            if time.monotonic() - started > limit:
                raise Refused(
                    f"reading it took longer than [limits] max_read_seconds = {limit:g} "
                    f"(stopped after {start:,} of {plural(len(tasks), 'task')}); it is read again "
                    "when it changes, or raise the limit"
                )
            chunk = tasks[start : start + CHUNK]
            for index, task_bytes in enumerate(chunk, start):
                try:
                    task = decode(task_bytes)
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    # the file's shape is asked of its bytes only while they are all there
                    whole = raw if start == 0 else None
                    raise task_refusal(whole, task_bytes, index, exc) from None
                columns.add(task)
            columns.seal()
            if spent is not None:
                spent.give_back(chunk)
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


class _SpentPages:
    """Gives the pages of tasks already read back to the system (`MADV_DONTNEED` on the
    private anonymous memory `read_releasable` filled), so that the file's bytes and the tables
    built from them are never both whole in memory: a read's peak is about one file's size.

    The tasks come in file order, each the bytes of one JSON object, and only whitespace and
    a comma lie between two of them: the next task starts at the next `{`."""

    def __init__(self, buffer: mmap.mmap, before_release: Callable[[], object] | None) -> None:
        self._buffer = buffer
        self._before_release = before_release
        self._end = 0  # where the last task read ends
        self._released = 0  # pages before this offset are given back

    def give_back(self, tasks: list[msgspec.Raw]) -> None:
        for task in tasks:
            start = self._buffer.find(b"{", self._end)
            if start < 0:  # not a list of objects: it was refused, or this is its last task
                return
            self._end = start + len(task)
        upto = min(self._end, len(self._buffer))
        upto -= upto % mmap.PAGESIZE
        if upto <= self._released:
            return
        if self._before_release is not None:
            self._before_release()
            self._before_release = None
        self._buffer.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
        self._released = upto


def parsed(
    path: Path, columns: TaskColumns, config: Config, arrival: tuple[int, str]
) -> ParsedExport:
    per_task, pending, predictions = columns.tables()
    frames = frame_table(per_task, config, arrival_mtime_ns=arrival[0], arrival_name=arrival[1])
    return ParsedExport(
        path,
        frames,
        len(columns),
        len(columns) - frames.height,
        stamped(pending, arrival),
        stamped(predictions, arrival),
    )


def read_file(path: Path, config: Config) -> tuple[bytes, int]:
    """A file's bytes and mtime, refusing what is too big or cannot be read."""
    raw, mtime_ns = _read(path, config, releasable=False)
    assert isinstance(raw, bytes)
    return raw, mtime_ns


def read_releasable(path: Path, config: Config) -> tuple[Bytes, int]:
    """As `read_file`, in memory whose pages `read_columns` gives back as it reads (where the
    system allows it)."""
    return _read(path, config, releasable=True)


def _read(path: Path, config: Config, *, releasable: bool) -> tuple[Bytes, int]:
    try:
        stat = os.stat(path)  # before opening: opening a FIFO would wait for a writer
        if not S_ISREG(stat.st_mode):
            raise ExportRefused(path, "not a regular file (a FIFO, socket or device); remove it")
        limit = config.limits.max_export_mb * 1024 * 1024
        if stat.st_size > limit:
            raise ExportRefused(
                path,
                f"{stat.st_size / 2**20:,.0f} MB is over [limits] max_export_mb = "
                f"{config.limits.max_export_mb:g}; raise the limit or export a filtered view",
            )
        if not releasable:  # a storage file: small, read whole (a plain read costs half)
            return _read_whole(path, stat.st_size), stat.st_mtime_ns
        with path.open("rb", buffering=0) as handle:
            raw = _memory(stat.st_size, releasable)
            got = _read_into(handle, raw)
            more = handle.read() if got == len(raw) else b""
            if got < len(raw) or more:  # it changed size since the stat: plain bytes
                raw = bytearray(memoryview(raw)[:got]) + (more or b"")
    except OSError as exc:
        raise unreadable(path, exc) from None
    return raw, stat.st_mtime_ns


def _read_whole(path: Path, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        # One byte more than the stat said: a shorter read is the end of a regular file; a
        # full one means it grew since the stat, and is read on to its end.
        chunks = [os.read(fd, size + 1)]
        while len(chunks[0]) > size and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


# Private anonymous memory: given back by `MADV_DONTNEED` (shared memory would keep the pages)
_RELEASABLE = hasattr(mmap, "MADV_DONTNEED") and hasattr(mmap, "MAP_ANONYMOUS")


def _memory(size: int, releasable: bool) -> Bytes:
    if releasable and _RELEASABLE and size > 0:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return bytearray(size)


def _read_into(handle: FileIO, raw: Bytes) -> int:
    view = memoryview(raw)
    got = 0
    try:
        while got < len(view):
            step = handle.readinto(view[got:])
            if not step:
                break
            got += step
    finally:
        view.release()
    return got


def unreadable(path: Path, exc: OSError) -> ExportRefused:
    if isinstance(exc, FileNotFoundError):
        return ExportRefused(path, "the file disappeared before it could be read")
    if isinstance(exc, IsADirectoryError):
        return ExportRefused(path, "this is a folder, not an export file")
    if isinstance(exc, PermissionError):
        return ExportRefused(path, "no permission to read this file; fix its permissions")
    return ExportRefused(path, f"cannot read the file ({exc.strerror})")
