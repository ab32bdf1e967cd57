"""The one facade both shells call: config + frame store + ledger -> `Report`.

`Engine.refresh()` ingests whatever is new in the export folder and evaluates; `evaluate()`
recomputes from the stored frames and the ledger alone (no export is read again), which is
what runs after an approval, a pin or an ack.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from retrain_gate import alerts
from retrain_gate.candidates import candidate_names
from retrain_gate.config import Config
from retrain_gate.decisions.ledger import Ledger, utc_now_iso
from retrain_gate.decisions.replay import human_state
from retrain_gate.errors import ConfigError, StateError
from retrain_gate.evalset import eval_set_hash, eval_set_signature
from retrain_gate.fsutil import atomic_write, identity
from retrain_gate.metrics import evaluate
from retrain_gate.models import HumanState, Report
from retrain_gate.store import Batch, FileProgress, FrameStore, IngestResult, ProgressFn

if TYPE_CHECKING:
    from retrain_gate.loader import IsolatedLoader, Loader


@dataclass
class _EvalCache:
    signature: tuple[tuple[str, int, int], ...] | None = None
    digest: str | None = None


@dataclass(frozen=True)
class CacheSizes:
    """What the engine's caches hold: one value each, replaced when its source changes."""

    ledger_replays: int  # the ledger replayed into HumanState, keyed by the file's identity
    eval_hashes: int  # the eval set's hash, keyed by its files' signatures
    eval_files: int  # the files the cached eval hash covers


@dataclass
class Engine:
    config: Config
    persist: bool = True
    # Parse exports in a worker process: for long-running shells, whose threads (a UI) must
    # not wait behind a decode that holds the GIL for a whole file.
    isolated: bool = False
    store: FrameStore = field(init=False)
    ledger: Ledger = field(init=False)
    _eval: _EvalCache = field(init=False, default_factory=_EvalCache)
    _isolated: IsolatedLoader | None = field(init=False, default=None)
    # The ledger replayed, keyed by the file's identity: every append changes its size, so a
    # recompute re-reads the ledger only when it changed (cost flat in the ledger's length).
    _human: tuple[object, HumanState] | None = field(init=False, default=None)
    _alert_ends: dict[str, str] | None = field(init=False, default=None)  # alerts.py

    def __post_init__(self) -> None:
        loader: Loader | None = None  # the store's own: loader.load_export, in this process
        if self.isolated:
            from retrain_gate.loader import IsolatedLoader

            self._isolated = IsolatedLoader()
            loader = self._isolated
        self.store = FrameStore(
            self.config.paths.state_dir, self.config, persist=self.persist, loader=loader
        )
        self.ledger = Ledger(self.config.paths.state_dir)

    # -------------------------------------------------------------- ingest

    def warm(self) -> None:
        """Start the worker process now (isolated engines), off the first export's path."""
        if self._isolated is not None:
            self._isolated.warm()

    def close(self) -> None:
        if self._isolated is not None:
            self._isolated.close()

    def ingest(
        self, path: Path, progress: ProgressFn | None = None, *, save: bool = True
    ) -> IngestResult:
        return self.store.ingest(path, progress=progress, save=save)

    def apply(
        self,
        batch: Batch,
        progress: ProgressFn | None = None,
        on_file: FileProgress | None = None,
        *,
        save: bool = True,
    ) -> list[IngestResult]:
        """One batch of changes from a source (a watcher tick), merged once."""
        return self.store.apply(batch, progress=progress, on_file=on_file, save=save)

    def scan(
        self,
        progress: ProgressFn | None = None,
        on_file: FileProgress | None = None,
    ) -> list[IngestResult]:
        """Bring the store to export_dir as it is now: every new or changed file read, every
        file gone removed, in one batch."""
        export_dir = self.config.paths.export_dir
        if not export_dir.is_dir():
            return []  # a folder that is not there (unmounted) is not an empty one
        batch = self.store.changes(candidate_names(export_dir))
        # a file the walk could not list (a folder without permission) is not a removed one
        removed = tuple(p for p in batch.removed if not os.path.lexists(p))
        batch = Batch(changed=batch.changed, removed=removed, seen=batch.seen)
        try:
            return self.store.apply(batch, progress=progress, on_file=on_file, save=False)
        finally:
            self.store.flush()  # one write for the whole batch, also after a failure

    # -------------------------------------------------------------- evaluate

    def human_state(self) -> HumanState:
        signature = identity(self.ledger.path)
        if signature is not None and self._human is not None and self._human[0] == signature:
            return self._human[1]
        state = human_state(self.ledger.entries())
        self._human = (signature, state) if signature is not None else None
        return state

    def eval_hash(self) -> str | None:
        path = self.config.paths.eval_set
        signature = eval_set_signature(path)
        if signature is None:
            self._eval = _EvalCache()
            return eval_set_hash(path)
        if signature != self._eval.signature:
            self._eval = _EvalCache(signature, eval_set_hash(path))
        return self._eval.digest

    def cache_sizes(self) -> CacheSizes:
        signature = self._eval.signature
        return CacheSizes(
            ledger_replays=0 if self._human is None else 1,
            eval_hashes=0 if signature is None else 1,
            eval_files=0 if signature is None else len(signature),
        )

    def evaluate(self, human: HumanState | None = None) -> Report:
        human = human if human is not None else self.human_state()
        if self._alert_ends is None:
            self._alert_ends = alerts.load(self.config.paths.state_dir)
        report = evaluate(
            self.store.frames(), self.config, human, self.eval_hash(), self._alert_ends
        )
        self._observe_alert_ends(report, human)
        return report

    def _observe_alert_ends(self, report: Report, human: HumanState) -> None:
        assert self._alert_ends is not None
        updated = alerts.observe_ends(report, human, self._alert_ends, utc_now_iso())
        if updated is None:
            return
        self._alert_ends = updated
        if self.persist:
            path = self.config.paths.state_dir / alerts.FILE_NAME
            text = alerts.dumps(updated)
            # An observation, not a decision: if the state folder cannot take it (full,
            # read-only), this process still applies it; the figures never depend on it.
            with contextlib.suppress(StateError):
                atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def refresh(
        self, progress: ProgressFn | None = None, on_file: FileProgress | None = None
    ) -> tuple[list[IngestResult], Report]:
        results = self.scan(progress, on_file)
        return results, self.evaluate()


def require_sources(config: Config) -> None:
    """For the commands that decide on the figures (`check`, approve, pin...): a missing or
    unreadable `export_dir` or `eval_set` is an error, not an empty wait. (The watcher and the
    dashboard wait for them instead, and say so.)"""
    where = f" in {config.source}" if config.source else ""
    export_dir, eval_set = config.paths.export_dir, config.paths.eval_set
    if not export_dir.exists():
        raise ConfigError(
            f"[paths] export_dir{where}: {export_dir} does not exist; create it or point "
            "export_dir at the folder where your Label Studio exports land"
        )
    if not export_dir.is_dir():
        raise ConfigError(f"[paths] export_dir{where}: {export_dir} is a file, not a folder")
    if not os.access(export_dir, os.R_OK | os.X_OK):
        raise ConfigError(
            f"[paths] export_dir{where}: {export_dir} cannot be read (permission denied)"
        )
    if not eval_set.exists():
        raise ConfigError(
            f"[paths] eval_set{where}: {eval_set} does not exist; point eval_set at your eval "
            "set (a file or a folder)"
        )
    if not os.access(eval_set, os.R_OK):
        raise ConfigError(f"[paths] eval_set{where}: {eval_set} cannot be read (permission denied)")
