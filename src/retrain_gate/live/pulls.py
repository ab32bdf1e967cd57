"""`retrain-gate pull` inside a running service: by hand (the dashboard's key) and every
`[labelstudio] pull_minutes`. Only the writer pulls: the snapshot lands in the export folder
and the watcher reads it like any export."""

from __future__ import annotations

import threading
import time

from retrain_gate.config import Config
from retrain_gate.errors import RetrainGateError
from retrain_gate.live.events import (
    Listener,
    Progress,
    PullDone,
    PullFailed,
    PullNotice,
    PullStarted,
)


class PullScheduler:
    def __init__(self, config: Config, emit: Listener) -> None:
        self.config = config
        self._emit = emit
        self._thread: threading.Thread | None = None
        self._next: float | None = None  # monotonic; None: not scheduled yet

    def start(self, *, may_pull: bool) -> tuple[bool, str]:
        """Start a pull in the background: (started, what to tell the person)."""
        labelstudio = self.config.labelstudio
        if labelstudio.url is None or labelstudio.project is None:
            return False, (
                "no Label Studio to pull from: set [labelstudio] url and project in the config "
                "(docs/sources.md)"
            )
        if not may_pull:
            return False, "only the process that writes the state pulls; this one follows it"
        if self._thread is not None and self._thread.is_alive():
            return False, "a pull is already under way"
        self._thread = threading.Thread(target=self._pull, name="retrain-gate-pull", daemon=True)
        self._thread.start()
        from retrain_gate.labelstudio.pull import shown_url  # a `user:pass@` is never shown

        return True, (
            f"pulling a snapshot of project {labelstudio.project} from {shown_url(labelstudio.url)}"
        )

    def when_due(self, *, may_pull: bool) -> None:
        """Called every housekeeping tick: start the scheduled pull when its time has come."""
        minutes = self.config.labelstudio.pull_minutes
        if not minutes or self.config.labelstudio.url is None:
            return
        now = time.monotonic()
        if self._next is None or now >= self._next:
            self._next = now + minutes * 60
            started, message = self.start(may_pull=may_pull)
            if started:
                self._emit(PullStarted(f"scheduled pull: {message}", scheduled=True))

    def _pull(self) -> None:
        from retrain_gate.labelstudio.pull import pull_snapshot

        def progress(message: str) -> None:
            self._emit(Progress(f"pull: {message}", 0, 0))

        def notice(message: str) -> None:  # a warning or a kept file: a line that stays
            self._emit(PullNotice(f"pull: {message}"))

        try:
            path = pull_snapshot(self.config, progress, notice)
        except RetrainGateError as exc:
            self._emit(PullFailed(str(exc)))
        except Exception as exc:  # the service outlives a bug in a pull
            self._emit(PullFailed(repr(exc)))
        else:
            self._emit(PullDone(path.name))
