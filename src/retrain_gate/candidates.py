"""Which names in the export folder can be exports, decided from the name alone.

Shared by the store's scan (`check`) and the watcher. It lives apart from `live/watcher.py` so that
a `check` never imports watchdog.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

NameClass = Literal["ignore", "candidate"]

# Names that browsers, sync clients, editors and copy tools use while a file is incomplete; the
# finished file arrives later as a rename to its real name.
TEMP_SUFFIXES = (
    ".part",
    ".partial",
    ".tmp",
    ".temp",
    ".crdownload",
    ".download",
    ".swp",
    ".swx",
    "~",
)


def classify_name(path: Path, *, is_dir: bool = False) -> NameClass:
    """Whether a name could be an export ("candidate") or is never one ("ignore").

    Decided from the name alone (no I/O), so it is safe on the observer thread: hidden names
    (including editor locks `.#x` and swap files `.x.swp`), temporary download/copy names and
    directories are ignored. Everything else is a candidate, including `.csv` or `.xml` files: the
    caller refuses those with a message instead of letting them disappear silently.
    """
    if is_dir or not _candidate_name(path.name):
        return "ignore"
    return "candidate"


def _candidate_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and not name.lower().endswith(TEMP_SUFFIXES)


def candidate_names(export_dir: Path) -> list[str]:
    """The paths of the visible files under export_dir, sorted (hidden and temporary names
    are skipped). Strings, not Paths: a listing of 20k files makes a Path only of those that
    changed."""
    found: list[str] = []
    for root, dirs, files in os.walk(export_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, name) for name in files if _candidate_name(name)]
    return sorted(found)
