"""The frame store in `state_dir`: the latest version of every frame, and what was ingested.

`frames.parquet` holds one row per frame (the merge of every export by §1's stamp rule), so
a recompute never re-reads an export. `ingested.json` remembers each file by path, size and
mtime (so an unchanged file is not read again) and by content hash (so the same content under
another name counts once). Both are written atomically (temp file, fsync, rename), frames
first: a crash between the two only means a file is merged again, which changes nothing.
Everything here is rebuildable from the exports.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.fsutil import Signature, atomic_write, signature_or_link
from retrain_gate.labelstudio import RULES_VERSION
from retrain_gate.models import FRAME_KEY, FRAME_SCHEMA, empty_frames
from retrain_gate.progress import FILES_STAGE
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
    from retrain_gate.loader import KnownContent, Loaded, Loader

FRAMES_FILE = "frames.parquet"
PENDING_FILE = "pending.parquet"  # frames the prediction index decides (labelstudio/predictions.py)
INDEX_FILE = "predictions.parquet"  # the prediction index across files
# Refused files are remembered (so an unchanged bad file is not parsed again), but a folder
# that keeps receiving junk must not grow the registry forever.
MAX_REFUSED_RECORDS = 2000

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
FileProgress = Callable[[str, int, int], None]  # (file name, index, count)


@dataclass(frozen=True)
class Batch:
    """What a source hands the store once per `check` or watcher tick (`FrameStore.apply`).

    `changed`: files new or rewritten since the last batch (any order: the store reads them
    oldest first). `removed`: files gone since (deleted, renamed away, objects gone from a
    complete bucket listing). A path is the file's local path; a source that mirrors a bucket
    hands the paths of its local copies. `FrameStore.changes(present)` makes the batch from
    a complete listing of what is present now; `seen` holds the (size, mtime_ns) that listing
    found for each changed file, so that it is not asked of the disk again (a changed file
    missing from it is looked at when read)."""

    changed: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()
    seen: Mapping[str, Signature] = field(default_factory=dict)


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
        return self.describe()

    def describe(self, shown: Callable[[Path | str], str] = str) -> str:
        """The line for a person; `shown` names a path (config.paths.shown: a bucket's files
        by their URL)."""
        name = shown(self.path)
        if self.outcome == "ingested":
            return (
                f"ingested {name}: {plural(self.frames, 'frame')}, {self.new_frames:,} new, "
                f"{self.changed_frames:,} changed"
            )
        if self.outcome == "duplicate":
            first = shown(self.duplicate_of) if self.duplicate_of is not None else "another file"
            return f"skipped {name}: same content as {first}, already ingested"
        if self.outcome == "refused":
            return f"refused {name}: {self.reason}"
        if self.outcome == "ignored":
            return f"ignored {name}: {self.reason}"
        if self.outcome == "removed":
            return f"removed {name}: {self.reason} ({self.changed_frames:,} changed)"
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

    def changes(self, present: Iterable[Path | str]) -> Batch:
        """The batch that brings the store to a complete listing of the files present now:
        the new or changed ones, and every file the store knows that is not listed."""
        registry = self.registry()
        listed: set[str] = set()
        changed: list[Path] = []
        seen: dict[str, Signature] = {}
        for path in present:
            name = str(path)
            listed.add(name)
            signature = signature_or_link(name)
            if signature is None:
                continue
            record = registry.get(name)
            if record is not None and (record.size, record.mtime_ns) == signature:
                continue  # as `known`, without a Path for each of 20k unchanged files
            changed.append(Path(name))
            seen[name] = signature
        removed = tuple(Path(name) for name in registry if name not in listed)
        return Batch(changed=tuple(changed), removed=removed, seen=seen)

    def ingest(
        self, path: Path, *, progress: ProgressFn | None = None, save: bool = True
    ) -> IngestResult:
        """Merge one file into the store: a batch of one (see `apply`)."""
        results = self.apply(Batch(changed=(path,)), progress=progress, save=save)
        return next(r for r in results if r.path == path)  # (a twin read again may precede)

    def remove(self, path: Path) -> IngestResult | None:
        """A file that left the export folder: a batch of one removal (see `apply`). None
        when it changed nothing the figures show (a refusal, a duplicate, an unknown file)."""
        results = self.apply(Batch(removed=(path,)), save=False)
        return next((r for r in results if r.outcome == "removed"), None)

    def forget_missing(self) -> list[IngestResult]:
        """The files the store knows that left the folder, removed (see `apply`). The
        caller makes sure the folder itself is there (unmounted is not empty)."""
        registry = self.registry()
        gone = tuple(Path(k) for k in registry if not os.path.lexists(k))
        return self.apply(Batch(removed=gone)) if gone else []

    def apply(
        self,
        batch: Batch,
        *,
        progress: ProgressFn | None = None,
        on_file: FileProgress | None = None,
        save: bool = True,
    ) -> list[IngestResult]:
        """Bring the store to the folder as it is now, given what changed (§1).

        Every changed file is read and turned into tables first (oldest first); per-annotation
        files are grouped by frame; then the batch is merged into the store once. A removed
        file takes its versions with it: records of refusals and duplicates simply go, an
        annotation file's frame is grouped again from the files of that frame that remain,
        and when a removed or rewritten export still held a version the figures use (a frame
        it alone held, or the winning copy of a prediction), the store is read again from the
        files present now, the only way to find each frame's latest remaining version without
        keeping every version of every file.

        One result per changed file, and one per removal that changed what is known (in that
        order). With `save=False` the state is written by a later `flush()`."""
        with _collector_paused():
            return self._apply(batch, progress, on_file, save)

    def _apply(
        self,
        batch: Batch,
        progress: ProgressFn | None,
        on_file: FileProgress | None,
        save: bool,
    ) -> list[IngestResult]:
        work = _Work()
        results: list[IngestResult] = []
        before = self.frames()
        removals = [self._forget(path, work) for path in batch.removed]
        for path in batch.changed:  # a rewritten file's old version leaves first, so that
            self._rewritten(path, work)  # a file holding its old bytes is read in this batch
        asked = {str(p) for p in batch.changed}
        unique = {str(p): p for p in (*batch.changed, *work.reread)}
        seen = {name: batch.seen.get(name) or signature_or_link(name) for name in unique}
        arrivals = {name: _arrival(path, seen[name]) for name, path in unique.items()}
        changed = sorted(unique.values(), key=lambda p: arrivals[str(p)])
        for index, path in enumerate(changed, start=1):
            if on_file is not None:
                on_file(path.name, index, len(changed))
            if progress is not None and len(changed) > 1:  # a folder of many small files
                progress(FILES_STAGE, index - 1, len(changed))
            result = self._read(path, seen[str(path)], work, progress)
            if str(path) in asked or result.outcome != "unchanged":
                results.append(result)
        results += [r for r in removals if r is not None]
        if progress and (work.exports or work.touched):
            progress("merging", 0, 1)
        self._merge_batch(work)
        if self._holds_gone(work.gone):
            self._read_again(progress)
        if any(r.outcome in ("ingested", "removed") for r in results):
            counts = _Counts(before, self.frames(), work)
            results = [counts.of(r) for r in results]
        if save:
            self.flush()
        return results

    def _forget(self, path: Path, work: _Work) -> IngestResult | None:
        """Drop a removed file's record; note what the merge must redo for it."""
        record = self.registry().pop(str(path), None)
        if record is None:
            return None
        self._registry_dirty = True
        if record.outcome != "ingested":
            return None  # a refusal or a duplicate: nothing the figures show came from it
        self._left(path, record, work)
        reason = "its annotation is gone" if record.frame else "its versions leave the figures"
        return IngestResult(path, "removed", frames=record.frames, reason=reason)

    def _left(self, path: Path, record: FileRecord, work: _Work) -> None:
        """An ingested file's version left (removed, or rewritten): its frames and copies go."""
        self._by_size = None  # its content may be gone from the store
        work.gone.add((record.mtime_ns, path.name))
        if record.frame:
            work.touched.add(_frame_key(record.frame))
        if record.sha256:  # a file of the same bytes is now the one that holds them
            for name, rec in self.registry().items():
                if rec.outcome == "duplicate" and rec.sha256 == record.sha256:
                    rec.mtime_ns = -1  # read again (`known` no longer matches)
                    work.reread.append(Path(name))

    def _rewritten(self, path: Path, work: _Work) -> None:
        registry = self.registry()
        record = registry.get(str(path))
        if record is None or record.outcome != "ingested":
            return
        signature = signature_or_link(path)
        if signature is not None and (record.size, record.mtime_ns) == signature:
            return
        del registry[str(path)]
        self._registry_dirty = True
        self._left(path, record, work)

    def _read(
        self, path: Path, signature: Signature | None, work: _Work, progress: ProgressFn | None
    ) -> IngestResult:
        """Read one changed file into the batch's tables (nothing is merged yet)."""
        if signature is None:
            return IngestResult(path, "refused", reason="the file disappeared before it was read")
        size, mtime_ns = signature
        record = self.known(path, size, mtime_ns)
        if record is not None:
            return IngestResult(path, "unchanged", frames=record.frames, reason=record.reason)
        registry = self.registry()
        previous = registry.pop(str(path), None)
        if previous is not None:
            self._registry_dirty = True
            if previous.outcome == "ingested":
                self._left(path, previous, work)
        if not path.suffix:  # Label Studio's target storage names its files without one
            return self._read_storage_file(path, size, mtime_ns, work, progress)
        from retrain_gate.loader import KnownContent

        known = KnownContent(frozenset(self._size_index().get(size, ())))
        loaded = self._load_file(path, size, mtime_ns, known, progress)
        twin = None
        if loaded.parsed is None and loaded.refusal is None:  # the same bytes as a file held
            twin = next(
                (
                    name
                    for name, rec in registry.items()
                    if rec.sha256 == loaded.digest and rec.outcome == "ingested"
                ),
                None,
            )
            if twin is None:  # the twin left in this batch: these bytes are read as new
                loaded = self._load_file(path, size, mtime_ns, KnownContent(frozenset()), progress)
        if loaded.refusal is not None:
            return self._record_refusal(
                path, loaded.size, loaded.mtime_ns, loaded.digest, loaded.refusal
            )
        if loaded.parsed is None:
            registry[str(path)] = FileRecord(
                loaded.size, loaded.mtime_ns, loaded.digest, "duplicate"
            )
            self._registry_dirty = True
            return IngestResult(path, "duplicate", duplicate_of=twin)
        registry[str(path)] = FileRecord(
            loaded.size, loaded.mtime_ns, loaded.digest, "ingested", frames=loaded.parsed.tasks
        )
        self._registry_dirty = True
        self._size_index().setdefault(loaded.size, set()).add(loaded.digest)
        work.add_export(path, loaded.parsed)
        return IngestResult(path, "ingested", frames=loaded.parsed.frames.height)

    def _read_storage_file(
        self, path: Path, size: int, mtime_ns: int, work: _Work, progress: ProgressFn | None
    ) -> IngestResult:
        """A file without an extension: a per-annotation storage file, a task-format one, or
        neither (ignored, and counted). Read by the same loader as exports (in the worker
        process for the watcher), within the same memory budget."""
        from retrain_gate.labelstudio.storage import StorageProblem, read_annotation
        from retrain_gate.loader import KnownContent

        loaded = self._load_file(path, size, mtime_ns, KnownContent(frozenset()), progress)
        if loaded.refusal is not None:
            return self._record_refusal(path, loaded.size, loaded.mtime_ns, "", loaded.refusal)
        registry = self.registry()
        size, mtime_ns = loaded.size, loaded.mtime_ns
        if loaded.kind == "annotation":
            file = loaded.annotation
            if file is None:  # from the worker: its bytes, validated there
                try:
                    file = read_annotation(loaded.raw or b"", path, mtime_ns, self.config)
                except StorageProblem as exc:
                    return self._record_refusal(path, size, mtime_ns, "", str(exc))
            name, frame = str(path), file.frame
            registry[name] = FileRecord(size, mtime_ns, "", "ingested", frames=1, frame=list(frame))
            self._registry_dirty = True
            work.annotations[name] = file
            work.touched.add(frame)
            work.add_annotation_key(path, frame)
            return IngestResult(path, "ingested", frames=1)
        if loaded.kind == "task" and loaded.parsed is not None:
            registry[str(path)] = FileRecord(size, mtime_ns, "", "ingested", frames=1)
            self._registry_dirty = True
            work.add_export(path, loaded.parsed)
            return IngestResult(path, "ingested", frames=loaded.parsed.frames.height)
        reason = (
            "a file without an extension that is not a Label Studio storage file (one "
            "annotation with its task, or one task); ignored"
        )
        registry[str(path)] = FileRecord(size, mtime_ns, "", "ignored", reason=reason)
        self._registry_dirty = True
        return IngestResult(path, "ignored", reason=reason)

    def _load_file(
        self,
        path: Path,
        size: int,
        mtime_ns: int,
        known: KnownContent,
        progress: ProgressFn | None,
    ) -> Loaded:
        if self._loader is None:
            from retrain_gate.loader import load_export

            self._loader = load_export
        return self._loader(path, self.config, size, mtime_ns, known, progress)

    def _groups(self, work: _Work) -> ParsedExport | None:
        """The storage versions of the frames the batch touched, from their annotation files
        present now (§1): those read in this batch, and the others of those frames read again
        (one pass over the registry finds them)."""
        if not work.touched:
            return None
        from retrain_gate.labelstudio.export import read_file
        from retrain_gate.labelstudio.storage import StorageProblem, group_frames, read_annotation

        members: dict[tuple[int | None, int], list[Any]] = {key: [] for key in work.touched}
        for name, rec in list(self.registry().items()):
            if not rec.frame or rec.outcome != "ingested":
                continue
            group = members.get(_frame_key(rec.frame))
            if group is None:
                continue
            file = work.annotations.get(name)
            if file is None:
                if signature_or_link(Path(name)) != (rec.size, rec.mtime_ns):
                    continue  # changed since it was read: its own batch brings it back
                try:
                    raw, mtime_ns = read_file(Path(name), self.config)
                    file = read_annotation(raw, Path(name), mtime_ns, self.config)
                except (ExportRefused, StorageProblem):
                    continue  # gone or changed since: its own event brings it back
                if file.frame != _frame_key(rec.frame):
                    continue  # rewritten with another frame since: the same
            group.append(file)
        grouped, problems = group_frames(members.values(), self.config)
        for key, reason in problems.items():  # the task of the frame cannot be read
            for file in members[key]:
                if str(file.path) in work.annotations:
                    self._record_refusal(file.path, 0, file.arrival[0], "", reason)
        return grouped

    def _merge_batch(self, work: _Work) -> None:
        """Merge the batch's tables into the store, once: exports by §1's stamp rule, the
        touched frames' storage versions replaced, the prediction index extended, and the
        pending frames the batch can decide decided."""
        grouped = self._groups(work)
        if not work.exports and grouped is None:
            return
        # the reader's modules: a `check` with nothing new never imports them (msgspec)
        from retrain_gate.labelstudio import predictions as index_rules

        before = self.frames()
        pending, index = self._index_tables()
        assert self._exported is not None and self._storage is not None
        exported, storage = self._exported, self._storage
        files = [*work.exports, *([grouped] if grouped is not None else [])]
        if work.exports:
            incoming = pl.concat([p.frames for p in work.exports], how="vertical")
            if len(work.exports) > 1:
                incoming = _latest(incoming)
            exported = merge_frames(exported, incoming)
        if grouped is not None:
            touched = pl.DataFrame(
                list(work.touched),
                schema={"project": pl.Int64(), "task_id": pl.Int64()},
                orient="row",
            )
            storage = storage.join(touched, on=FRAME_KEY, how="anti", nulls_equal=True)
            storage = merge_frames(storage, grouped.frames)
        index = index_rules.merge_index(
            index, pl.concat([p.predictions for p in files], how="vertical")
        )
        pending = pl.concat([pending, *(p.pending for p in files)], how="vertical")
        pending = index_rules.kept_pending(pending, pl.concat([exported, storage]))
        arrivals: set[tuple[int, str]] = set()
        for table in files:
            arrivals.update(
                table.frames.select("arrival_mtime_ns", "arrival_name").unique().iter_rows()
            )
        tolerance = self.config.corrections.tolerance
        exported = index_rules.resolve(exported, pending, index, arrivals, tolerance)
        storage = index_rules.resolve(storage, pending, index, arrivals, tolerance)
        self._exported, self._storage, self._frames = exported, storage, None
        self._pending, self._index = pending, index
        self._frames_dirty = True
        after = self.frames()
        if not _changes(before, after)[0]:
            self._frames = before  # keep the stored table exactly as it is

    def _holds_gone(self, gone: set[tuple[int, str]]) -> bool:
        """Whether a version of a file that left (removed, or rewritten) is still in use: a
        frame it alone held, or the copy of a prediction it was the last to bring."""
        if not gone:
            return False
        self.frames()
        assert self._exported is not None and self._storage is not None
        arrivals = pl.DataFrame(
            list(gone),
            schema={"arrival_mtime_ns": pl.Int64(), "arrival_name": pl.String()},
            orient="row",
        )
        index = self._index_tables()[1]
        listing = index.select(
            pl.col("listed_mtime_ns").alias("arrival_mtime_ns"),
            pl.col("listed_name").alias("arrival_name"),
        )
        tables = [self._exported, self._storage, index, listing]
        return any(
            not table.join(arrivals, on=list(arrivals.columns), how="semi").is_empty()
            for table in tables
        )

    def _read_again(self, progress: ProgressFn | None) -> None:
        """Every file the store holds read again, from nothing (§1: the figures are those of
        the files present now). Refusals and ignored files are kept: they are unchanged."""
        registry = self.registry()
        again = tuple(
            Path(k) for k, v in registry.items() if v.outcome in ("ingested", "duplicate")
        )
        kept = {k: v for k, v in registry.items() if v.outcome in ("refused", "ignored")}
        self.reset()
        self.registry().update(kept)
        work = _Work()
        seen = {str(path): signature_or_link(path) for path in again}
        for path in sorted(again, key=lambda p: _arrival(p, seen[str(p)])):
            self._read(path, seen[str(path)], work, progress)
        self._merge_batch(work)

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

FrameKey = tuple[int | None, int]


@dataclass
class _Work:
    """What one batch has read and must redo, before the one merge."""

    exports: list[ParsedExport] = field(default_factory=list)  # exports and task files
    annotations: dict[str, Any] = field(default_factory=dict)  # path -> storage.AnnotationFile
    touched: set[FrameKey] = field(default_factory=set)  # frames whose storage version changes
    gone: set[tuple[int, str]] = field(default_factory=set)  # arrivals of versions that left
    reread: list[Path] = field(default_factory=list)  # files that now hold a removed file's bytes
    # the frames of each file read, to count what each brought: tables for exports, one row
    # for each annotation file (a Python set of an export's keys cost as much as its merge)
    export_keys: list[pl.DataFrame] = field(default_factory=list)
    annotation_keys: list[tuple[str, int | None, int]] = field(default_factory=list)

    def add_export(self, path: Path, parsed: ParsedExport) -> None:
        self.exports.append(parsed)
        keys = parsed.frames.select(FRAME_KEY)
        self.export_keys.append(keys.with_columns(file=pl.lit(str(path))))

    def add_annotation_key(self, path: Path, frame: FrameKey) -> None:
        self.annotation_keys.append((str(path), frame[0], frame[1]))

    def frames_by_file(self) -> pl.DataFrame:
        """(file, project, task_id) for every frame of every file this batch read."""
        singles = pl.DataFrame(
            self.annotation_keys,
            schema={"file": pl.String, "project": pl.Int64, "task_id": pl.Int64},
            orient="row",
        )
        tables = [t.select("file", *FRAME_KEY) for t in self.export_keys]
        return pl.concat([singles, *tables], how="vertical")


class _Counts:
    """What a batch changed, frame by frame, and how much of it each file brought: joins on
    the frame key, once a batch, with no per-frame Python objects."""

    def __init__(self, before: pl.DataFrame, after: pl.DataFrame, work: _Work) -> None:
        self.removed = max(0, before.height - after.height)
        keys = after.select(FRAME_KEY)
        if before.is_empty():  # a first read: every frame is new
            new, changed = keys, keys.clear()
        elif not _changes(before, after)[0]:
            new, changed = keys.clear(), keys.clear()
        else:
            new = after.join(before, on=FRAME_KEY, how="anti", nulls_equal=True).select(FRAME_KEY)
            differ = after.join(before, on=_CONTENT, how="anti", nulls_equal=True)
            gone = before.join(after, on=FRAME_KEY, how="anti", nulls_equal=True)
            changed = pl.concat(
                [
                    differ.select(FRAME_KEY).join(new, on=FRAME_KEY, how="anti", nulls_equal=True),
                    gone.select(FRAME_KEY),
                ]
            )
        self.changed = changed.height
        per_file = (
            work.frames_by_file()
            .join(new.with_columns(new=pl.lit(1)), on=FRAME_KEY, how="left", nulls_equal=True)
            .join(
                changed.with_columns(changed=pl.lit(1)), on=FRAME_KEY, how="left", nulls_equal=True
            )
            .group_by("file")
            .agg(pl.col("new").sum(), pl.col("changed").sum())
        )
        self._per_file: dict[str, tuple[int, int]] = {
            file: (int(n), int(c)) for file, n, c in per_file.iter_rows()
        }

    def of(self, result: IngestResult) -> IngestResult:
        if result.outcome == "removed":  # its frames are no longer known: the batch's counts
            return replace(result, changed_frames=self.changed, removed_frames=self.removed)
        if result.outcome != "ingested":
            return result
        new, changed = self._per_file.get(str(result.path), (0, 0))
        # not `replace`: its generic path costs as much as the rest of a small file's count
        return IngestResult(result.path, result.outcome, result.frames, new, changed)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is read and merged: a batch makes tens of
    thousands of small objects that all live until its end, and each full collection would
    walk all of them again (cost growing with files x batch size). Collected once after."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _arrival(path: Path, signature: Signature | None) -> tuple[int, str]:
    """Oldest first: the order files were written in (mtime, then name)."""
    return (signature[1] if signature is not None else 0, path.name)


def _latest(frames: pl.DataFrame) -> pl.DataFrame:
    """One version per frame of several files' frames (§1: greatest stamp, then arrival)."""
    return frames.sort(["stamp", "arrival_mtime_ns", "arrival_name"]).unique(
        subset=FRAME_KEY, keep="last", maintain_order=True
    )


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
