"""Decoding and reading one large export in two processes (the machine has two cores).

The JSON decode and the per-task Python hold the GIL, so threads cannot share the work. The
bytes are split into two task lists at a boundary between two top-level tasks; a forked child
hashes the whole file (before touching anything), then decodes and reads the second list;
this process does the first; the child's columns come back through a pipe.

No copy of the bytes is made: each process turns the comma at the boundary into the bracket
its half needs (`]` here, `[` in the child's copy-on-write copy) and decodes a view. The
split cannot change a figure: a boundary is only used when both halves decode as task lists,
which happens only when it lies between two top-level tasks. Anything unexpected (a failed
half, a bad task, a child that dies) returns None, and the caller reads the file the ordinary
way, which also gives the ordinary refusal message.

Fork is only used where it is safe: on Linux, in a process with a single thread (`check`, and
the long-lived loader process of `watch` and the TUI). The child never touches polars (whose
thread pool does not survive a fork), never imports, and leaves with `os._exit`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any

import msgspec

from retrain_gate.config import Config
from retrain_gate.exports import Progress, TaskProblem, task_columns, task_decoder

# Below this size a file is read in one process: a fork and a pipe cost more than they save.
MIN_BYTES = 32 * 1024 * 1024
# The share of the bytes this process decodes: the child also hashes the whole file.
OWN_SHARE = 0.56
# How far past the target offset to look for a boundary before giving up.
SEARCH_BYTES = 4 * 1024 * 1024

_WHITESPACE = b" \t\r\n"
_OPEN, _CLOSE, _COMMA, _BRACE = ord("["), ord("]"), ord(","), ord("{")


@dataclass(frozen=True)
class Halves:
    columns: dict[str, list[Any]]  # task_columns of every task, in file order
    tasks: int
    digest: str | None  # sha256 of the file, when asked for


def available() -> bool:
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


def find_boundary(raw: bytearray, start: int, config: Config) -> int | None:
    """The offset of a comma between two top-level tasks at or after `start`, or None.

    A candidate is a comma followed by an object that decodes as one task with bytes after it
    ("trailing characters"): a region, prediction or annotation fails that at once (no `data`,
    or an `id` that is a string). A task-shaped object nested deeper can pass; the first half's
    decode then fails, and the caller falls back.
    """
    one = task_decoder(config, many=False)
    view = memoryview(raw)
    end = min(len(raw), start + SEARCH_BYTES)
    at = start
    while True:
        comma = raw.find(b",", at, end)
        if comma < 0:
            return None
        brace = comma + 1
        while brace < len(raw) and raw[brace] in _WHITESPACE:
            brace += 1
        if brace < len(raw) and raw[brace] == _BRACE:
            try:
                one.decode(view[brace:])
            except msgspec.DecodeError as exc:
                if "trailing characters" in str(exc):
                    return comma
            except (msgspec.ValidationError, RecursionError):
                pass
        at = comma + 1


def read_in_two(
    raw: bytearray, config: Config, *, want_digest: bool, progress: Progress | None = None
) -> Halves | None:
    """Both halves' task columns (and the file's sha256 when `want_digest`), or None when the
    file should be read the ordinary way."""
    if len(raw) < MIN_BYTES or not available() or raw[:1] != b"[":
        return None
    comma = find_boundary(raw, int(len(raw) * OWN_SHARE), config)
    if comma is None:
        return None
    many = task_decoder(config, many=True)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        _child(raw, comma, config, many, write_fd, want_digest)
    os.close(write_fd)
    raw[comma] = _CLOSE
    try:
        mine: dict[str, list[Any]] | None
        try:
            tasks = many.decode(memoryview(raw)[: comma + 1])
            mine = task_columns(tasks, config, progress) if tasks else None
            count = len(tasks)
            del tasks
        except (msgspec.DecodeError, msgspec.ValidationError, TaskProblem, RecursionError):
            mine = None
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # its half is of no use now
        theirs = _collect(read_fd, pid)
    finally:
        raw[comma] = _COMMA
    if mine is None or theirs is None:
        return None
    their_columns, their_count, digest = theirs
    columns = {name: values + their_columns[name] for name, values in mine.items()}
    return Halves(columns, count + their_count, digest)


def _child(
    raw: bytearray,
    comma: int,
    config: Config,
    many: msgspec.json.Decoder[Any],
    write_fd: int,
    want_digest: bool,
) -> None:
    status = 1
    try:
        # The hash first, while this copy of the bytes is still the file's.
        digest = hashlib.sha256(raw).hexdigest() if want_digest else None
        raw[comma] = _OPEN
        tasks = many.decode(memoryview(raw)[comma:])
        payload = pickle.dumps(
            (task_columns(tasks, config), len(tasks), digest), protocol=pickle.HIGHEST_PROTOCOL
        )
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        status = 0
    except BaseException:  # anything (even Ctrl-C): the parent reads the file itself
        pass
    finally:
        os._exit(status)


def _collect(read_fd: int, pid: int) -> tuple[dict[str, list[Any]], int, str | None] | None:
    with os.fdopen(read_fd, "rb") as stream:
        data = stream.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return None
    with contextlib.suppress(Exception):
        result: tuple[dict[str, list[Any]], int, str | None] = pickle.loads(data)
        return result
    return None
