"""`check` begins reading the largest new export before it imports polars and the engine.

A cold `check` spent its first ~0.3 s importing pydantic, polars and the engine, and only then
began to read a 180 MB export. Reading needs none of polars: right after the config is loaded,
`start` picks the largest export the registry does not know (one worth splitting, see
parallel.py), fills this process's part and forks the child that reads the other part. The
child's part is read while this process imports; the loader finishes the split when the store
asks for that very file (same path, size and mtime), and otherwise it is closed unused.

Nothing here decides anything: the columns are the same as the loader's own read in two, the
store still decides whether the file is new, a twin or refused, and any failure here only
means the file is read the ordinary way. Only `check` does this: `watch` and the TUI read in
their worker process, which has imported everything long before.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrain_gate.candidates import iter_candidates
from retrain_gate.config import Config
from retrain_gate.registry import REGISTRY_FILE, read_registry

if TYPE_CHECKING:
    from retrain_gate.exports import ExportSource
    from retrain_gate.parallel import Split


@dataclass
class _Begun:
    path: Path
    size: int
    mtime_ns: int
    source: ExportSource  # open until `close`: the split reads into its buffer
    split: Split | None  # None once taken


_begun: _Begun | None = None

# The share of the bytes this process reads. Smaller than parallel.OWN_SHARE: the child
# starts reading while this process still imports.
OWN_SHARE = 0.35


def _largest_new_export(config: Config) -> tuple[Path, int, int] | None:
    known = read_registry(config.paths.state_dir / REGISTRY_FILE)
    new: list[tuple[Path, int, int]] = []
    for path in iter_candidates(config.paths.export_dir):
        try:
            st = path.stat()
        except OSError:
            continue
        record = known.get(str(path))
        if record is None or (record.size, record.mtime_ns) != (st.st_size, st.st_mtime_ns):
            new.append((path, st.st_size, st.st_mtime_ns))
    if not new:  # a `check` with nothing new never imports the reader
        return None
    from retrain_gate.exports import refuse_by_name
    from retrain_gate.parallel import worth_splitting

    worth = [f for f in new if worth_splitting(f[1]) and refuse_by_name(f[0]) is None]
    return max(worth, key=lambda f: f[1], default=None)


def start(config: Config) -> None:
    """Begin reading the largest new export, if there is one worth splitting."""
    global _begun
    close()
    if not config.paths.export_dir.is_dir():
        return
    found = _largest_new_export(config)
    if found is None:
        return
    from retrain_gate.errors import ExportRefused
    from retrain_gate.exports import ExportSource
    from retrain_gate.parallel import Split

    path, size, mtime_ns = found
    try:
        source = ExportSource(path, config)
    except ExportRefused:
        return  # the loader will say why
    split = None
    if (source.size, source.mtime_ns) == (size, mtime_ns):
        split = Split.start(
            source.buffer(), config, want_digest=True, fill=source.fill, own_share=OWN_SHARE
        )
    if split is None:
        source.close()
        return
    _begun = _Begun(path, size, mtime_ns, source, split)


def take(path: Path, size: int, mtime_ns: int) -> Split | None:
    """The split begun for this very file (same path, size and mtime), once; None otherwise.
    The caller finishes it, then calls `close`."""
    if _begun is None or (_begun.path, _begun.size, _begun.mtime_ns) != (path, size, mtime_ns):
        return None
    split, _begun.split = _begun.split, None
    return split


def close() -> None:
    """End what was begun: a split not taken is given up (its child killed and reaped), and
    the file and its buffer are let go."""
    global _begun
    begun, _begun = _begun, None
    if begun is None:
        return
    if begun.split is not None:
        begun.split.close()
    with contextlib.suppress(OSError):
        begun.source.drop_buffer()
        begun.source.close()
