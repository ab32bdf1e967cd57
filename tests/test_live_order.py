"""A report computed before newer figures were told is never news (issue 22.9).

A slow consumer (a `watch` whose stdout is a full pipe, a busy dashboard) holds the thread
that computed a report; meanwhile the watcher ingests an export and tells the figures that
raise an alert. The held report, older, must not then end the alert: the receiver gets one
"alert raised" and no "alert ended"."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from retrain_gate.config import load_config
from retrain_gate.live.events import AlertEnded, AlertRaised, Ingested, LiveEvent, ReportChanged
from retrain_gate.live.service import GateService
from tests.notifykit import Receiver, drop_regression, project, receiving
from tests.waiting import wait_for

receiver = pytest.fixture(receiving)

RAISED = "regression alert: v2 worse than v1"


def test_an_older_report_held_by_a_slow_consumer_does_not_end_the_alert(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = load_config(project(tmp_path, [receiver.url], events=["alert_raised", "alert_ended"]))
    events: list[LiveEvent] = []
    held = threading.Event()  # the slow thread is inside the consumer
    release = threading.Event()

    def consumer(event: LiveEvent) -> None:
        events.append(event)
        if isinstance(event, ReportChanged) and threading.current_thread().name == "slow":
            held.set()
            release.wait(20)

    service = GateService(config, consumer)
    service.start()
    try:
        wait_for(lambda: any(isinstance(e, ReportChanged) for e in events), what="the first report")
        wait_for(lambda: (tmp_path / "state" / "notify.json").exists(), what="the outbox")
        # A report of the state before the export, computed now and held by the consumer.
        slow = threading.Thread(
            target=service.run_locked, args=(lambda engine: None,), name="slow", daemon=True
        )
        slow.start()
        wait_for(held.is_set, what="the slow consumer to hold the old report")
        drop_regression(tmp_path)
        wait_for(lambda: any(isinstance(e, Ingested) for e in events), what="the ingest")
        # Give the watcher's report time to be told and sent before the old one goes on.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not receiver.count(RAISED):
            time.sleep(0.05)
        release.set()
        slow.join(20)
        wait_for(lambda: receiver.count(RAISED) == 1, what="the alert, once")
        time.sleep(1.5)  # an "ended" would follow within milliseconds
    finally:
        release.set()
        service.close()
    assert receiver.count("ended") == 0, receiver.titles()
    assert receiver.count(RAISED) == 1, receiver.titles()
    kinds = [type(e) for e in events if isinstance(e, AlertRaised | AlertEnded)]
    assert kinds == [AlertRaised], kinds
