"""`check` begins reading the largest new export before it imports pydantic, polars and the
engine.

A cold `check` spent its first ~0.3 s importing before it read a byte of a 180 MB export, and
reading needs none of those libraries. So `start` runs first: it reads the few settings a read
needs straight from the TOML (`Guess`: the two folders, `field`, `frames_field`, `tolerance`,
`max_export_mb`, with the config's defaults), picks the largest export the registry does not
know (one worth splitting, see parallel.py), fills this process's part and forks the child
that reads the other part. The child reads while this process imports. The loader finishes the
split when the store asks for that very file (same path, size and mtime) and the validated
config agrees with the guess; otherwise it is closed unused.

Nothing here decides anything: the columns are the same as the loader's own read in two, the
store still decides whether the file is new, a twin or refused, and any failure or mismatch
only means the file is read the ordinary way. Only `check` does this: `watch` and the TUI read
in their worker process, which has imported everything long before.
"""

from __future__ import annotations

import contextlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from retrain_gate.candidates import iter_candidates
from retrain_gate.registry import REGISTRY_FILE, known_record, read_registry

if TYPE_CHECKING:
    from retrain_gate.config import Config
    from retrain_gate.exports import ExportSource
    from retrain_gate.parallel import Split


@dataclass(frozen=True)
class _Episodes:
    field: str
    frames_field: str | None


@dataclass(frozen=True)
class _Corrections:
    tolerance: float


@dataclass(frozen=True)
class _Limits:
    max_export_mb: float


@dataclass(frozen=True)
class _Paths:
    export_dir: Path
    state_dir: Path


@dataclass(frozen=True)
class Guess:
    """What a read needs of the config, under the same attribute names as `Config`, read from
    the TOML without validation. Only ever used when `settings` of the real config equal it."""

    paths: _Paths
    episodes: _Episodes
    corrections: _Corrections
    limits: _Limits


def settings(config: Config | Guess) -> tuple[Any, ...]:
    """Everything a read in two depends on; equal for the guess and the real config, or the
    read begun is not used."""
    return (
        config.paths.export_dir,
        config.paths.state_dir,
        config.episodes.field,
        config.episodes.frames_field,
        config.corrections.tolerance,
        config.limits.max_export_mb,
    )


def guess(config_path: Path) -> Guess | None:
    """The settings of a read, from the TOML and the config's defaults (config.py); None when
    the file cannot be read or holds something unexpected (`load_config` will say what)."""
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        base = config_path.resolve().parent

        def section(name: str) -> dict[str, Any]:
            value = data.get(name, {})
            return value if isinstance(value, dict) else {}

        def anchor(value: object, default: str) -> Path:
            path = Path(value if isinstance(value, str) else default).expanduser()
            return path if path.is_absolute() else (base / path).resolve()

        paths, episodes = section("paths"), section("episodes")
        field, frames_field = episodes.get("field", "image"), episodes.get("frames_field")
        if not isinstance(field, str) or not isinstance(frames_field, str | None):
            return None
        return Guess(
            _Paths(
                anchor(paths.get("export_dir"), "exports"),
                anchor(paths.get("state_dir"), ".retrain-gate"),
            ),
            _Episodes(field, frames_field),
            _Corrections(float(section("corrections").get("tolerance", 0.5))),
            _Limits(float(section("limits").get("max_export_mb", 1024))),
        )
    except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError):
        return None


@dataclass
class _Begun:
    source: ExportSource  # the file as it was begun; open until `close` (the split's buffer)
    split: Split | None  # None once taken
    guess: Guess


_begun: _Begun | None = None

# The share of the bytes this process reads. Smaller than parallel.OWN_SHARE: the child
# starts reading while this process still imports.
OWN_SHARE = 0.35


def _largest_new_export(config: Guess) -> tuple[Path, int, int] | None:
    known = read_registry(config.paths.state_dir / REGISTRY_FILE)
    new: list[tuple[Path, int, int]] = []
    for path in iter_candidates(config.paths.export_dir):
        try:
            st = path.stat()
        except OSError:
            continue
        if known_record(known, path, st.st_size, st.st_mtime_ns) is None:
            new.append((path, st.st_size, st.st_mtime_ns))
    if not new:  # a `check` with nothing new never imports the reader
        return None
    from retrain_gate.exports import refuse_by_name
    from retrain_gate.parallel import worth_splitting

    worth = [f for f in new if worth_splitting(f[1]) and refuse_by_name(f[0]) is None]
    return max(worth, key=lambda f: f[1], default=None)


def start(config_path: Path) -> None:
    """Begin reading the largest new export, if there is one worth splitting."""
    global _begun
    close()
    config = guess(config_path)
    if config is None or not config.paths.export_dir.is_dir():
        return
    found = _largest_new_export(config)
    if found is None:
        return
    from retrain_gate.errors import ExportRefused
    from retrain_gate.exports import ExportSource
    from retrain_gate.parallel import Split

    read_config = cast("Config", config)  # the attributes a read uses, same names
    path, size, mtime_ns = found
    try:
        source = ExportSource(path, read_config)
    except ExportRefused:
        return  # the loader will say why
    split = None
    if (source.size, source.mtime_ns) == (size, mtime_ns):
        split = Split.start(
            source.buffer(), read_config, want_digest=True, fill=source.fill, own_share=OWN_SHARE
        )
    if split is None:
        source.close()
        return
    _begun = _Begun(source, split, config)


def take(path: Path, size: int, mtime_ns: int, config: Config) -> Split | None:
    """The split begun for this very file (same path, size and mtime) with these very
    settings, once; None otherwise. The caller finishes it, then calls `close`."""
    if _begun is None:
        return None
    begun = _begun.source
    if (begun.path, begun.size, begun.mtime_ns) != (path, size, mtime_ns):
        return None
    if settings(_begun.guess) != settings(config):
        close()
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
