"""One file read the way an ingest reads it: `loader.load_export`, in this process.

Tests of the reader go through what production runs, not a test-only entry point: the same
refusal by name, the same releasable memory, the same hash beside the parse.
"""

from __future__ import annotations

from pathlib import Path

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.labelstudio.export import ParsedExport
from retrain_gate.loader import KnownContent, load_export


def load(path: Path, config: Config | None = None) -> ParsedExport:
    """The tables an ingest gets from `path`; raise `ExportRefused` with the loader's reason
    when it refuses the file (the store records that reason against the path)."""
    try:
        stat = path.stat()
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
    except OSError:  # the loader names a missing file itself
        size, mtime_ns = 0, 0
    loaded = load_export(path, config or Config(), size, mtime_ns, KnownContent(frozenset()))
    if loaded.refusal is not None:
        raise ExportRefused(path, loaded.refusal)
    assert loaded.parsed is not None, f"{path}: neither tables nor a refusal ({loaded.kind})"
    return loaded.parsed
