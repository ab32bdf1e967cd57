"""Decoding and reading one large export in two processes (the machine has two cores).

The JSON decode and the per-task Python hold the GIL, so threads cannot share the work. The
bytes are split into two task lists at a boundary between two top-level tasks; a forked child
decodes and reads the second list while this process does the first. The child's columns come
back through a pipe first; then the child hashes the whole file while this process builds the
frame table, so the hash costs no wall time (hashing first made the child the slower half).

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
import gc
import hashlib
import mmap
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from retrain_gate.config import Config

from retrain_gate.exports import Progress, TaskProblem, columns_of, task_decoder

# Below this size a file is read in one process: a fork and a pipe cost more than they save.
MIN_BYTES = 32 * 1024 * 1024
# The share of the bytes this process decodes. The child hashes the file after its half,
# while this process unpickles the child's columns and builds the frame table.
OWN_SHARE = 0.55
# How far past the target offset to look for a boundary before giving up.
SEARCH_BYTES = 4 * 1024 * 1024

_WHITESPACE = b" \t\r\n"
_OPEN, _CLOSE, _COMMA, _BRACE = ord("["), ord("]"), ord(","), ord("{")


class Halves:
    """Both halves' task columns; `digest()` waits for the child's sha256 of the file."""

    def __init__(
        self, columns: dict[str, list[Any]], tasks: int, stream: IO[bytes], pid: int
    ) -> None:
        self.columns = columns  # task_columns of every task, in file order
        self.tasks = tasks
        self._stream: IO[bytes] | None = stream
        self._pid = pid
        self._digest: str | None = None

    def their_columns(self) -> tuple[dict[str, list[Any]], int] | None:
        assert self._stream is not None
        return _columns_from(self._stream)

    def digest(self) -> str | None:
        """The file's sha256 (None when it was not asked for or the child failed). Also
        reaps the child: call it (or `close`) once."""
        if self._stream is not None:
            with self._stream:
                text = self._stream.read()
            self._stream = None
            _, status = os.waitpid(self._pid, 0)
            if status == 0 and len(text) == _HEX_DIGEST:
                self._digest = text.decode("ascii")
        return self._digest

    def close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            self.digest()


_HEX_DIGEST = 64
_LENGTH = struct.Struct("!Q")


def available() -> bool:
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


def worth_splitting(size: int) -> bool:
    return size >= MIN_BYTES and available()


def find_boundary(raw: Buffer, start: int, config: Config) -> int | None:
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


Buffer = bytearray | mmap.mmap


def _whole(_end: int) -> bool:
    return True


def read_in_two(
    raw: Buffer,
    config: Config,
    *,
    want_digest: bool,
    progress: Progress | None = None,
    fill: Callable[[int], bool] = _whole,
) -> Halves | None:
    """Both halves' task columns (and, from `digest()`, the file's sha256 when `want_digest`),
    or None when the file should be read the ordinary way.

    `raw` is the file's size; `fill(end)` makes `raw[:end]` hold its bytes (False: the file
    changed). This process fills only up to the boundary; the child fills the rest into its
    own copy-on-write pages, so the two reads run side by side and the child's copy is the
    whole file for the hash."""
    split = Split.start(raw, config, want_digest=want_digest, fill=fill)
    return split.finish(progress) if split is not None else None


class Split:
    """A read in two begun: the child is reading its half, this process's half waits for
    `finish`. `check` begins one before importing polars (readahead.py) and finishes it
    when the store asks for the file; anything else finishes it at once (`read_in_two`)."""

    def __init__(self, raw: Buffer, comma: int, config: Config, halves: Halves) -> None:
        self._raw = raw
        self._comma = comma
        self._config = config
        self._halves: Halves | None = halves

    @classmethod
    def start(
        cls,
        raw: Buffer,
        config: Config,
        *,
        want_digest: bool,
        fill: Callable[[int], bool] = _whole,
        own_share: float = OWN_SHARE,
    ) -> Split | None:
        """Fill this process's part (`own_share` of the bytes), find the boundary and fork
        the child; None when the file should be read the ordinary way."""
        if not worth_splitting(len(raw)):
            return None
        start = int(len(raw) * own_share)
        # The window holds every candidate comma and the task after it (what find_boundary
        # decodes).
        if not fill(start + 2 * SEARCH_BYTES) or raw[:1] != b"[":
            return None
        comma = find_boundary(raw, start, config)
        if comma is None:
            return None
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(raw, comma, config, write_fd, want_digest, fill)
        os.close(write_fd)
        return cls(raw, comma, config, Halves({}, 0, os.fdopen(read_fd, "rb"), pid))

    def finish(self, progress: Progress | None = None) -> Halves | None:
        """This process's half read, the child's columns received: every task's columns,
        the digest still to come from the child (`Halves.digest`). None: read the file the
        ordinary way (the child is then gone)."""
        halves, self._halves = self._halves, None
        if halves is None:
            return None
        raw, comma = self._raw, self._comma
        raw[comma] = _CLOSE
        try:
            mine: dict[str, list[Any]] | None
            try:
                mine, count = columns_of(memoryview(raw)[: comma + 1], self._config, progress)
                if not count:  # a boundary always has a task on each side; this is not one
                    mine = None
            except (msgspec.DecodeError, msgspec.ValidationError, TaskProblem, RecursionError):
                mine = None
                halves.close()  # its half is of no use now
            theirs = halves.their_columns() if mine is not None else None
        except BaseException:
            halves.close()
            raise
        finally:
            raw[comma] = _COMMA
        if mine is None or theirs is None:
            halves.close()
            return None
        their_columns, their_count = theirs
        halves.columns = {name: values + their_columns[name] for name, values in mine.items()}
        halves.tasks = count + their_count
        return halves

    def close(self) -> None:
        """Give up before `finish`: the child is killed and reaped."""
        if self._halves is not None:
            self._halves.close()
            self._halves = None


def _child(
    raw: Buffer,
    comma: int,
    config: Config,
    write_fd: int,
    want_digest: bool,
    fill: Callable[[int], bool],
) -> None:
    status = 1
    gc.disable()  # as in the parent's read (exports.collector_paused); it leaves by os._exit
    try:
        with os.fdopen(write_fd, "wb") as out:
            if not fill(len(raw)):
                return  # the file changed: the parent reads it again
            raw[comma] = _OPEN
            payload = pickle.dumps(
                columns_of(memoryview(raw)[comma:], config), protocol=pickle.HIGHEST_PROTOCOL
            )
            out.write(_LENGTH.pack(len(payload)) + payload)
            out.flush()
            if want_digest:
                raw[comma] = _COMMA  # the file's own bytes again
                out.write(hashlib.sha256(raw).hexdigest().encode("ascii"))
        status = 0
    except BaseException:  # anything (even Ctrl-C): the parent reads the file itself
        pass
    finally:
        os._exit(status)


def _columns_from(stream: IO[bytes]) -> tuple[dict[str, list[Any]], int] | None:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    with contextlib.suppress(Exception):
        result: tuple[dict[str, list[Any]], int] = pickle.loads(data)
        return result
    return None
