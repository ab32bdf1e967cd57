"""The frame store in `state_dir`: the latest version of every frame, and what was ingested.

`frames.parquet` holds one row per frame (the merge of every export by §1's stamp rule), so
a recompute never re-reads an export. `ingested.json` remembers each file by path, size and
mtime (so an unchanged file is not read again) and by content hash (so the same content under
another name counts once). Both are written atomically (temp file, fsync, rename), frames
first: a crash between the two only means a file is merged again, which changes nothing.
Everything here is rebuildable from the exports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from retrain_gate.config import Config
from retrain_gate.fsutil import atomic_write, signature_or_link
from retrain_gate.labelstudio import RULES_VERSION
from retrain_gate.models import FRAME_KEY, FRAME_SCHEMA, empty_frames
from retrain_gate.registry import (
    REGISTRY_FILE,
    FileRecord,
    Outcome,
    known_record,
    read_registry,
    registry_json,
)
from retrain_gate.text import plural

if TYPE_CHECKING:
    from retrain_gate.loader import Loader

FRAMES_FILE = "frames.parquet"
# Refused files are remembered (so an unchanged bad file is not parsed again), but a folder
# that keeps receiving junk must not grow the registry forever.
MAX_REFUSED_RECORDS = 2000

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class IngestResult:
    path: Path
    outcome: Outcome
    frames: int = 0  # frames in the file
    new_frames: int = 0  # frames the store did not hold
    changed_frames: int = 0  # frames the store held, whose content changed
    reason: str = ""
    duplicate_of: str | None = None

    @property
    def message(self) -> str:
        name = str(self.path)
        if self.outcome == "ingested":
            return (
                f"ingested {name}: {plural(self.frames, 'frame')}, {self.new_frames:,} new, "
                f"{self.changed_frames:,} changed"
            )
        if self.outcome == "duplicate":
            return f"skipped {name}: same content as {self.duplicate_of}, already ingested"
        if self.outcome == "refused":
            return f"refused {name}: {self.reason}"
        return f"unchanged {name}"


def read_settings(config: Config) -> dict[str, Any]:
    """Every setting that changes what a frame is or which files are read: frames made under
    other settings are read again rather than shown as current."""
    return {
        "rules": RULES_VERSION,
        "field": config.episodes.field,
        "pattern": config.episodes.pattern,
        "frames_field": config.episodes.frames_field,
        "tolerance": config.corrections.tolerance,
        "max_export_mb": config.limits.max_export_mb,
        "max_read_seconds": config.limits.max_read_seconds,
    }


def describe_change(before: dict[str, Any] | None, now: dict[str, Any]) -> str:
    """One line on why every export is read again."""
    if before is None:
        return "the stored frames carry no read settings (older state): every export is read again"
    changed = [key for key in now if before.get(key) != now[key]]
    if changed == ["rules"]:
        return "this version of retrain-gate reads exports differently: every export is read again"
    names = ", ".join(key for key in changed if key != "rules")
    return f"read settings changed since the last ingest ({names}): every export is read again"


def merge_frames(current: pl.DataFrame, incoming: pl.DataFrame) -> pl.DataFrame:
    """§1: per frame keep the greatest stamp; ties go to the later-arriving file.

    Only the frames the incoming file holds are compared; the rest are kept as they are, so a
    small export merged into a large store costs a join, not a sort of the whole store."""
    if current.is_empty():  # the first export: its frames are already one per key
        return incoming.sort(FRAME_KEY, nulls_last=False)
    keys = incoming.select(FRAME_KEY).unique()
    touched = current.join(keys, on=FRAME_KEY, how="semi", nulls_equal=True)
    untouched = current.join(keys, on=FRAME_KEY, how="anti", nulls_equal=True)
    resolved = (
        pl.concat([touched, incoming], how="vertical")
        .sort(["stamp", "arrival_mtime_ns", "arrival_name"])
        .unique(subset=FRAME_KEY, keep="last", maintain_order=True)
        .sort(FRAME_KEY, nulls_last=False)
    )
    return pl.concat([untouched, resolved], how="vertical")


class FrameStore:
    """Merged frames and the ingest registry of one state folder.

    With `persist=False` nothing is written (a reader beside another process that holds the
    writer lock): new files are merged in memory only. Frames made under other read settings
    than `config`'s are dropped on load (`stale` says why), so every export is read again.
    """

    def __init__(
        self, state_dir: Path, config: Config, *, persist: bool = True, loader: Loader | None = None
    ) -> None:
        self.state_dir = state_dir
        self.config = config
        self.settings = read_settings(config)
        self.persist = persist
        # None: `loader.load_export`, imported on the first ingest: a `check` with nothing
        # new never pays for the reader's imports
        self._loader = loader
        self._frames: pl.DataFrame | None = None
        self._registry: dict[str, FileRecord] | None = None
        # digests of ingested content by size: a duplicate can only have the same size
        self._by_size: dict[int, set[str]] | None = None
        self._frames_dirty = False
        self._registry_dirty = False
        self.stale: str | None = None  # why the stored frames were dropped, until the next flush

    # -------------------------------------------------------------- loading

    @property
    def frames_path(self) -> Path:
        return self.state_dir / FRAMES_FILE

    @property
    def registry_path(self) -> Path:
        return self.state_dir / REGISTRY_FILE

    def frames(self) -> pl.DataFrame:
        if self._frames is None:
            self._load()
        assert self._frames is not None
        return self._frames

    def registry(self) -> dict[str, FileRecord]:
        if self._registry is None:
            self._load()
        assert self._registry is not None
        return self._registry

    def _load(self) -> None:
        self._frames, self._registry, self._by_size = empty_frames(), {}, None
        if not self.frames_path.exists():
            return  # the registry alone would claim files whose frames are gone
        try:
            frames = pl.read_parquet(self.frames_path)
        except Exception:  # a damaged cache is rebuilt from the exports, never fatal
            return
        if frames.schema != pl.Schema(FRAME_SCHEMA):
            return
        registry = read_registry(self.registry_path)
        if registry.settings != self.settings:
            self.stale = describe_change(registry.settings, self.settings)
            self._frames_dirty = self._registry_dirty = True  # the next flush records the new
            return
        self._frames, self._registry = frames, registry.files

    def reload(self) -> None:
        self._frames = None
        self._registry = None
        self._by_size = None

    def reset(self) -> None:
        """Forget every frame and file (the ledger is not the store's): the next scan reads
        every export again. Written at the next flush."""
        self._frames, self._registry, self._by_size = empty_frames(), {}, None
        self._frames_dirty = self._registry_dirty = True

    # -------------------------------------------------------------- ingest

    def known(self, path: Path, size: int, mtime_ns: int) -> FileRecord | None:
        return known_record(self.registry(), path, size, mtime_ns)

    def needs_ingest(self, path: Path) -> bool:
        signature = signature_or_link(path)
        return signature is not None and self.known(path, *signature) is None

    def ingest(
        self, path: Path, *, progress: ProgressFn | None = None, save: bool = True
    ) -> IngestResult:
        """Merge one export into the store. Refusals and duplicates leave the frames as they are.

        With `save=False` the state is written by a later `flush()`, so a batch of files costs
        one write instead of one per file; a crash before the flush only means the files are
        read again (the registry is saved with the frames, never ahead of them)."""
        result = self._ingest(path, progress)
        if save:
            self.flush()
        return result

    def _ingest(self, path: Path, progress: ProgressFn | None) -> IngestResult:
        signature = signature_or_link(path)
        if signature is None:
            return IngestResult(path, "refused", reason="the file disappeared before it was read")
        size, mtime_ns = signature
        record = self.known(path, size, mtime_ns)
        if record is not None:
            return IngestResult(path, "unchanged", frames=record.frames, reason=record.reason)
        from retrain_gate.loader import KnownContent

        registry = self.registry()
        known = KnownContent(frozenset(self._size_index().get(size, ())))
        if self._loader is None:
            from retrain_gate.loader import load_export

            self._loader = load_export
        loaded = self._loader(path, self.config, size, mtime_ns, known, progress)
        if loaded.refusal is not None:
            return self._record_refusal(
                path, loaded.size, loaded.mtime_ns, loaded.digest, loaded.refusal
            )
        if loaded.parsed is None:  # same content as a file already ingested
            twin = next(
                name
                for name, rec in registry.items()
                if rec.sha256 == loaded.digest and rec.outcome == "ingested"
            )
            registry[str(path)] = FileRecord(
                loaded.size, loaded.mtime_ns, loaded.digest, "duplicate"
            )
            self._registry_dirty = True
            return IngestResult(path, "duplicate", duplicate_of=twin)
        parsed, digest, mtime_ns = loaded.parsed, loaded.digest, loaded.mtime_ns
        if progress:
            progress("merging", 0, 1)
        before = self.frames()
        merged = merge_frames(before, parsed.frames)
        kept_changed, new, updated = _changes(before, merged)
        if kept_changed:
            self._frames = merged  # otherwise keep the stored table exactly as it is
        registry[str(path)] = FileRecord(
            size, mtime_ns, digest, "ingested", frames=parsed.frames.height
        )
        self._size_index().setdefault(size, set()).add(digest)
        self._frames_dirty = self._frames_dirty or kept_changed
        self._registry_dirty = True
        return IngestResult(
            path, "ingested", frames=parsed.frames.height, new_frames=new, changed_frames=updated
        )

    def flush(self) -> None:
        """Write what changed since the last flush: frames first, then the registry."""
        self._trim_refused()
        if not self.persist or not (self._frames_dirty or self._registry_dirty):
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._frames_dirty:
            frames = self.frames()
            atomic_write(self.frames_path, lambda tmp: frames.write_parquet(tmp))
            self._frames_dirty = False
        text = registry_json(self.settings, self.registry())
        atomic_write(self.registry_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        self._registry_dirty = False

    def _size_index(self) -> dict[int, set[str]]:
        if self._by_size is None:
            self._by_size = {}
            for rec in self.registry().values():
                if rec.outcome == "ingested":
                    self._by_size.setdefault(rec.size, set()).add(rec.sha256)
        return self._by_size

    def _trim_refused(self) -> None:
        registry = self.registry()
        refused = [k for k, v in registry.items() if v.outcome == "refused"]
        for key in refused[:-MAX_REFUSED_RECORDS]:
            del registry[key]
            self._registry_dirty = True

    def _record_refusal(
        self, path: Path, size: int, mtime_ns: int, digest: str, reason: str
    ) -> IngestResult:
        self.registry()[str(path)] = FileRecord(size, mtime_ns, digest, "refused", reason=reason)
        self._registry_dirty = True
        return IngestResult(path, "refused", reason=reason)

    def forget_missing(self) -> None:
        """Drop registry records of refused files that no longer exist (bounded history)."""
        registry = self.registry()
        gone = [k for k, v in registry.items() if v.outcome == "refused" and not os.path.lexists(k)]
        for key in gone:
            del registry[key]
        if gone:
            self._registry_dirty = True
            self.flush()

    def refused(self) -> dict[str, str]:
        """Files refused in their current form, with the reason (still visible until fixed)."""
        return {
            path: rec.reason
            for path, rec in self.registry().items()
            if rec.outcome == "refused" and os.path.lexists(path)
        }


# What a frame is, apart from which file it came from: a frame whose content is the same in
# a later file has not changed, whatever its arrival.
_CONTENT = [name for name in FRAME_SCHEMA if name not in ("arrival_mtime_ns", "arrival_name")]


def _changes(before: pl.DataFrame, after: pl.DataFrame) -> tuple[bool, int, int]:
    """(whether any kept version changed, frames new to the store, frames whose content
    changed). Linear: two joins on the frame key."""
    if before.is_empty():
        return (not after.is_empty(), after.height, 0)
    kept_changed = (
        after.join(before, on=list(FRAME_SCHEMA), how="anti", nulls_equal=True).height > 0
    )
    if not kept_changed:
        return (False, 0, 0)
    new = after.join(before, on=FRAME_KEY, how="anti", nulls_equal=True).height
    differ = after.join(before, on=_CONTENT, how="anti", nulls_equal=True).height
    return (True, new, differ - new)
