"""notify.py without processes: which events a change of state is, once each; messages that
say what a person needs, literally; URLs never shown; delivery with backoff to a real
HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrain_gate.config import load_config
from retrain_gate.decisions.actions import acknowledge, approve
from retrain_gate.engine import Engine
from retrain_gate.errors import ConfigError
from retrain_gate.notify import (
    OUTBOX_NAME,
    Delivery,
    Event,
    Level,
    Notifier,
    Observed,
    Outbox,
    Outgoing,
    Snapshot,
    delivery_problems,
    derive,
    describe_url,
    load_outbox,
)
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
    # v1: 9 corrected frames over 10 episodes; v2: 42 over 10 (tests.test_alerts).
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
    notifier = Notifier(engine.config, statuses)
    notifier.start()
    try:
        notifier.observe(snapshot(engine))
        wait_for(lambda: len(receiver.posts) == 1, what="the alert, observed afresh")
        wait_for(lambda: notifier.pending() == 0, what="the outbox to record it")
    finally:
        notifier.close()
    (warning,) = [t for t, level in statuses.lines if level == "warning"]
    assert f"{OUTBOX_NAME}: unreadable" in warning and "starting a new outbox" in warning
    outbox, problem = load_outbox(engine.config.paths.state_dir)
    assert problem is None and outbox.observed is not None


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
