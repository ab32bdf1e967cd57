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
    Problem,
    Progress,
    PullDone,
    PullFailed,
    PullNotice,
    PullStarted,
)
from retrain_gate.text import clock

# A pull ends by its own deadline (pull_timeout_seconds). One still running this long after
# it is stuck where the deadline does not reach (a hung disk, a consumer that blocks): a
# thread cannot be stopped from outside, so it is said once, and no second pull starts.
STUCK_MARGIN_SECONDS = 60.0


class PullScheduler:
    def __init__(
        self, config: Config, emit: Listener, *, stuck_margin: float = STUCK_MARGIN_SECONDS
    ) -> None:
        self.config = config
        self._emit = emit
        self._stuck_margin = stuck_margin
        self._thread: threading.Thread | None = None
        self._next: float | None = None  # monotonic; None: not scheduled yet
        self._started: tuple[float, float] | None = None  # (monotonic, wall) of the last pull
        self._stuck_said = False

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
            return False, self._stuck() or "a pull is already under way"
        self._thread = threading.Thread(target=self._pull, name="retrain-gate-pull", daemon=True)
        self._started = (time.monotonic(), time.time())
        self._stuck_said = False
        self._thread.start()
        from retrain_gate.labelstudio.pull import shown_url  # a `user:pass@` is never shown

        return True, (
            f"pulling a snapshot of project {labelstudio.project} from {shown_url(labelstudio.url)}"
        )

    def when_due(self, *, may_pull: bool) -> None:
        """Called every housekeeping tick: say once that a pull is stuck; start the scheduled
        pull when its time has come."""
        stuck = self._stuck()
        if stuck is not None and not self._stuck_said:
            self._stuck_said = True
            self._emit(Problem(stuck))
        minutes = self.config.labelstudio.pull_minutes
        if not minutes or self.config.labelstudio.url is None:
            return
        now = time.monotonic()
        if self._next is None or now >= self._next:
            self._next = now + minutes * 60
            started, message = self.start(may_pull=may_pull)
            if started:
                self._emit(PullStarted(f"scheduled pull: {message}", scheduled=True))

    def _stuck(self) -> str | None:
        """What to say of a pull still running past its deadline and the margin, or None."""
        thread, started = self._thread, self._started
        if thread is None or started is None or not thread.is_alive():
            return None
        running = time.monotonic() - started[0]
        timeout = self.config.labelstudio.pull_timeout_seconds
        if running < timeout + self._stuck_margin:
            return None
        for_how_long = f"{running / 60:.0f} min" if running >= 120 else f"{running:.0f} s"
        return (
            f"pull stuck: the pull started at {clock(started[1])} is still running after "
            f"{for_how_long}, past [labelstudio] pull_timeout_seconds ({timeout:g} s); no other "
            "pull starts until it ends. Restart retrain-gate (watch or the dashboard) to stop "
            "it; if it happens again, check the Label Studio server and the export folder's disk"
        )

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
