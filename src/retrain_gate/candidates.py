"""Which names in the export folder can be exports, decided from the name alone.

Shared by the store's scan (`check`) and the watcher. It lives apart from `live/watcher.py` so that
a `check` never imports watchdog.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
    name = path.name
    if is_dir or not name or name.startswith("."):
        return "ignore"
    if name.lower().endswith(TEMP_SUFFIXES):
        return "ignore"
    return "candidate"


def iter_candidates(export_dir: Path) -> Iterator[Path]:
    """Visible files under export_dir, sorted (hidden and temporary names are skipped)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(export_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root) / name
            if classify_name(path) == "candidate":
                found.append(path)
    yield from sorted(found, key=str)  # comparing Paths part by part is slow
