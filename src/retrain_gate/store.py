"""The frame store in `state_dir`: the latest version of every frame, and what was ingested.

`frames.parquet` holds one row per frame (the merge of every export by §1's stamp rule), so
a recompute never re-reads an export. `ingested.json` remembers each file by path, size and
mtime (so an unchanged file is not read again) and by content hash (so the same content under
another name counts once). Both are written atomically (temp file, fsync, rename), frames
first: a crash between the two only means a file is merged again, which changes nothing.
Everything here is rebuildable from the exports.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from retrain_gate.config import Config
from retrain_gate.errors import StateError
from retrain_gate.models import FRAME_KEY, FRAME_SCHEMA, empty_frames
from retrain_gate.registry import (
    REGISTRY_FILE,
    REGISTRY_VERSION,
    FileRecord,
    Outcome,
    known_record,
    read_registry,
)

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
    changed_frames: int = 0  # frames whose kept version changed
    reason: str = ""
    duplicate_of: str | None = None

    @property
    def message(self) -> str:
        name = str(self.path)
        if self.outcome == "ingested":
            return (
                f"ingested {name}: {self.frames:,} frames, {self.changed_frames:,} new or updated"
            )
        if self.outcome == "duplicate":
            return f"skipped {name}: same content as {self.duplicate_of}, already ingested"
        if self.outcome == "refused":
            return f"refused {name}: {self.reason}"
        return f"unchanged {name}"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except Exception as exc:  # polars reports a full disk as a ComputeError, not an OSError
        tmp.unlink(missing_ok=True)
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        raise StateError(
            f"{path}: cannot write the state ({reason}); check free space and permissions "
            "of the state folder. Nothing recorded so far was lost."
        ) from None


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
    writer lock): new files are merged in memory only.
    """

    def __init__(
        self, state_dir: Path, *, persist: bool = True, loader: Loader | None = None
    ) -> None:
        self.state_dir = state_dir
        self.persist = persist
        # None: `loader.load_export`, imported on the first ingest: the reader (msgspec, the
        # two-process parse) is ~8 ms of imports that a `check` with nothing new never needs
        self._loader = loader
        self._frames: pl.DataFrame | None = None
        self._registry: dict[str, FileRecord] | None = None
        # digests of ingested content by size: a duplicate can only have the same size
        self._by_size: dict[int, set[str]] | None = None
        self._frames_dirty = False
        self._registry_dirty = False

    # -------------------------------------------------------------- loading

    @property
    def frames_path(self) -> Path:
        return self.state_dir / FRAMES_FILE

    @property
    def registry_path(self) -> Path:
        return self.state_dir / REGISTRY_FILE

    def frames(self) -> pl.DataFrame:
        if self._frames is None:
            self._frames = self._load_frames()
        return self._frames

    def _load_frames(self) -> pl.DataFrame:
        if not self.frames_path.exists():
            self._registry = {}  # the registry alone would claim files whose frames are gone
            return empty_frames()
        try:
            frames = pl.read_parquet(self.frames_path)
        except Exception:  # a damaged cache is rebuilt from the exports, never fatal
            self._registry = {}
            return empty_frames()
        if frames.schema != pl.Schema(FRAME_SCHEMA):
            self._registry = {}
            return empty_frames()
        return frames

    def registry(self) -> dict[str, FileRecord]:
        if self._registry is None:
            self.frames()  # a damaged frames file empties the registry too
        if self._registry is None:
            self._registry = self._load_registry()
        return self._registry

    def _load_registry(self) -> dict[str, FileRecord]:
        return read_registry(self.registry_path)

    def reload(self) -> None:
        self._frames = None
        self._registry = None
        self._by_size = None

    # -------------------------------------------------------------- ingest

    def known(self, path: Path, size: int, mtime_ns: int) -> FileRecord | None:
        return known_record(self.registry(), path, size, mtime_ns)

    def needs_ingest(self, path: Path) -> bool:
        signature = _signature(path)
        return signature is not None and self.known(path, *signature) is None

    def ingest(
        self,
        path: Path,
        config: Config,
        *,
        progress: ProgressFn | None = None,
        save: bool = True,
    ) -> IngestResult:
        """Merge one export into the store. Refusals and duplicates leave the frames as they are.

        With `save=False` the state is written by a later `flush()`, so a batch of files costs
        one write instead of one per file; a crash before the flush only means the files are
        read again (the registry is saved with the frames, never ahead of them)."""
        result = self._ingest(path, config, progress)
        if save:
            self.flush()
        return result

    def _ingest(self, path: Path, config: Config, progress: ProgressFn | None) -> IngestResult:
        signature = _signature(path)
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
        loaded = self._loader(path, config, size, mtime_ns, known, progress)
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
        changed = _changed_rows(before, merged)
        if changed:
            self._frames = merged  # otherwise keep the stored table exactly as it is
        registry[str(path)] = FileRecord(
            size, mtime_ns, digest, "ingested", frames=parsed.frames.height
        )
        self._size_index().setdefault(size, set()).add(digest)
        self._frames_dirty = self._frames_dirty or changed > 0
        self._registry_dirty = True
        return IngestResult(path, "ingested", frames=parsed.frames.height, changed_frames=changed)

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
        self._save_registry()
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

    def _save_registry(self) -> None:
        if not self.persist:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "version": REGISTRY_VERSION,
            "files": {key: vars(rec) for key, rec in self.registry().items()},
        }
        text = json.dumps(payload, ensure_ascii=False, indent=0)
        atomic_write(self.registry_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, or of the link itself when it cannot be followed (a loop,
    a dangling link), so such a name is refused once with a reason instead of skipped."""
    try:
        st = path.stat()
    except FileNotFoundError:
        try:
            st = path.lstat()
        except OSError:
            return None
        if not stat.S_ISLNK(st.st_mode):
            return None
    except OSError:
        try:
            st = path.lstat()
        except OSError:
            return None
    return (st.st_size, st.st_mtime_ns)


def _changed_rows(before: pl.DataFrame, after: pl.DataFrame) -> int:
    if before.is_empty():
        return after.height
    joined = after.join(
        before,
        on=[*FRAME_KEY, "stamp", "arrival_mtime_ns", "arrival_name"],
        how="anti",
        nulls_equal=True,
    )
    return joined.height
