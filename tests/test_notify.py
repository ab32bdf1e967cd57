"""live/notify/ without processes: which events a change of state is, once each; messages that
say what a person needs, literally; URLs never shown; delivery with backoff to a real
HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_gate.config import Config, load_config, parse_config
from retrain_gate.decisions.actions import acknowledge, approve, pin_eval, report_regression
from retrain_gate.decisions.ledger import record_via
from retrain_gate.engine import Engine
from retrain_gate.errors import ConfigError
from retrain_gate.live.notify.notifier import Level, Notifier
from retrain_gate.live.notify.outbox import (
    OUTBOX_NAME,
    Delivery,
    Outbox,
    Outgoing,
    delivery_problems,
    load_outbox,
)
from retrain_gate.live.notify.send import describe_url, send
from retrain_gate.live.notify.texts import Event, Observed, Snapshot, derive, unreadable_event
from tests.notifykit import Receiver, drop_regression, free_port, project, receiving
from tests.waiting import wait_for

receiver = pytest.fixture(receiving)


def engine_on(folder: Path, urls: list[str], **kwargs: object) -> Engine:
    config = load_config(project(folder, urls, **kwargs))  # type: ignore[arg-type]
    engine = Engine(config)
    engine.scan()
    return engine


def snapshot(engine: Engine, refused: dict[str, str] | None = None) -> Snapshot:
    return Snapshot(
        engine.evaluate(),
        engine.human_state(),
        engine.ledger.entries(),
        engine.store.refused() if refused is None else refused,
    )


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


# ---------------------------------------------------------------- derive: events, once each


def test_an_alert_is_raised_acknowledged_and_ended_once_each(tmp_path: Path) -> None:
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [])
    observed, events = derive(None, snapshot(engine), engine.config)
    assert kinds(events) == ["alert_raised"]
    body = events[0].body
    # v1: 9 corrected frames over 10 episodes; v2: 42 over 10 (tests.unit.test_alerts).
    assert "0.90 for v1 (10 episodes) -> 4.20 for v2 (10 episodes)" in body
    p = engine.evaluate().regression.p_value
    assert p is not None and p < 0.01
    assert f"p = {p:.3g} (alpha 0.01)" in body
    assert "retrain-gate ack --by NAME --config" in body
    assert "20/3 episodes (have/needed)" in body  # 20 new episodes, 10% of 30 needed

    again, events = derive(observed, snapshot(engine), engine.config)
    assert (again, events) == (observed, [])

    acknowledge(engine, by="Kim", note="looking")
    observed, events = derive(observed, snapshot(engine), engine.config)
    assert kinds(events) == ["alert_acknowledged"]
    assert "acknowledged by Kim (" in events[0].body and "Note: looking" in events[0].body

    approve(engine, by="Lee", note="retrain on v2 data", override=True)
    observed, events = derive(observed, snapshot(engine), engine.config)
    assert kinds(events) == ["alert_ended", "approval"]
    assert "a retrain was approved by Lee" in events[0].body
    assert "Retrain approved by Lee (" in events[1].body  # REGRESSION is ready: no override
    assert "20 episodes (120 frames) join the corpus" in events[1].body
    assert derive(observed, snapshot(engine), engine.config)[1] == []


def test_the_first_observation_sends_what_is_true_not_the_ledger_history(tmp_path: Path) -> None:
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [])
    acknowledge(engine, by="Kim", note="")
    # Raised and acknowledged before anything observed: neither is news at the first start.
    observed, events = derive(None, snapshot(engine), engine.config)
    assert events == []
    assert observed.ledger_seq == 1 and observed.alerts == ["statistics:v1->v2"]


def test_a_notification_writes_a_percentage_as_the_reason_does(tmp_path: Path) -> None:
    """19 of 200 episodes: the reason says 9.5%, and so must the message (it said 10%)."""
    engine = engine_on(tmp_path, [])
    snap = snapshot(engine)
    report = snap.report.model_copy(
        update={
            "decision": "READY",
            "delta_episodes": 19,
            "corpus_episodes": 200,
            "delta_fraction": 19 / 200,
            "reason": "need 9% delta, have 9.5% (19/200 episodes)",
        }
    )
    _observed, events = derive(
        Observed(decision="WAIT"), Snapshot(report, snap.human, [], {}), engine.config
    )
    (ready,) = events
    assert "9.5% of a corpus of 200" in ready.body and "10%" not in ready.body


def test_ready_then_back_to_wait(tmp_path: Path) -> None:
    engine = engine_on(tmp_path, [])
    snap = snapshot(engine)
    assert snap.report.decision == "WAIT"
    ready = Snapshot(snap.report.model_copy(update={"decision": "READY"}), snap.human, [], {})
    observed, events = derive(Observed(decision="WAIT"), ready, engine.config)
    assert kinds(events) == ["ready"]
    assert "retrain-gate approve --by NAME --config" in events[0].body
    assert derive(observed, ready, engine.config)[1] == []
    assert kinds(derive(observed, snap, engine.config)[1]) == ["wait"]
    # WAIT at the first start is not news.
    assert derive(None, snap, engine.config)[1] == []


def test_refused_files_once_each_with_export_text_shown_literally(tmp_path: Path) -> None:
    engine = engine_on(tmp_path, [])
    hostile = {str(tmp_path / "exports/\x1b[31mred*bold*<b>.json"): "not JSON \u202e<i>x</i>"}
    observed, events = derive(Observed(), snapshot(engine, hostile), engine.config)
    assert kinds(events) == ["refused"]
    body = events[0].body
    assert "\\x1b[31mred*bold*<b>.json" in body and "\x1b" not in body
    assert "\\u202e<i>x</i>" in body and "\u202e" not in body
    assert derive(observed, snapshot(engine, hostile), engine.config)[1] == []
    # Fixed (a new reason for the same file) is a new refusal; gone is not an event.
    other = {next(iter(hostile)): "another reason"}
    assert kinds(derive(observed, snapshot(engine, other), engine.config)[1]) == ["refused"]
    assert derive(observed, snapshot(engine, {}), engine.config)[1] == []


# ---------------------------------------------------------------- URLs are never shown


def test_urls_are_named_by_number_or_variable() -> None:
    assert describe_url("slack://T0K3N/B0K3N/secretsecret", 2) == "#2 (slack)"
    assert describe_url("${SLACK_URL}", 1) == "#1 ${SLACK_URL}"


def test_a_bad_url_in_the_config_is_named_not_printed(tmp_path: Path) -> None:
    config = project(tmp_path, ["hooks.example.invalid/services/T000/SECRET123"])
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert "'notify.urls' entry 1 is neither an Apprise URL" in str(raised.value)
    assert "SECRET123" not in str(raised.value)


def test_notify_test_reports_each_url_without_showing_it(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"json://127.0.0.1:{free_port()}/SECRETPATH"
    monkeypatch.setenv("RG_TEST_HOOK", receiver.url)
    monkeypatch.delenv("RG_UNSET_HOOK", raising=False)
    config = project(tmp_path, ["${RG_TEST_HOOK}", closed, "${RG_UNSET_HOOK}"])
    out = subprocess.run(
        [sys.executable, "-m", "retrain_gate", "notify", "test", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "#1 ${RG_TEST_HOOK}: sent"
    assert lines[1].startswith("#2 (json): FAILED: ")
    assert (
        lines[2] == "#3 ${RG_UNSET_HOOK}: FAILED: the environment variable RG_UNSET_HOOK is not set"
    )
    assert "SECRETPATH" not in out.stdout + out.stderr
    assert str(receiver.port) not in out.stdout + out.stderr
    assert receiver.count("test message") == 1


def test_notify_test_without_urls_is_one_line(tmp_path: Path) -> None:
    config = project(tmp_path, [])
    out = subprocess.run(
        [sys.executable, "-m", "retrain_gate", "notify", "test", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("retrain-gate: ") and "[notify] urls is empty" in out.stderr
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- delivery


class Statuses:
    def __init__(self) -> None:
        self.lines: list[tuple[str, Level]] = []

    def __call__(self, text: str, level: Level) -> None:
        self.lines.append((text, level))

    def text(self) -> str:
        return "\n".join(t for t, _ in self.lines)


@contextlib.contextmanager
def running(config: Config, statuses: Statuses | None = None) -> Iterator[Notifier]:
    """A started notifier, closed at the end (as the writer's service runs one)."""
    notifier = Notifier(config, statuses or Statuses())
    notifier.start()
    try:
        yield notifier
    finally:
        notifier.close()


def test_a_receiver_down_for_a_while_gets_the_message_once_when_back(tmp_path: Path) -> None:
    receiver = Receiver()  # not started: connection refused
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [receiver.url])
    statuses = Statuses()
    notifier = Notifier(engine.config, statuses)
    notifier.start()
    try:
        notifier.observe(snapshot(engine))
        wait_for(lambda: statuses.text().count("could not notify #1 (json)") >= 2, what="retries")
        assert "retrying in 0 s" in statuses.text()  # 0.3 s, then 0.6 s ...
        assert str(receiver.port) not in statuses.text()
        receiver.start()
        wait_for(lambda: len(receiver.posts) == 1, what="the delivery once the receiver is back")
        wait_for(lambda: notifier.pending() == 0, what="the outbox to record it")
        outbox, problem = load_outbox(engine.config.paths.state_dir)
        assert problem is None
        (message,) = outbox.messages
        (delivery,) = message.deliveries.values()
        assert delivery.status == "sent" and delivery.attempts >= 3
        # Observing the same state again sends nothing more.
        notifier.observe(snapshot(engine))
        time.sleep(0.5)  # nothing to wait for: the absence of a second POST
        assert len(receiver.posts) == 1
    finally:
        notifier.close()
        receiver.stop()


def test_a_new_writer_sends_what_the_last_one_left_undelivered(tmp_path: Path) -> None:
    receiver = Receiver()
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [receiver.url])
    first = Notifier(engine.config, Statuses())
    first.start()
    first.observe(snapshot(engine))
    wait_for(lambda: (tmp_path / "state" / OUTBOX_NAME).exists(), what="the outbox")
    first.close()
    receiver.start()
    try:
        second = Notifier(engine.config, Statuses())
        second.start()
        second.observe(snapshot(engine))  # the same state: no new event, the old one goes out
        wait_for(lambda: len(receiver.posts) == 1, what="the pending message")
        wait_for(lambda: second.pending() == 0, what="the outbox to record it")
        second.close()
        assert receiver.count("regression alert: v2 worse than v1") == 1
    finally:
        receiver.stop()


def test_a_folder_unreadable_for_long_enough_is_one_event(
    tmp_path: Path, receiver: Receiver
) -> None:
    engine = engine_on(
        tmp_path,
        [receiver.url],
        events=["watch_unreadable"],
        extra="unreadable_after_seconds = 60\n",
    )
    notifier = Notifier(engine.config, Statuses())
    notifier.start()
    try:
        notifier.observe(snapshot(engine))
        now = time.time()
        notifier.observe_watch(now - 30, "exports does not exist")  # not long enough yet
        notifier.observe_watch(now - 61, "exports does not exist")
        notifier.observe_watch(now - 62, "exports does not exist")
        wait_for(lambda: len(receiver.posts) == 1, what="the unreadable folder's message")
        assert "for 1 min: exports does not exist" in receiver.posts[0]["message"]
        notifier.observe_watch(None)  # readable again, then unreadable again: a new event
        notifier.observe_watch(now - 61, "permission denied")
        wait_for(lambda: len(receiver.posts) == 2, what="the second message")
    finally:
        notifier.close()
    outbox = json.loads((tmp_path / "state" / OUTBOX_NAME).read_text(encoding="utf-8"))
    assert [m["event"] for m in outbox["messages"]] == ["watch_unreadable"] * 2


def test_a_webhook_fixed_in_the_config_gets_what_was_undelivered(
    tmp_path: Path, receiver: Receiver
) -> None:
    wrong = f"json://127.0.0.1:{free_port()}/hook"  # nothing listens there
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [wrong])
    first = Notifier(engine.config, Statuses())
    first.start()
    first.observe(snapshot(engine))
    wait_for(lambda: (tmp_path / "state" / OUTBOX_NAME).exists(), what="the outbox")
    first.close()

    fixed = load_config(project(tmp_path, [receiver.url]))
    second = Notifier(fixed, Statuses())
    second.start()
    try:
        wait_for(lambda: len(receiver.posts) == 1, what="the message at the fixed URL")
        wait_for(lambda: second.pending() == 0, what="the outbox to record it")
    finally:
        second.close()
    (message,) = load_outbox(fixed.paths.state_dir)[0].messages
    outcomes = sorted((d.status, d.error) for d in message.deliveries.values())
    assert outcomes == [("failed", "no longer configured"), ("sent", "")]


@pytest.mark.parametrize("damage", ['{"observed": {"decisi', "[1, 2]", '{"messages": [3]}'])
def test_a_damaged_outbox_is_said_once_and_replaced(
    tmp_path: Path, receiver: Receiver, damage: str
) -> None:
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [receiver.url])
    (tmp_path / "state" / OUTBOX_NAME).write_text(damage, encoding="utf-8")
    statuses = Statuses()
    with running(engine.config, statuses) as notifier:
        notifier.observe(snapshot(engine))
        wait_for(lambda: len(receiver.posts) == 1, what="the alert, observed afresh")
        wait_for(lambda: notifier.pending() == 0, what="the outbox to record it")
    (warning,) = [t for t, level in statuses.lines if level == "warning"]
    # Which file, what happened to it and what was done, in words: not the decoder's exception.
    path = tmp_path / "state" / OUTBOX_NAME
    assert warning == (
        f"{path}: the notification outbox was damaged, so it was rebuilt from the ledger: the "
        "decisions of the last 24 h are sent again (a duplicate rather than a loss)"
    )
    outbox, problem = load_outbox(engine.config.paths.state_dir)
    assert problem is None and outbox.observed is not None


def test_an_outbox_that_cannot_be_read_says_why_in_words(tmp_path: Path) -> None:
    (tmp_path / OUTBOX_NAME).mkdir()  # read as a file, it fails with EISDIR
    outbox, problem = load_outbox(tmp_path)
    assert outbox.messages == []
    assert problem == (
        f"{tmp_path / OUTBOX_NAME}: the notification outbox could not be read (Is a directory)"
    )


def test_decisions_pending_in_a_damaged_outbox_are_rebuilt_from_the_ledger(
    tmp_path: Path,
) -> None:
    """Issue 22.8: the receiver was down while Kim acknowledged and Lee approved; the outbox
    holding those messages was then truncated. The next writer sends them from the ledger,
    with the alert the approval ended, and says once that the outbox was rebuilt."""
    receiver = Receiver()  # not started: connection refused
    drop_regression(tmp_path)
    engine = engine_on(
        tmp_path,
        [receiver.url],
        events=["alert_raised", "alert_acknowledged", "approval", "alert_ended"],
    )
    with running(engine.config) as first:
        first.observe(snapshot(engine))
        acknowledge(engine, by="Kim", note="looking")
        first.observe(snapshot(engine))
        approve(engine, by="Lee", note="retrain on v2 data", override=True)
        first.observe(snapshot(engine))
        assert first.pending() == 4  # raised, acknowledged, ended, approved: none delivered
    outbox = tmp_path / "state" / OUTBOX_NAME
    outbox.write_text(outbox.read_text(encoding="utf-8")[:300], encoding="utf-8")

    receiver.start()
    statuses = Statuses()
    try:
        with running(engine.config, statuses) as second:
            second.observe(snapshot(engine))
            wait_for(lambda: len(receiver.posts) == 3, what="the decisions, from the ledger")
            wait_for(lambda: second.pending() == 0, what="the outbox to record them")
            second.observe(snapshot(engine))  # rebuilt once: the next report sends nothing
            time.sleep(0.5)
    finally:
        receiver.stop()
    titles = receiver.titles()
    assert sum("alert acknowledged by Kim" in t for t in titles) == 1, titles
    assert sum("retrain approved by Lee" in t for t in titles) == 1, titles
    assert sum("regression alert on v2 (against v1) ended" in t for t in titles) == 1, titles
    assert len(titles) == 3, titles  # the alert itself has ended: not raised again
    rebuilt = [t for t, _level in statuses.lines if "rebuilt from the ledger" in t]
    assert len(rebuilt) == 1 and "sent again" in rebuilt[0]


def test_every_decision_message_carries_its_ledger_entry_hash(tmp_path: Path) -> None:
    """Issue 22.7: a decision posted to a chat is an anchor of the ledger kept elsewhere."""
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [])
    observed, _events = derive(None, snapshot(engine), engine.config)
    acknowledge(engine, by="Kim", note="looking")
    approve(engine, by="Lee", note="retrain on v2 data", override=True)
    (tmp_path / "eval.txt").write_text("v2\n", encoding="utf-8")
    pin_eval(engine, by="Lee", note="new eval images")
    _observed, events = derive(observed, snapshot(engine), engine.config)
    entries = engine.ledger.entries()
    decisions = {e.kind: e for e in events if e.kind != "alert_ended"}
    assert sorted(decisions) == ["alert_acknowledged", "approval", "pin"]
    for event, entry in zip(
        (decisions["alert_acknowledged"], decisions["approval"], decisions["pin"]),
        entries,
        strict=True,
    ):
        assert f"Ledger entry #{entry.seq} hash: {entry.hash}" in event.body.splitlines()


def test_a_webhook_that_answers_after_six_seconds_gets_one_copy(tmp_path: Path) -> None:
    """Apprise's own read timeout (4 s) gave up on it, and every retry sent another copy."""
    slow = Receiver(delay=6.0)
    slow.start()
    try:
        ok, why, _retry = send(slow.url, "title", "body")
    finally:
        slow.stop()
    assert (ok, why) == (True, "")
    assert len(slow.posts) == 1


def test_a_follower_counts_retries_and_recent_failures_only(tmp_path: Path) -> None:
    now = time.time()
    outbox = Outbox(
        Observed(),
        [
            Outgoing(
                "a",
                "ready",
                "t",
                "b",
                now - 3 * 86400,
                {"u": Delivery("failed", 9, 0, "old", now - 2 * 86400)},
            ),
            Outgoing(
                "b", "ready", "t", "b", now - 60, {"u": Delivery("failed", 9, 0, "new", now - 30)}
            ),
            Outgoing(
                "c", "ready", "t", "b", now - 5, {"u": Delivery("pending", 2, now + 5, "retry")}
            ),
            Outgoing("d", "ready", "t", "b", now, {"u": Delivery("pending", 0, now)}),
        ],
    )
    (tmp_path / OUTBOX_NAME).write_text(outbox.to_json(), encoding="utf-8")
    # One retrying (d has not been tried yet), one failure within the day; the latest error.
    assert delivery_problems(tmp_path, now - 86400) == (1, 1, "retry")


def test_a_decision_message_names_the_alert_and_where_the_decision_came_from(
    tmp_path: Path,
) -> None:
    """The ack names the alert as a person would, not by its key (`statistics:v1->v2`), and
    says who decided from where as `ledger` does: in the browser, `via the browser`."""
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [])
    observed, _events = derive(None, snapshot(engine), engine.config)
    record_via("browser")
    try:
        acknowledge(engine, by="Kim", note="")
    finally:
        record_via(None)
    (entry,) = engine.ledger.entries()
    observed, events = derive(observed, snapshot(engine), engine.config)
    (ack,) = events
    assert ack.body.splitlines()[0] == (
        "The regression alert on v2 (against v1) acknowledged by Kim "
        f"({entry.os_user}@{entry.host} via the browser) at {entry.ts} (ledger #1)."
    )
    approve(engine, by="Lee", note="retrain on v2 data", override=True)
    _observed, events = derive(observed, snapshot(engine), engine.config)
    ended, approval = events
    assert ended.title == "the regression alert on v2 (against v1) ended"
    assert ended.body.startswith(
        "The regression alert on v2 (against v1) ended: a retrain was approved by Lee."
    )
    assert "via the browser" not in approval.body  # Lee decided in a terminal
    assert "statistics:" not in ack.body + ended.body + ended.title


def test_an_ack_of_two_alerts_names_both(tmp_path: Path) -> None:
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [])
    report_regression(engine, by="Ana", note="wrists drift")
    observed, _events = derive(None, snapshot(engine), engine.config)
    acknowledge(engine, by="Kim", note="")
    _observed, events = derive(observed, snapshot(engine), engine.config)
    (ack,) = events
    assert ack.body.startswith(
        "The regression alert on v2 (against v1) and the regression reported in #1 "
        "acknowledged by Kim ("
    )


def test_with_a_bucket_the_messages_name_the_bucket_not_its_mirror(tmp_path: Path) -> None:
    """The mirror under state_dir is retrain-gate's copy: a person knows the bucket's URL."""
    engine = engine_on(tmp_path, [])
    config = parse_config(
        {"paths": {"export_dir": "s3://labels/ls/", "state_dir": "state"}}, base=tmp_path
    )
    mirror = config.paths.export_dir
    snap = snapshot(engine, {str(mirror / "task" / "bad.json"): "the file is empty"})
    _observed, events = derive(Observed(), snap, config)
    (refused,) = events
    assert refused.body.splitlines()[-1] == "Export folder: s3://labels/ls"
    unreadable = unreadable_event(config, 0.0, 120.0, "the bucket cannot be listed")
    assert unreadable.body.startswith(
        "The watcher has not been able to read s3://labels/ls for 2 min:"
    )
    assert "mirror" not in refused.body + unreadable.body


def test_refused_files_are_counted_in_words(tmp_path: Path) -> None:
    engine = engine_on(tmp_path, [])
    one = {str(tmp_path / "exports" / "a.json"): "the file is empty"}
    _observed, (event,) = derive(Observed(), snapshot(engine, one), engine.config)
    assert event.title == "1 export file refused"
    assert event.body.splitlines()[0] == "1 export file refused; fix or remove it:"
    two = one | {str(tmp_path / "exports" / "b.json"): "the file is empty"}
    _observed, (event,) = derive(Observed(), snapshot(engine, two), engine.config)
    assert event.title == "2 export files refused"
    assert event.body.splitlines()[0] == "2 export files refused; fix or remove them:"


def test_an_approval_of_one_episode_is_singular(tmp_path: Path) -> None:
    engine = engine_on(tmp_path, [])
    observed, _events = derive(None, snapshot(engine), engine.config)
    payload = {"approved_episodes": [["pick", "e1"]], "approved_frames": 1, "decision": "READY"}
    engine.ledger.append("approval", "Lee", payload)
    _observed, events = derive(observed, snapshot(engine), engine.config)
    (approval,) = [e for e in events if e.kind == "approval"]
    assert ": 1 episode (1 frame) joins the corpus." in approval.body


def test_a_message_says_the_decision_once(tmp_path: Path) -> None:
    """READY's reason is "ready" and a regression's starts "regression: ": a message said
    "READY to retrain: ready" and "Decision: REGRESSION. regression: v2 needs …"."""
    drop_regression(tmp_path)
    engine = engine_on(tmp_path, [])
    _observed, (raised,) = derive(None, snapshot(engine), engine.config)
    decision = next(line for line in raised.body.splitlines() if line.startswith("Decision"))
    assert (
        decision == "Decision: REGRESSION, v2 needs 4.2 corrections per episode against 0.9 for v1."
    )
    snap = snapshot(engine)
    ready = snap.report.model_copy(update={"decision": "READY", "reason": "ready"})
    _observed, (event,) = derive(
        Observed(decision="WAIT", alerts=["statistics:v1->v2"]),
        Snapshot(ready, snap.human, [], {}),
        engine.config,
    )
    assert event.kind == "ready"
    assert event.body.splitlines()[0] == "READY to retrain."
