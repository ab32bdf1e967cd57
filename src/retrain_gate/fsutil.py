"""Files on disk: the one atomic write of the state folder, and a file's stat signature."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from retrain_gate.errors import StateError

Signature = tuple[int, int]  # (size, mtime_ns): cheap, and changes on every real write


def signature(path: Path | str, *, follow: bool = True) -> Signature | None:
    """(size, mtime_ns) of a file (of a link itself with `follow=False`); None when absent
    or unreadable."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def signature_or_link(path: Path | str) -> Signature | None:
    """(size, mtime_ns) of a file, or of the link itself when it cannot be followed (a loop,
    a dangling link), so such a name is refused once with a reason instead of skipped."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISLNK(st.st_mode):
            return None
    except OSError:
        try:
            st = os.lstat(path)
        except OSError:
            return None
    return (st.st_size, st.st_mtime_ns)


def identity(path: Path) -> tuple[int, int, int, int] | None:
    """(inode, size, mtime_ns, ctime_ns): changes on every append and every replacement."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file, fsync, rename, fsync the folder: a crash leaves the old
    file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except Exception as exc:  # polars reports a full disk as a ComputeError, not an OSError
        tmp.unlink(missing_ok=True)
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        raise StateError(
            f"{path}: cannot write the state ({reason}); check free space and permissions "
            "of the state folder. Nothing recorded so far was lost."
        ) from None
