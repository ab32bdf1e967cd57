"""One writer per state folder, enforced with an advisory `flock` on `state_dir/writer.lock`.

`flock` rather than a pid file: the kernel drops the lock when the holding process dies (even on
SIGKILL or a crash), so there is never a stale lock to clean up, and a follower that keeps calling
`try_acquire` takes over as soon as the writer is gone. The file itself is never deleted: deleting
a locked file lets two processes lock two different inodes under the same name.

The file's content (pid, host, start time) only tells a person *who* holds the lock; whether it is
held is always decided by the kernel, never by the content.

Limits: `flock` is advisory and per host. On NFS it is emulated with POSIX locks (fine on Linux
clients); on some SMB mounts it may not be shared between machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from retrain_gate.config import Config
from retrain_gate.engine import Engine
from retrain_gate.errors import RetrainGateError, StateError

LOCK_NAME = "writer.lock"


class WriterLock:
    """The writer role for one `state_dir`; see the module docstring."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the writer role if nobody has it; never blocks. True if held after the call."""
        if self._fd is not None:
            return True
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(
                f"{self.path}: cannot open the writer lock ({exc.strerror}); "
                "check that the state folder is writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:
            os.close(fd)
            raise StateError(
                f"{self.path}: cannot lock the writer lock ({exc.strerror}); "
                "the file system may not support flock"
            ) from None
        self._fd = fd
        # Best effort: the lock is already ours, the content is only for `holder()`.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, _describe_self().encode("utf-8"), 0)
            os.fsync(fd)
        return True

    def release(self) -> None:
        """Give up the writer role (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Cleared while still locked, so nobody reads a departed writer's details as current.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def holder(self) -> str | None:
        """Who holds the lock ("pid 123 on host since ..."), or None if nobody does.

        Probing takes a shared lock for an instant, so a concurrent `try_acquire` elsewhere can
        fail once; callers retry periodically anyway.
        """
        if self._fd is not None:
            return _format(_read_text(self._fd))
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"unknown (cannot read {self.path}: {exc.strerror})"
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _format(_read_text(fd))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> WriterLock:
        if not self.try_acquire():
            who = self.holder() or "another process"
            raise StateError(
                f"{self.state_dir}: another process is the writer ({who}); "
                "stop it or open this state read-only"
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # The kernel would release it at exit anyway; this covers a lock dropped in a long process.
        with contextlib.suppress(Exception):
            self.release()


def _describe_self() -> str:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})


def _read_text(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _format(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {int(info['pid'])} on {info['host']} since {info['started']}"
    except (ValueError, KeyError, TypeError):
        # Between another writer's flock and its write, the file is briefly empty.
        return "another process (details not written yet)"


@contextlib.contextmanager
def engine_for_command(config: Config) -> Iterator[Engine]:
    """An engine for a one-shot command: it saves what it ingests only when no other process
    is the writer; otherwise it ingests in memory on top of the writer's state."""
    lock = WriterLock(config.paths.state_dir)
    try:
        held = lock.try_acquire()
    except RetrainGateError:
        held = False  # a read-only state folder: figures are still computed, nothing saved
    try:
        yield Engine(config, persist=held)
    finally:
        if held:
            lock.release()
