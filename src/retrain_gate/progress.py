"""A progress bar on stderr for long ingests, silent for the first second.

Pure (no Textual): `check` draws it on a terminal; elsewhere it prints a plain line now and
then, so a log never looks stuck.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

# The store's stage while it reads a batch of many files, one step a file.
FILES_STAGE = "reading files"


class TerminalProgress:
    def __init__(
        self, stream: TextIO | None = None, *, delay: float = 1.0, every: float = 5.0
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.every = every
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.file_label = ""

    def set_file(self, label: str, index: int, count: int) -> None:
        self.file_label = f"[{index}/{count}] {label}"

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.started < self.delay:
            return
        if self._tty:
            if now - self._last < 0.1:
                return
            width = 30
            filled = int(width * done / total) if total else 0
            bar = "█" * filled + "░" * (width - filled)
            pct = f"{100 * done / total:3.0f}%" if total else "    "
            line = f"\r{bar} {pct} {stage} {self._label(stage, done, total)}"[:200]
            self.stream.write(line + "\x1b[K")
            self.stream.flush()
            self._drawn = True
        elif now - self._last >= self.every:
            share = f" ({done:,}/{total:,})" if total else ""
            label = "" if stage == FILES_STAGE else f" {self.file_label}"
            self.stream.write(f"... {stage}{label}{share}\n")
            self.stream.flush()
        self._last = now

    def _label(self, stage: str, done: int, total: int) -> str:
        # A folder of many small files is counted by the bar's stage: the file's own name
        # (a storage file's is its annotation id) would say the count a second time.
        if stage == FILES_STAGE:
            return f"{done:,} of {total:,}"
        return self.file_label

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
