"""The writer's bucket poll: sync the mirror every `[paths] poll_seconds`, on its own thread.

The mirror folder is then watched like any export folder, so what the poll downloads or
removes reaches the store through the same watcher events as a local copy or `rm` would.
When the bucket cannot be read the mirror is left as it is (the figures stay), the poller
says "unreachable since HH:MM (why)" once, retries with backoff, and says when it is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from retrain_gate.errors import RetrainGateError
from retrain_gate.sources.bucket import BucketMirror, BucketUnreachable, SyncResult
from retrain_gate.text import clock

PollKind = Literal["synced", "unreachable", "reachable", "error"]
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class PollStatus:
    kind: PollKind
    message: str
    since: float  # wall clock: when the trouble began (or when this was said)
    result: SyncResult | None = None


def backoff_seconds(poll_seconds: float, failures: int) -> float:
    """The wait after `failures` failed polls in a row: soon at first, then doubling, never
    longer than the poll interval or MAX_BACKOFF_SECONDS, whichever is longer."""
    first = min(poll_seconds, 5.0)
    return float(min(first * 2 ** max(failures - 1, 0), max(poll_seconds, MAX_BACKOFF_SECONDS)))


class BucketPoller:
    def __init__(
        self,
        mirror: BucketMirror,
        poll_seconds: float,
        on_status: Callable[[PollStatus], None],
    ) -> None:
        self.mirror = mirror
        self.poll_seconds = poll_seconds
        self._on_status = on_status
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.unreachable_since: float | None = None
        self.failures = 0
        self._reason: str | None = None  # the trouble as last said
        self.listed = False  # a listing succeeded since start: the first one is always said

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retrain-gate-bucket", daemon=True)
        self._thread.start()

    def poll_now(self) -> None:
        self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def poll_once(self) -> PollStatus:
        """One sync, and what it means for the person watching (also said via on_status
        when it is news: a change, a failure that starts, the end of one)."""
        try:
            result = self.mirror.sync(cancel=self._stop)
        except BucketUnreachable as exc:
            return self._failed(exc.reason)
        except RetrainGateError as exc:  # the state folder: not the bucket's fault
            return self._failed(str(exc), kind="error")
        except Exception as exc:  # keep polling whatever happens
            return self._failed(f"unexpected: {exc!r}", kind="error")
        was_down = self.unreachable_since
        first = not self.listed
        self.listed = True
        self.unreachable_since = None
        self.failures = 0
        self._reason = None
        now = time.time()
        if was_down is not None:
            status = PollStatus(
                "reachable",
                f"bucket {self.mirror.bucket.url} reachable again ({result.summary()})",
                now,
                result,
            )
            self._on_status(status)
            return status
        message = f"bucket {self.mirror.bucket.url}: {result.summary()}"
        status = PollStatus("synced", message, now, result)
        if result.changed or result.skipped or first:
            self._on_status(status)
        return status

    def _failed(self, reason: str, kind: PollKind = "unreachable") -> PollStatus:
        now = time.time()
        first = self.unreachable_since is None
        if first:
            self.unreachable_since = now
        self.failures += 1
        since = self.unreachable_since or now
        status = PollStatus(
            kind,
            f"bucket {self.mirror.bucket.url} unreachable since {clock(since)} ({reason}); "
            "the figures are kept, retrying",
            since,
        )
        if first or reason != self._reason:  # a new trouble, or the same outage's reason changed
            self._reason = reason
            self._on_status(status)
        return status

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            if self.failures:
                wait = backoff_seconds(self.poll_seconds, self.failures)
            else:
                wait = self.poll_seconds
            self._wake.wait(wait)
            self._wake.clear()
