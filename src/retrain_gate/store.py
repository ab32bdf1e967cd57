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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
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
    from retrain_gate.labelstudio.export import ParsedExport
    from retrain_gate.loader import Loader

FRAMES_FILE = "frames.parquet"
PENDING_FILE = "pending.parquet"  # frames the prediction index decides (labelstudio/predictions.py)
INDEX_FILE = "predictions.parquet"  # the prediction index across files
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
    removed_frames: int = 0  # storage versions gone with their last annotation file

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
        if self.outcome == "ignored":
            return f"ignored {name}: {self.reason}"
        if self.outcome == "removed":
            return f"removed {name}: its annotation is gone ({self.changed_frames:,} changed)"
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

    Two tables of versions: `exported` (the winner among export files, and task-format storage
    files) and `storage` (per-annotation storage files grouped by frame, §1); `frames()` is
    their merge by the same stamp rule. A storage version can disappear (its annotation
    files removed); the exported version then shows again.

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
        self._exported: pl.DataFrame | None = None
        self._storage: pl.DataFrame | None = None
        self._frames: pl.DataFrame | None = None  # the merge of the two, cached
        self._registry: dict[str, FileRecord] | None = None
        # loaded on the first ingest: a recompute never needs them
        self._pending: pl.DataFrame | None = None
        self._index: pl.DataFrame | None = None
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
        if self._exported is None or self._storage is None:
            self._load()
        assert self._exported is not None and self._storage is not None
        if self._frames is None:
            self._frames = (
                self._exported
                if self._storage.is_empty()
                else merge_frames(self._exported, self._storage)
            )
        return self._frames

    def registry(self) -> dict[str, FileRecord]:
        if self._registry is None:
            self._load()
        assert self._registry is not None
        return self._registry

    def _load(self) -> None:
        self.reload()
        self._exported, self._storage, self._registry = empty_frames(), empty_frames(), {}
        if not self.frames_path.exists():
            return  # the registry alone would claim files whose frames are gone
        frames = _read_table(self.frames_path, FRAME_SCHEMA)
        storage = _read_table(self.state_dir / STORAGE_FILE, FRAME_SCHEMA)
        if frames is None:
            return  # a damaged cache is rebuilt from the exports, never fatal
        registry = read_registry(self.registry_path)
        if registry.settings != self.settings:
            self.stale = describe_change(registry.settings, self.settings)
            self.reset()  # the next flush records the new settings
            return
        if storage is None and any(rec.frame for rec in registry.files.values()):
            return  # storage files known, their frames lost: read everything again
        self._exported, self._registry = frames, registry.files
        self._storage = storage if storage is not None else empty_frames()

    def reload(self) -> None:
        self._exported = self._storage = self._frames = None
        self._registry = None
        self._by_size = None
        self._pending = None
        self._index = None

    def _index_tables(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The pending frames and the prediction index. A missing or damaged file when there
        are frames means they cannot be decided again: every export is read again."""
        from retrain_gate.labelstudio import predictions as index_rules

        frames = self.frames()
        if self._pending is None or self._index is None:
            pending = _read_table(self.state_dir / PENDING_FILE, index_rules.PENDING_SCHEMA)
            index = _read_table(self.state_dir / INDEX_FILE, index_rules.INDEX_SCHEMA)
            if (pending is None or index is None) and not frames.is_empty():
                self.stale = (
                    "the prediction index is missing or damaged: every export is read again"
                )
                self.reset()
                return self._index_tables()
            self._pending = pending if pending is not None else index_rules.empty_pending()
            self._index = index if index is not None else index_rules.empty_index()
        return self._pending, self._index

    def reset(self) -> None:
        """Forget every frame and file (the ledger is not the store's): the next scan reads
        every export again. Written at the next flush."""
        from retrain_gate.labelstudio import predictions as index_rules

        self._exported, self._storage, self._frames = empty_frames(), empty_frames(), None
        self._registry, self._by_size = {}, None
        self._pending, self._index = index_rules.empty_pending(), index_rules.empty_index()
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
        """Merge one file into the store. Refusals and duplicates leave the frames as they are.

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
        if not path.suffix:  # Label Studio's target storage names its files without one
            return self._ingest_storage_file(path, size, mtime_ns)
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
        if progress:
            progress("merging", 0, 1)
        result = self._merge(loaded.parsed, storage_key=None)
        registry[str(path)] = FileRecord(
            loaded.size, loaded.mtime_ns, loaded.digest, "ingested", frames=result.frames
        )
        self._size_index().setdefault(loaded.size, set()).add(loaded.digest)
        return result

    def _ingest_storage_file(self, path: Path, size: int, mtime_ns: int) -> IngestResult:
        """A file without an extension: a per-annotation storage file, a task-format one, or
        neither (ignored, and counted)."""
        from retrain_gate.labelstudio.export import parse_export, read_file
        from retrain_gate.labelstudio.storage import StorageProblem, classify, read_annotation

        registry = self.registry()
        previous = registry.get(str(path))
        try:
            raw, mtime_ns = read_file(path, self.config)
        except ExportRefused as exc:
            return self._record_refusal(path, size, mtime_ns, "", exc.reason)
        kind = classify(raw)
        result: IngestResult
        if kind == "annotation":
            try:
                file = read_annotation(raw, path, mtime_ns, self.config)
            except StorageProblem as exc:
                result = self._record_refusal(path, len(raw), mtime_ns, "", str(exc))
            else:
                registry[str(path)] = FileRecord(
                    len(raw), mtime_ns, "", "ingested", frames=1, frame=list(file.frame)
                )
                self._registry_dirty = True
                result = self._regroup(file.frame, path)
        elif kind == "task":
            try:
                parsed = parse_export(raw, path, self.config, mtime_ns=mtime_ns)
            except ExportRefused as exc:
                result = self._record_refusal(path, len(raw), mtime_ns, "", exc.reason)
            else:
                result = self._merge(parsed, storage_key=None)
                registry[str(path)] = FileRecord(len(raw), mtime_ns, "", "ingested", frames=1)
                self._registry_dirty = True
        else:
            reason = (
                "a file without an extension that is not a Label Studio storage file (one "
                "annotation with its task, or one task); ignored"
            )
            registry[str(path)] = FileRecord(len(raw), mtime_ns, "", "ignored", reason=reason)
            self._registry_dirty = True
            result = IngestResult(path, "ignored", reason=reason)
        if (
            previous is not None
            and previous.frame
            and previous.frame != (registry[str(path)].frame if str(path) in registry else None)
        ):
            self._regroup(_frame_key(previous.frame), path)  # it held another frame's annotation
        return result

    def _regroup(self, frame: tuple[int | None, int], path: Path) -> IngestResult:
        """The storage version of `frame` from its annotation files present now (§1)."""
        from retrain_gate.labelstudio.export import read_file
        from retrain_gate.labelstudio.storage import StorageProblem, group_frame, read_annotation

        key = list(frame)
        files = []
        for name, rec in list(self.registry().items()):
            if rec.frame != key or rec.outcome != "ingested":
                continue
            try:
                raw, mtime_ns = read_file(Path(name), self.config)
                files.append(read_annotation(raw, Path(name), mtime_ns, self.config))
            except (ExportRefused, StorageProblem):
                continue  # gone or changed since: its own event brings it back
        if files:
            parsed = group_frame(files, self.config)
            return self._merge(parsed, storage_key=frame, source=path)
        return self._merge(None, storage_key=frame, source=path)

    def _merge(
        self,
        parsed: ParsedExport | None,
        *,
        storage_key: tuple[int | None, int] | None,
        source: Path | None = None,
    ) -> IngestResult:
        """Merge one file's frames (or, with `storage_key`, replace that frame's storage
        version, removing it when `parsed` is None), then let the index decide what it can."""
        # the reader's modules: a `check` with nothing new never imports them (msgspec)
        from retrain_gate.labelstudio import predictions as index_rules

        before = self.frames()
        pending, index = self._index_tables()
        assert self._exported is not None and self._storage is not None
        exported, storage = self._exported, self._storage
        if storage_key is None:
            assert parsed is not None
            exported = merge_frames(exported, parsed.frames)
        else:
            storage = storage.filter(~_is_frame(storage_key))
            if parsed is not None:
                storage = merge_frames(storage, parsed.frames)
        if parsed is not None:
            index = index_rules.merge_index(index, parsed.predictions)
            pending = pl.concat([pending, parsed.pending])
        pending = index_rules.kept_pending(pending, pl.concat([exported, storage]))
        if parsed is not None and not parsed.frames.is_empty():
            arrival = (
                int(parsed.frames["arrival_mtime_ns"][0]),
                str(parsed.frames["arrival_name"][0]),
            )
            tolerance = self.config.corrections.tolerance
            exported = index_rules.resolve(exported, pending, index, arrival, tolerance)
            storage = index_rules.resolve(storage, pending, index, arrival, tolerance)
        self._exported, self._storage, self._frames = exported, storage, None
        self._pending, self._index = pending, index
        after = self.frames()
        kept_changed, new, updated = _changes(before, after)
        if (
            kept_changed
            or storage_key is not None
            or parsed is None
            or not (parsed.pending.is_empty() and parsed.predictions.is_empty())
        ):
            self._frames_dirty = True
        if not kept_changed:
            self._frames = before  # keep the stored table exactly as it is
        path = source if source is not None else (parsed.path if parsed else Path())
        frames = parsed.frames.height if parsed is not None else 0
        return IngestResult(
            path,
            "ingested",
            frames=frames,
            new_frames=new,
            changed_frames=updated,
            removed_frames=max(0, before.height - after.height),
        )

    def remove(self, path: Path) -> IngestResult | None:
        """A file that left the export folder: a per-annotation storage file takes its
        annotation with it (§1); an export's frames stay (a frame missing from a later export
        is not deleted). None when the store knew nothing of it."""
        record = self.registry().pop(str(path), None)
        if record is None:
            return None
        self._registry_dirty = True
        if record.frame:
            return replace(self._regroup(_frame_key(record.frame), path), outcome="removed")
        return None

    def flush(self) -> None:
        """Write what changed since the last flush: frames first, then the registry."""
        self._trim_refused()
        if not self.persist or not (self._frames_dirty or self._registry_dirty):
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._frames_dirty:
            self.frames()
            assert self._exported is not None and self._storage is not None
            # the index first: frames saved without it could not be decided again
            if self._pending is not None and self._index is not None:
                _write_table(self.state_dir / INDEX_FILE, self._index)
                _write_table(self.state_dir / PENDING_FILE, self._pending)
            _write_table(self.state_dir / STORAGE_FILE, self._storage)
            _write_table(self.frames_path, self._exported)
            self._frames_dirty = False
        text = registry_json(self.settings, self.registry())
        atomic_write(self.registry_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        self._registry_dirty = False

    def _size_index(self) -> dict[int, set[str]]:
        if self._by_size is None:
            self._by_size = {}
            for rec in self.registry().values():
                if rec.outcome == "ingested" and rec.sha256:
                    self._by_size.setdefault(rec.size, set()).add(rec.sha256)
        return self._by_size

    def _trim_refused(self) -> None:
        registry = self.registry()
        refused = [k for k, v in registry.items() if v.outcome in ("refused", "ignored")]
        for key in refused[:-MAX_REFUSED_RECORDS]:
            del registry[key]
            self._registry_dirty = True

    def _record_refusal(
        self, path: Path, size: int, mtime_ns: int, digest: str, reason: str
    ) -> IngestResult:
        self.registry()[str(path)] = FileRecord(size, mtime_ns, digest, "refused", reason=reason)
        self._registry_dirty = True
        return IngestResult(path, "refused", reason=reason)

    def forget_missing(self) -> list[IngestResult]:
        """Files that left the folder: records of refused and ignored ones are dropped
        (bounded history), per-annotation storage files take their annotation with them."""
        registry = self.registry()
        gone = [
            Path(k)
            for k, v in registry.items()
            if (v.outcome in ("refused", "ignored") or v.frame) and not os.path.lexists(k)
        ]
        results = [r for r in map(self.remove, gone) if r is not None]
        if gone:
            self.flush()
        return results

    def refused(self) -> dict[str, str]:
        """Files refused in their current form, with the reason (still visible until fixed)."""
        return self._present("refused")

    def ignored(self) -> dict[str, str]:
        """Files without an extension that are not storage files, with the reason."""
        return self._present("ignored")

    def _present(self, outcome: Outcome) -> dict[str, str]:
        return {
            path: rec.reason
            for path, rec in self.registry().items()
            if rec.outcome == outcome and os.path.lexists(path)
        }


STORAGE_FILE = "storage.parquet"  # per-annotation storage files grouped by frame


def _frame_key(frame: list[Any]) -> tuple[int | None, int]:
    return (frame[0], frame[1])


def _is_frame(key: tuple[int | None, int]) -> pl.Expr:
    project = pl.col("project").is_null() if key[0] is None else pl.col("project") == key[0]
    return project & (pl.col("task_id") == key[1])


def _write_table(path: Path, table: pl.DataFrame) -> None:
    atomic_write(path, lambda tmp: table.write_parquet(tmp))


def _read_table(path: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame | None:
    """A state table, or None when it is missing or damaged."""
    try:
        table = pl.read_parquet(path)
    except Exception:  # missing, truncated, not parquet: the caller rebuilds from the exports
        return None
    return table if table.schema == pl.Schema(schema) else None


# What a frame is, apart from which file it came from: a frame whose content is the same in
# a later file has not changed, whatever its arrival.
_CONTENT = [name for name in FRAME_SCHEMA if name not in ("arrival_mtime_ns", "arrival_name")]


def _changes(before: pl.DataFrame, after: pl.DataFrame) -> tuple[bool, int, int]:
    """(whether any kept version changed, frames new to the store, frames whose content
    changed). Linear: two joins on the frame key."""
    if before.is_empty():
        return (not after.is_empty(), after.height, 0)
    kept_changed = (
        after.height != before.height
        or after.join(before, on=list(FRAME_SCHEMA), how="anti", nulls_equal=True).height > 0
    )
    if not kept_changed:
        return (False, 0, 0)
    new = after.join(before, on=FRAME_KEY, how="anti", nulls_equal=True).height
    differ = after.join(before, on=_CONTENT, how="anti", nulls_equal=True).height
    return (True, new, differ - new)
