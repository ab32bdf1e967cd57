"""Notifications out: the events worth a person's attention, sent once each through Apprise.

Events are derived, not logged as they happen: the writer compares what it sees now (the
report, the ledger, the refused files, the watcher's health) with what was last *observed*,
and each difference is an event (`derive`). The observation and the messages it produced are
written together, in one atomic write of `notify.json` in the state folder (the outbox), before
anything is sent. So:

* only the process holding the writer role observes and sends (service.py starts a `Notifier`
  when it becomes the writer); a follower, a second TUI or a one-shot command never does;
* a restart, or a follower taking over after the writer died, reads the outbox and sees the
  same observation: nothing already observed is an event again, and undelivered messages are
  sent by the new writer;
* what happened while nothing ran is an event at the next start, if it is still true then (an
  alert raised and ended meanwhile is not news; a decision recorded in the ledger always is).

Delivery runs on its own thread, with backoff, and never holds up the ingest or a UI: it
only reports through the `on_status` callback. The one window left is a writer killed between
a service accepting a message and the outbox recording it: the next writer sends it again
(a duplicate rather than a lost 02:00 alert).

URLs may name environment variables (`${SLACK_URL}`), expanded at send time; a URL is never
shown: messages say `#2 (slack)` or the `${NAME}` it was written as.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from retrain_gate.config import Config
from retrain_gate.decisions.ledger import LedgerEntry
from retrain_gate.errors import RetrainGateError
from retrain_gate.fsutil import atomic_write
from retrain_gate.models import HumanState, Report
from retrain_gate.text import printable, short_hash

OUTBOX_NAME = "notify.json"
KEEP_FINISHED = 50  # delivered or given-up messages kept for the record (the file stays small)
MAX_MESSAGES = 500  # pending ones beyond this (a receiver down for days) are given up, oldest first
MAX_BACKOFF_SECONDS = 900.0
SEND_TIMEOUT_SECONDS = 10

Level = Literal["info", "warning", "error"]
StatusFn = Callable[[str, Level], None]
DeliveryStatus = Literal["pending", "sent", "failed"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NotifyError(RetrainGateError):
    """A URL that cannot be used as configured (a missing variable, an unknown scheme)."""


# ------------------------------------------------------------------ URLs, never shown in full


def url_id(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]


def describe_url(template: str, number: int) -> str:
    """How a URL is named in messages and logs: its number and scheme, or its `${NAME}`."""
    names = _ENV.findall(template)
    if names and template.startswith("${"):
        return f"#{number} " + "".join(f"${{{name}}}" for name in names)
    scheme = template.split("://", 1)[0] if "://" in template else "?"
    return f"#{number} ({printable(scheme, limit=20)})"


def expand(template: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if not found:
            raise NotifyError(f"the environment variable {name} is not set")
        return found

    return _ENV.sub(value, template)


def _scrub(text: str, url: str) -> str:
    """`text` without any piece of `url` long enough to be a token (services' errors can
    quote the host or the path)."""
    rest = url.split("://", 1)[-1]
    pieces = sorted(
        (p for p in re.split(r"[/:@?&=#,]+", rest) if len(p) >= 4), key=len, reverse=True
    )
    for piece in pieces:
        text = text.replace(piece, "…")
    return text


def send(template: str, title: str, body: str) -> tuple[bool, str, bool]:
    """Send one message to one URL: (delivered, why not, worth retrying)."""
    import apprise  # a second or so of imports: only a process that sends pays for it

    try:
        url = expand(template)
    except NotifyError as exc:
        return False, str(exc), False
    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "not a URL Apprise knows (check the scheme and its parts)", False
    capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
    with capture as captured:
        ok = bool(sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))
    if ok:
        return True, "", False
    lines = [line for line in str(captured.getvalue()).splitlines() if line.strip()]
    why = lines[-1] if lines else "the service did not accept it"
    return False, printable(_scrub(why, url), limit=200), True


def quiet_apprise() -> None:
    """Apprise logs its failures at WARNING; with no handler configured, Python would print
    them on stderr, over a TUI. They are captured per send instead (`send`)."""
    log = logging.getLogger("apprise")
    log.addHandler(logging.NullHandler())
    log.propagate = False


# ------------------------------------------------------------------ what was observed


@dataclass
class Observed:
    """What the writer last saw; persisted with the messages it produced."""

    decision: str | None = None
    alerts: list[str] = field(default_factory=list)  # open alert keys
    ledger_seq: int = 0
    refused: list[str] = field(default_factory=list)  # digests of (path, reason)
    unreadable: bool = False


@dataclass(frozen=True)
class Event:
    kind: str
    title: str
    body: str


@dataclass(frozen=True)
class Snapshot:
    """What `derive` compares with the last observation."""

    report: Report
    human: HumanState
    entries: Sequence[LedgerEntry]
    refused: Mapping[str, str]  # path -> reason


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:16]


def open_alerts(report: Report, human: HumanState) -> list[str]:
    keys = []
    regression = report.regression
    if regression.active and regression.source == "statistics" and regression.alert_key:
        keys.append(regression.alert_key)
    keys.extend(f"report:{r.seq}" for r in human.open_reports)
    return keys


def _acknowledged(key: str, report: Report, human: HumanState) -> bool:
    if key == report.regression.alert_key and report.regression.acknowledged_by:
        return True
    return key.startswith("report:") and any(a.alert_key == key for a in human.acks)


def _project(config: Config) -> str:
    if config.source is not None:
        folder = config.source.resolve().parent.name
        return printable(folder or config.source.name, limit=60)
    return printable(config.paths.state_dir.parent.name, limit=60)


def _command(config: Config, verb: str) -> str:
    where = f" --config {config.source}" if config.source is not None else ""
    return printable(f"retrain-gate {verb}{where}")


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _delta_line(report: Report) -> str:
    line = (
        f"Delta since the last training: {report.delta_episodes}/{report.needed_episodes} "
        "episodes (have/needed)"
    )
    if report.delta_fraction is not None:
        line += f", {report.delta_fraction:.0%} of a corpus of {report.corpus_episodes}"
    return line + "."


def _decision_line(report: Report) -> str:
    return f"Decision: {report.decision}. {printable(report.reason)}"


def _release_episodes(report: Report, name: str | None) -> str:
    for release in report.releases:
        if release.model_version == name:
            return f"{release.episodes} episodes"
    return "episodes unknown"


def _alert_raised(key: str, snap: Snapshot, config: Config) -> Event:
    report, regression = snap.report, snap.report.regression
    act = (
        f"To acknowledge: press a in the dashboard, or run {_command(config, 'ack --by NAME')}\n"
        f"To retrain: press r, or run {_command(config, 'approve --by NAME')}"
    )
    if key.startswith("report:"):
        seq = int(key.split(":", 1)[1])
        found = next((r for r in snap.human.open_reports if r.seq == seq), None)
        by = printable(found.by) if found else "someone"
        note = printable(found.note) if found else ""
        first = f"Regression reported by {by} (ledger #{seq}): {note}"
        title = f"regression reported by {by}"
    else:
        prev, cur = printable(regression.previous), printable(regression.current)
        before = _release_episodes(report, regression.previous)
        after = _release_episodes(report, regression.current)
        first = (
            f"{cur} pre-annotates significantly worse than {prev}: corrections per episode "
            f"{_fmt(regression.previous_cpe)} for {prev} ({before}) "
            f"-> {_fmt(regression.current_cpe)} for {cur} ({after}), "
            f"p = {_fmt(regression.p_value, '.3g')} (alpha {config.regression.alpha:g})."
        )
        title = f"regression alert: {cur} worse than {prev}"
    body = "\n".join([first, _decision_line(report), _delta_line(report), act])
    return Event("alert_raised", title, body)


def _alert_ended(key: str, snap: Snapshot, approved_by: str | None) -> Event:
    shown = printable(key)
    why = (
        f"a retrain was approved by {approved_by}"
        if approved_by
        else "the figures no longer show it"
    )
    body = "\n".join([f"The regression alert {shown} ended: {why}.", _decision_line(snap.report)])
    return Event("alert_ended", f"regression alert ended ({shown})", body)


def _who(entry: LedgerEntry) -> str:
    return (
        f"{printable(entry.actor)} ({printable(entry.os_user)}@{printable(entry.host)}) "
        f"at {entry.ts}"
    )


def _ledger_event(entry: LedgerEntry, snap: Snapshot, config: Config) -> Event | None:
    payload = entry.payload
    note = printable(payload.get("note") or "")
    noted = f"\nNote: {note}" if note else ""
    if entry.kind == "ack":
        keys = ", ".join(printable(k) for k in payload.get("alert_keys") or [])
        body = (
            f"Regression alert {keys} acknowledged by {_who(entry)} (ledger #{entry.seq}).{noted}\n"
            "The alert stays until a retrain is approved.\n"
            f"To retrain: press r in the dashboard, or run {_command(config, 'approve --by NAME')}"
        )
        return Event("alert_acknowledged", f"alert acknowledged by {printable(entry.actor)}", body)
    if entry.kind == "approval":
        episodes = len(payload.get("approved_episodes") or [])
        frames = payload.get("approved_frames", 0)
        override = " against a WAIT (override)" if payload.get("override") else ""
        body = (
            f"Retrain approved{override} by {_who(entry)} (ledger #{entry.seq}): "
            f"{episodes} episodes ({frames} frames) join the corpus.{noted}\n"
            f"Figures when approved: {printable(payload.get('decision', ''))}, "
            f"{printable(payload.get('reason', ''))}\n"
            f"Training slice: {printable(payload.get('manifest', ''))}\n"
            "retrain-gate starts nothing: train with your usual pipeline."
        )
        return Event("approval", f"retrain approved by {printable(entry.actor)}", body)
    if entry.kind == "pin":
        pinned = short_hash(payload.get("eval_hash"))
        before = short_hash(payload.get("previous_hash"))
        body = (
            f"Eval set pinned at {pinned} (was {before}) by {_who(entry)} "
            f"(ledger #{entry.seq}).{noted}\n{_decision_line(snap.report)}"
        )
        return Event("pin", f"eval set pinned by {printable(entry.actor)}", body)
    return None  # reports are alerts: raised through the open alert keys


def _ready(snap: Snapshot, config: Config) -> Event:
    report = snap.report
    spread = f"Spread: Gini {report.task_gini:.2f}, top task {report.top_task_share:.0%}"
    if report.top_task:
        spread += f" ({printable(report.top_task)})"
    body = "\n".join(
        [
            f"READY to retrain: {printable(report.reason)}",
            _delta_line(report),
            spread + ".",
            f"Eval set: {report.eval.status}.",
            f"To approve: press r in the dashboard, or run {_command(config, 'approve --by NAME')}",
        ]
    )
    return Event("ready", "READY to retrain", body)


def _wait(snap: Snapshot) -> Event:
    report = snap.report
    body = "\n".join([f"Back to WAIT: {printable(report.reason)}", _delta_line(report)])
    return Event("wait", "back to WAIT", body)


def _refused(new: Mapping[str, str], config: Config) -> Event:
    shown = sorted(new.items())[:5]
    lines = [f"{len(new)} export file(s) refused; fix or remove them:"]
    lines += [
        f"  {printable(Path(p).name, limit=120)}: {printable(r, limit=200)}" for p, r in shown
    ]
    if len(new) > len(shown):
        lines.append(f"  and {len(new) - len(shown)} more (retrain-gate check lists them)")
    lines.append(f"Export folder: {printable(config.paths.export_dir)}")
    return Event("refused", f"{len(new)} export file(s) refused", "\n".join(lines))


def derive(prev: Observed | None, snap: Snapshot, config: Config) -> tuple[Observed, list[Event]]:
    """The new observation, and the events between `prev` and `snap` (every kind; the caller
    keeps those configured). `prev` None: the first observation of this state folder, where
    the ledger's history is not news but what is true now is."""
    report, human = snap.report, snap.human
    first = prev is None
    last = prev or Observed()
    events: list[Event] = []

    last_seq = snap.entries[-1].seq if snap.entries else 0
    new_entries = [] if first else [e for e in snap.entries if e.seq > last.ledger_seq]
    approved_by = next(
        (printable(e.actor) for e in reversed(new_entries) if e.kind == "approval"), None
    )

    alerts = open_alerts(report, human)
    for key in alerts:
        if key not in last.alerts and not (first and _acknowledged(key, report, human)):
            events.append(_alert_raised(key, snap, config))
    events.extend(_alert_ended(key, snap, approved_by) for key in last.alerts if key not in alerts)
    for entry in new_entries:
        event = _ledger_event(entry, snap, config)
        if event is not None:
            events.append(event)

    if report.decision == "READY" and last.decision != "READY":
        events.append(_ready(snap, config))
    elif report.decision == "WAIT" and last.decision == "READY":
        events.append(_wait(snap))

    refused = {_digest(p, r): (p, r) for p, r in snap.refused.items()}
    new_refused = {p: r for d, (p, r) in refused.items() if d not in last.refused}
    if new_refused:
        events.append(_refused(new_refused, config))

    observed = Observed(
        decision=report.decision,
        alerts=alerts,
        ledger_seq=max(last_seq, last.ledger_seq) if not first else last_seq,
        refused=sorted(refused),
        unreadable=last.unreadable,
    )
    return observed, events


def unreadable_event(config: Config, since: float, now: float, why: str) -> Event:
    minutes = (now - since) / 60
    body = (
        f"The watcher has not been able to read {printable(config.paths.export_dir)} for "
        f"{minutes:.0f} min: {printable(why)}\n"
        "New exports are not being ingested until it can."
    )
    return Event("watch_unreadable", "the export folder cannot be read", body)


# ------------------------------------------------------------------ the outbox


@dataclass
class Delivery:
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_at: float = 0.0
    error: str = ""
    done_at: float | None = None


@dataclass
class Outgoing:
    id: str
    event: str
    title: str
    body: str
    created: float
    deliveries: dict[str, Delivery]

    @property
    def finished(self) -> bool:
        return all(d.status != "pending" for d in self.deliveries.values())


@dataclass
class Outbox:
    observed: Observed | None = None
    messages: list[Outgoing] = field(default_factory=list)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "version": 1,
            "observed": asdict(self.observed) if self.observed is not None else None,
            "messages": [asdict(m) for m in self.messages],
        }
        return json.dumps(data, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Outbox:
        data = json.loads(text)
        observed = Observed(**data["observed"]) if data.get("observed") else None
        messages = [
            Outgoing(
                **{k: v for k, v in m.items() if k != "deliveries"},
                deliveries={k: Delivery(**d) for k, d in m["deliveries"].items()},
            )
            for m in data.get("messages", [])
        ]
        return cls(observed, messages)


def load_outbox(state_dir: Path) -> tuple[Outbox, str | None]:
    """The outbox, and a problem to tell a person when it could not be read."""
    path = state_dir / OUTBOX_NAME
    try:
        return Outbox.from_json(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return Outbox(), None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # Starting afresh sends what is true now again, at worst: better than sending nothing.
        return Outbox(), f"{path}: unreadable ({exc!r}); starting a new outbox"


def delivery_problems(state_dir: Path, since: float) -> tuple[int, int, str]:
    """(retrying, failed since `since`, the latest error) in the outbox: for the processes that
    do not send (a dashboard following `watch`), so a failing webhook shows there too."""
    outbox, _problem = load_outbox(state_dir)
    retrying = failed = 0
    latest: tuple[float, str] = (-1.0, "")
    for message in outbox.messages:
        for delivery in message.deliveries.values():
            if delivery.status == "pending" and delivery.attempts:
                retrying += 1
            elif delivery.status == "failed" and (delivery.done_at or 0.0) >= since:
                failed += 1
            else:
                continue
            at = delivery.done_at or delivery.next_at
            if at >= latest[0]:
                latest = (at, delivery.error)
    return retrying, failed, latest[1]


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

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Take over the outbox (the caller holds the writer role) and start delivering."""
        quiet_apprise()
        outbox, problem = load_outbox(self.config.paths.state_dir)
        if problem is not None:
            self._status(problem, "warning")
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
            observed, events = derive(self._outbox.observed, snap, self.config)
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
        project = _project(self.config)
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


def send_test(config: Config) -> list[tuple[str, bool, str]]:
    """`retrain-gate notify test`: one message to each URL, now; (url as shown, ok, why)."""
    quiet_apprise()
    project = _project(config)
    title = f"retrain-gate ({project}): test message"
    body = (
        f"A test from retrain-gate notify test. Notifications for {project} "
        f"({', '.join(config.notify.events) or 'no events'}) will arrive here."
    )
    results = []
    for number, template in enumerate(config.notify.urls, start=1):
        ok, why, _retry = send(template, title, body)
        results.append((describe_url(template, number), ok, why))
    return results
