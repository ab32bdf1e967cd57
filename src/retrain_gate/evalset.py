"""The eval set hash (§6): what a pin records and what drift is measured against.

Files are streamed, never read whole: eval sets are often gigabytes of images.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _is_hidden(name: str) -> bool:
    # Editors, git and Finder drop dot files next to data; they must not count as drift.
    return name.startswith(".")


def _directory_files(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every visible regular file under `root`, sorted by path."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not _is_hidden(name)]
        for name in filenames:
            path = Path(dirpath, name)
            # Sockets, fifos and broken symlinks have no bytes to hash.
            if not _is_hidden(name) and path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    return found


def eval_set_signature(path: Path) -> tuple[tuple[str, int, int], ...] | None:
    """Cheap fingerprint (relative path, size, mtime of each file the hash covers), so the eval
    set is hashed again only when it changed. None when the path is missing or unreadable."""
    try:
        if path.is_file():
            st = path.stat()
            return ((path.name, st.st_size, st.st_mtime_ns),)
        if not path.is_dir():
            return None
        entries = []
        for relative, file in _directory_files(path):
            st = file.stat()
            entries.append((relative, st.st_size, st.st_mtime_ns))
        return tuple(entries)
    except OSError:
        return None


def _directory_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for relative, path in _directory_files(root):
        digest.update(f"{relative}\0{_file_sha256(path)}\n".encode())
    return digest.hexdigest()


def eval_set_hash(path: Path) -> str | None:
    """sha256 of the eval set (a file or a directory); None when the path does not exist.

    A directory hashes the sorted lines "{relative/posix/path}\\0{sha256 of the file}\\n", so
    renaming, adding, removing or editing any visible file changes the hash, while the order
    the file system lists them in does not.
    """
    if path.is_file():
        return _file_sha256(path)
    if path.is_dir():
        return _directory_sha256(path)
    return None


# What a file of no bytes, and a folder with no visible file, hash to (no line to hash).
EMPTY_HASH = hashlib.sha256(b"").hexdigest()


def empty_pin_refusal(path: Path, current_hash: str | None, then: str = "pin") -> str | None:
    """Why the eval set at `path` must not be pinned as it is, or None when it may.

    A pin says "compare models on these files". Pinning nothing is a folder not filled yet or a
    wrong `[paths] eval_set`, and the gate would then pass on an eval set that holds nothing.
    Taken from the hash about to be recorded, so what is refused is exactly what would be pinned.
    `then`: what to do after (an approval pins the eval set too).
    """
    if current_hash != EMPTY_HASH:
        return None
    if path.is_dir():
        return (
            f"the eval set folder {path} has no files (names starting with a dot do not count): "
            "put the eval files in it, or point [paths] eval_set at the folder that holds them, "
            f"then {then}. Nothing was recorded"
        )
    return (
        f"the eval set file {path} is empty: write the eval set into it, or point "
        f"[paths] eval_set at the eval set, then {then}. Nothing was recorded"
    )
