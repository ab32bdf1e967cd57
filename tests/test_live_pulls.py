"""The service's pulls: one at a time, and one that outlives its deadline is said to be stuck
once, never answered "a pull is already under way" for ever, never doubled."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from retrain_gate.config import parse_config
from retrain_gate.live.events import LiveEvent, Problem, Progress
from retrain_gate.live.pulls import PullScheduler
from tests.bucketkit import free_port
from tests.waiting import wait_for

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def pull_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "retrain-gate-pull")


def test_a_pull_stuck_past_its_deadline_is_said_once_and_never_doubled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stuck where the pull's deadline cannot reach it: its first progress line goes to a
    # consumer that hangs (a hung disk or a blocked terminal does the same to a real one).
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    (tmp_path / "exports").mkdir()
    config = parse_config(
        {
            "paths": {"export_dir": "exports", "state_dir": "state"},
            "labelstudio": {
                "url": f"http://127.0.0.1:{free_port()}",
                "project": 1,
                "pull_timeout_seconds": 0.2,
            },
        },
        base=tmp_path,
    )
    release = threading.Event()
    said: list[LiveEvent] = []

    def consumer(event: LiveEvent) -> None:
        said.append(event)
        if isinstance(event, Progress):
            release.wait(30)

    scheduler = PullScheduler(config, consumer, stuck_margin=0.3)
    started, message = scheduler.start(may_pull=True)
    try:
        assert started, message
        wait_for(lambda: any(isinstance(e, Progress) for e in said), what="the pull to hang")
        assert scheduler.start(may_pull=True) == (False, "a pull is already under way")
        time.sleep(0.6)  # past the deadline (0.2 s) and the margin (0.3 s)
        scheduler.when_due(may_pull=True)  # each housekeeping tick; no pull_minutes set
        scheduler.when_due(may_pull=True)
        stuck = [e for e in said if isinstance(e, Problem)]
        assert len(stuck) == 1, said
        assert stuck[0].text.startswith("pull stuck: the pull started at ")
        assert "past [labelstudio] pull_timeout_seconds (0.2 s)" in stuck[0].text
        assert "Restart retrain-gate (watch or the dashboard) to stop it" in stuck[0].text
        started, message = scheduler.start(may_pull=True)  # the dashboard's key, pressed again
        assert not started and message == stuck[0].text
        assert pull_threads() == 1
        assert len([e for e in said if isinstance(e, Problem)]) == 1
    finally:
        release.set()
    wait_for(lambda: pull_threads() == 0, what="the pull to end")
