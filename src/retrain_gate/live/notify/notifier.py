"""`Notifier`: the writer's outbox and its delivery thread.

Only the process holding the writer role observes and sends (live/sending.py starts a
`Notifier` when it becomes the writer); a follower, a second dashboard or a one-shot command
never does. A restart, or a follower taking over after the writer died, reads the outbox and
sees the same observation: nothing already observed is an event again, and undelivered
messages are sent by the new writer. What happened while nothing ran is an event at the next
start, if it is still true then (an alert raised and ended meanwhile is not news; a decision
recorded in the ledger always is).

Delivery runs on its own thread, with backoff, and never holds up the ingest or a UI: it only
reports through the `on_status` callback. The one window left is a writer killed between a
service accepting a message and the outbox recording it: the next writer sends it again (a
duplicate rather than a lost 02:00 alert). For the same reason, an outbox that cannot be read
is rebuilt from the ledger: every decision recent enough to be still undelivered is sent
again.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Literal

from retrain_gate.config import Config
from retrain_gate.errors import RetrainGateError
from retrain_gate.fsutil import atomic_write
from retrain_gate.live.notify.outbox import (
    KEEP_FINISHED,
    MAX_MESSAGES,
    OUTBOX_NAME,
    Delivery,
    Outbox,
    Outgoing,
    load_outbox,
)
from retrain_gate.live.notify.send import describe_url, quiet_apprise, send, url_id
from retrain_gate.live.notify.texts import (
    Event,
    Snapshot,
    derive,
    project_name,
    unreadable_event,
)

MAX_BACKOFF_SECONDS = 900.0

Level = Literal["info", "warning", "error"]
StatusFn = Callable[[str, Level], None]
# ------------------------------------------------------------------ the notifier


Sender = Callable[[str, str, str], tuple[bool, str, bool]]


class Notifier:
    """The writer's outbox and its delivery thread; see the module docstring."""

    def __init__(
        self,
        config: Config,
        on_status: StatusFn,
        *,
        sender: Sender = send,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._on_status = on_status
        self._send = sender
        self._clock = clock
        self._urls = {
            url_id(u): (u, describe_url(u, n)) for n, u in enumerate(config.notify.urls, 1)
        }
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outbox = Outbox()
        self._path = config.paths.state_dir / OUTBOX_NAME
        self._save_error: str | None = None
        self._closed = False
        # Set when the outbox was lost: the first observation replays the ledger since then.
        self._replay_since: float | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Take over the outbox (the caller holds the writer role) and start delivering."""
        quiet_apprise()
        outbox, problem = load_outbox(self.config.paths.state_dir)
        if problem is not None:
            # Anything younger than the give-up time may still have been waiting in it.
            self._replay_since = self._clock() - self.config.notify.give_up_after_seconds
            hours = self.config.notify.give_up_after_seconds / 3600
            self._status(
                f"{problem}, so it was rebuilt from the ledger: the decisions of the last "
                f"{hours:g} h are sent again (a duplicate rather than a loss)",
                "warning",
            )
        with self._lock:
            self._outbox = outbox
            if self._retarget():
                self._save()
        self._closed = False
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._deliver, name="retrain-gate-notify", daemon=True
        )
        self._thread.start()

    def _retarget(self) -> bool:
        """Undelivered messages follow the configured URLs: a URL removed is given up, and a
        message delivered nowhere yet goes to a URL added (a webhook fixed in the config)."""
        changed = False
        now = self._clock()
        for message in self._outbox.messages:
            if message.finished:
                continue
            for key, delivery in message.deliveries.items():
                if key not in self._urls and delivery.status == "pending":
                    delivery.status, delivery.error = "failed", "no longer configured"
                    delivery.done_at = now
                    changed = True
            if any(d.status == "sent" for d in message.deliveries.values()):
                continue
            for key in self._urls:
                if key not in message.deliveries:
                    message.deliveries[key] = Delivery(next_at=now)
                    changed = True
        return changed

    def close(self, timeout: float = 2.0) -> None:
        # A send still under way when the join gives up must not write the outbox after this
        # process gave up the writer role: the next writer owns it (and may send it again).
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    # -------------------------------------------------------------- observing

    def observe(self, snap: Snapshot) -> None:
        with self._lock:
            observed, events = derive(
                self._outbox.observed, snap, self.config, replay_since=self._replay_since
            )
            self._replay_since = None
            if observed == self._outbox.observed and not events:
                return
            self._outbox.observed = observed
            self._enqueue(events)
            self._save()
        self._wake.set()

    def observe_watch(self, unreadable_since: float | None, why: str = "") -> None:
        """The watcher's health: an event once it has failed to read the folder long enough."""
        with self._lock:
            observed = self._outbox.observed
            if observed is None:
                return  # nothing observed yet: the first report comes first
            now = self._clock()
            overdue = (
                unreadable_since is not None
                and now - unreadable_since >= self.config.notify.unreadable_after_seconds
            )
            if unreadable_since is None and observed.unreadable:
                observed.unreadable = False
                self._save()
            elif overdue and not observed.unreadable and unreadable_since is not None:
                observed.unreadable = True
                self._enqueue([unreadable_event(self.config, unreadable_since, now, why)])
                self._save()
        self._wake.set()

    def _enqueue(self, events: Sequence[Event]) -> None:
        wanted = set(self.config.notify.events)
        project = project_name(self.config)
        now = self._clock()
        for event in events:
            if event.kind not in wanted:
                continue
            self._outbox.messages.append(
                Outgoing(
                    id=uuid.uuid4().hex[:12],
                    event=event.kind,
                    title=f"retrain-gate ({project}): {event.title}",
                    body=event.body,
                    created=now,
                    deliveries={key: Delivery(next_at=now) for key in self._urls},
                )
            )
        self._trim()

    def _trim(self) -> None:
        messages = self._outbox.messages
        pending = [m for m in messages if not m.finished]
        for message in pending[: max(0, len(pending) - MAX_MESSAGES)]:
            for delivery in message.deliveries.values():
                if delivery.status == "pending":
                    delivery.status, delivery.error = "failed", "too many undelivered messages"
        finished = [m for m in messages if m.finished]
        drop = {m.id for m in finished[: max(0, len(finished) - KEEP_FINISHED)]}
        self._outbox.messages = [m for m in messages if m.id not in drop]

    def _save(self) -> None:
        text = self._outbox.to_json()
        with contextlib.suppress(OSError):  # if it cannot be made, the write says why
            self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(self._path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        except RetrainGateError as exc:
            if str(exc) != self._save_error:
                self._save_error = str(exc)
                self._status(f"notifications: {exc}", "error")
            return
        self._save_error = None

    # -------------------------------------------------------------- delivering

    def pending(self) -> int:
        with self._lock:
            return sum(
                1
                for m in self._outbox.messages
                for key, d in m.deliveries.items()
                if d.status == "pending" and key in self._urls
            )

    def _status(self, text: str, level: Level) -> None:
        with contextlib.suppress(Exception):  # a broken consumer must not stop delivery
            self._on_status(text, level)

    def _due(self, now: float) -> tuple[list[tuple[Outgoing, str]], float | None]:
        due: list[tuple[Outgoing, str]] = []
        soonest: float | None = None
        for message in self._outbox.messages:
            for key, delivery in message.deliveries.items():
                if delivery.status != "pending" or key not in self._urls:
                    continue
                if delivery.next_at <= now:
                    due.append((message, key))
                elif soonest is None or delivery.next_at < soonest:
                    soonest = delivery.next_at
        return due, soonest

    def _deliver(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                due, soonest = self._due(self._clock())
            for message, key in due:
                if self._stop.is_set():
                    return
                self._attempt(message, key)
            if due:
                continue  # new messages may have arrived meanwhile
            wait = 5.0 if soonest is None else max(0.05, min(5.0, soonest - self._clock()))
            self._wake.wait(wait)

    def _attempt(self, message: Outgoing, key: str) -> None:
        template, shown = self._urls[key]
        try:
            ok, why, retry = self._send(template, message.title, message.body)
        except Exception as exc:  # a plugin's bug must not end the delivery thread
            ok, why, retry = False, f"unexpected error {type(exc).__name__}", True
        now = self._clock()
        with self._lock:
            if self._closed:
                return
            delivery = message.deliveries[key]
            delivery.attempts += 1
            delivery.error = why
            if ok:
                delivery.status, delivery.done_at = "sent", now
                text, level = f"notified {shown}: {message.title}", "info"
            elif not retry or now - message.created >= self.config.notify.give_up_after_seconds:
                delivery.status, delivery.done_at = "failed", now
                text = f"notification to {shown} failed for good: {why} ({message.title})"
                level = "error"
            else:
                delay = min(
                    MAX_BACKOFF_SECONDS,
                    self.config.notify.retry_seconds * 2 ** (delivery.attempts - 1),
                )
                delivery.next_at = now + delay
                text = f"could not notify {shown}: {why}; retrying in {delay:.0f} s"
                level = "warning"
            self._trim()
            self._save()
        self._status(text, level)  # type: ignore[arg-type]
