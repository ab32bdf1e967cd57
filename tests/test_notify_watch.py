"""Notifications from real `retrain-gate watch` processes to a real receiver on 127.0.0.1:
one POST per event across restarts, a writer killed with SIGKILL, a dashboard beside the
watcher, and a receiver that was down for a while."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from retrain_gate.config import load_config
from retrain_gate.live.notify.outbox import OUTBOX_NAME
from retrain_gate.tui.app import RetrainGateApp, make_app
from retrain_gate.tui.widgets import StatusBar
from tests.notifykit import Receiver, drop_regression, project, receiving
from tests.test_tui_actions import fill, screen_text, sync
from tests.test_tui_actions import wait_for as wait_in_app
from tests.waiting import wait_for

EVENTS = ["alert_raised", "alert_acknowledged", "approval", "ready"]
RAISED = "regression alert: v2 worse than v1"
ACKED = "alert acknowledged by Kim"


class Watch:
    def __init__(self, config: Path, name: str = "watch") -> None:
        self.log = config.parent / f"{name}.out"
        self._out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "retrain_gate", "watch", "--config", str(config)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_text(self, needle: str, timeout: float = 20, count: int = 1) -> None:
        wait_for(lambda: self.text().count(needle) >= count, timeout, f"{needle!r} from watch")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self._out.close()


receiver = pytest.fixture(receiving)


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for w in started:
        w.stop(signal.SIGKILL)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "retrain_gate", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out


def ack(config: Path) -> None:
    cli(config, "ack", "--by", "Kim", "--note", "on it")


def started(config: Path, watches: list[Watch], name: str = "watch", until: str = "WAIT") -> Watch:
    """A watch on `config`, stopped by the `watches` fixture, once it said `until`."""
    watches.append(w := Watch(config, name))
    w.wait_text(until)
    return w


def wait_posts(receiver: Receiver, n: int, timeout: float = 20) -> None:
    wait_for(lambda: len(receiver.posts) >= n, timeout, f"{n} POST(s) at the receiver")


def test_a_regression_dropped_into_watch_is_one_post_and_never_again(
    tmp_path: Path, receiver: Receiver, watches: list[Watch]
) -> None:
    config = project(tmp_path, [receiver.url], events=EVENTS)
    started(config, watches)
    dropped = time.monotonic()
    drop_regression(tmp_path)
    # settle_seconds is 0.3: the POST is due within the settle time plus a few seconds.
    wait_posts(receiver, 1, timeout=0.3 + 8)
    assert time.monotonic() - dropped < 0.3 + 8
    (post,) = receiver.posts
    assert post["title"].endswith(RAISED)
    figures = json.loads(cli(config, "check", "--json").stdout)["regression"]
    assert f"p = {figures['p_value']:.3g}" in post["message"]
    assert "0.90 for v1 (10 episodes) -> 4.20 for v2 (10 episodes)" in post["message"]

    # Restarts observe the same alert: not news. The ack after them is the only new POST,
    # and a duplicate of the alert would have been sent before it.
    for n in (1, 2):
        watches[-1].stop()
        started(config, watches, f"watch{n}", until="REGRESSION")
    ack(config)
    wait_posts(receiver, 2)
    watches[-1].stop()
    assert [t.split(": ", 1)[1] for t in receiver.titles()] == [RAISED, ACKED]


def test_kill_9_of_the_writer_and_the_follower_takes_over_without_resending(
    tmp_path: Path, receiver: Receiver, watches: list[Watch]
) -> None:
    config = project(tmp_path, [receiver.url], events=EVENTS)
    writer = started(config, watches, "writer", until="writing")
    follower = started(config, watches, "follower", until="following")
    drop_regression(tmp_path)
    wait_posts(receiver, 1)
    follower.wait_text("REGRESSION")
    writer.stop(signal.SIGKILL)
    follower.wait_text("taking over")
    ack(config)
    wait_posts(receiver, 2)
    follower.stop()
    assert [t.split(": ", 1)[1] for t in receiver.titles()] == [RAISED, ACKED]


def test_a_receiver_down_for_a_while_is_retried_and_delivered_once(
    tmp_path: Path, watches: list[Watch]
) -> None:
    receiver = Receiver()  # down: nothing listens on its port yet
    config = project(tmp_path, [receiver.url], events=EVENTS)
    w = started(config, watches, until="writing")
    follower = started(config, watches, "follower", until="following")
    drop_regression(tmp_path)
    w.wait_text("could not notify #1 (json)", count=2)
    assert str(receiver.port) not in w.text()
    # A dashboard or watch that follows shows the writer's trouble too.
    follower.wait_text("notifications sent by the writer: 1 retrying, 0 failed")
    receiver.start()
    try:
        wait_posts(receiver, 1)
        follower.wait_text("notifications sent by the writer: all delivered")
        ack(config)
        wait_posts(receiver, 2)
        w.stop()
    finally:
        receiver.stop()
    assert [t.split(": ", 1)[1] for t in receiver.titles()] == [RAISED, ACKED]
    outbox = json.loads((tmp_path / "state" / OUTBOX_NAME).read_text(encoding="utf-8"))
    attempts = [d["attempts"] for m in outbox["messages"] for d in m["deliveries"].values()]
    assert attempts[0] >= 3 and attempts[1] == 1


def test_what_happened_while_nothing_ran_is_sent_at_the_next_start(
    tmp_path: Path, receiver: Receiver, watches: list[Watch]
) -> None:
    config = project(tmp_path, [receiver.url], events=EVENTS)
    started(config, watches).stop()
    drop_regression(tmp_path)
    cli(config, "check")  # ingested by a one-shot command, which never sends
    cli(config, "approve", "--by", "Lee", "--note", "v3 please")
    assert receiver.posts == []
    watches.append(w := Watch(config, "watch2"))
    wait_posts(receiver, 1)
    w.wait_text("notified")
    w.stop()
    # The alert was raised and ended by the approval before the start: only the approval
    # is still news.
    assert [t.split(": ", 1)[1] for t in receiver.titles()] == ["retrain approved by Lee"]


@sync
async def test_the_dashboard_beside_watch_sends_nothing_twice(
    tmp_path: Path, receiver: Receiver, watches: list[Watch]
) -> None:
    config_path = project(tmp_path, [receiver.url], events=EVENTS)
    w = started(config_path, watches, until="writing")
    app = make_app(load_config(config_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_in_app(pilot, lambda: role(app) == "following")
        drop_regression(tmp_path)
        await wait_in_app(pilot, lambda: decision(app) == "REGRESSION", timeout=20)
        await wait_in_app(pilot, lambda: len(receiver.posts) == 1)
        w.stop()  # the dashboard becomes the writer, with the outbox
        await wait_in_app(pilot, lambda: role(app) == "writer", timeout=20)
        await acknowledge_in(pilot, app)
        await wait_in_app(pilot, lambda: len(receiver.posts) == 2, timeout=20)
    assert [t.split(": ", 1)[1] for t in receiver.titles()] == [RAISED, ACKED]


def role(app: RetrainGateApp) -> str | None:
    return app.service.role if app.service is not None else None


def decision(app: RetrainGateApp) -> str | None:
    return app.report.decision if app.report is not None else None


async def acknowledge_in(pilot: Pilot[Any], app: RetrainGateApp) -> None:
    await pilot.press("a")
    await wait_in_app(pilot, lambda: app.screen is not app.screen_stack[0])
    await fill(pilot, app, "Kim", "on it")
    await pilot.press("ctrl+s")
    await wait_in_app(pilot, lambda: app.screen is app.screen_stack[0])


@sync
async def test_the_dashboard_shows_a_failing_delivery_until_it_goes_through(
    tmp_path: Path,
) -> None:
    receiver = Receiver()  # down at first
    config_path = project(tmp_path, [receiver.url], events=EVENTS)
    drop_regression(tmp_path)
    app = make_app(load_config(config_path))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            status = app.query_one(StatusBar)
            await wait_in_app(pilot, lambda: status.notify_failing is False, timeout=20)
            await pilot.pause()
            assert "notification retrying" in screen_text(app)
            assert "could not notify #1 (json)" in screen_text(app)  # the activity log
            receiver.start()
            await wait_in_app(pilot, lambda: status.notify_failing is None, timeout=20)
            await pilot.pause()
            assert "notification retrying" not in screen_text(app)
    finally:
        receiver.stop()
    assert receiver.count(RAISED) == 1
