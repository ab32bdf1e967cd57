"""`watch` and the dashboard say what `check` says (issue 21.2, 21.4): a pattern that maps no
frame is named with an example path, and a file refused before a restart but fixed since is
not notified as refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from textual.widgets import RichLog

from retrain_gate.config import load_config
from retrain_gate.tui.app import make_app
from tests.lsbuild import ann, kp, task, write_export
from tests.notifykit import Receiver, project
from tests.test_cli import _flat_upload_project
from tests.test_notify_watch import Watch as NotifyWatch
from tests.test_tui_actions import SIZE, sync
from tests.test_tui_actions import wait_for as wait_in_app
from tests.waiting import CLI, wait_for
from tests.watchkit import Watch

UNMAPPED = "[episodes] pattern: every frame is unmapped"
EXAMPLE = "e.g. /frames/ab12cd01-f1.jpg, /frames/ab12cd02-f2.jpg"


def test_watch_says_the_pattern_maps_nothing_as_check_does(tmp_path: Path) -> None:
    folder = _flat_upload_project(tmp_path)
    check = subprocess.run([*CLI, "check"], cwd=folder, capture_output=True, text=True)
    assert UNMAPPED in check.stderr  # what watch must say too
    watch = Watch(folder)
    try:
        wait_for(lambda: UNMAPPED in watch.text(), timeout=30, what="the unmapped frames")
        wait_for(lambda: "WAIT" in watch.text(), timeout=20, what="the figures")
    finally:
        watch.stop()
    lines = [line for line in watch.text().splitlines() if UNMAPPED in line]
    assert len(lines) == 1, watch.text()  # said once, not at every report
    assert EXAMPLE in lines[0]
    assert "Traceback" not in watch.text()


def activity(app: Any) -> str:
    log = app.query_one("#activity", RichLog)
    return " ".join(" ".join(strip.text.split()) for strip in log.lines)


@sync
async def test_the_dashboard_says_the_pattern_maps_nothing(tmp_path: Path) -> None:
    config = load_config(_flat_upload_project(tmp_path) / "config.toml")
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await wait_in_app(pilot, lambda: UNMAPPED in activity(app), timeout=30)
        text = activity(app)
    assert text.count(UNMAPPED) == 1
    assert EXAMPLE in text


def valid_export(folder: Path, name: str, first: int = 1) -> Path:
    tasks = [
        task(i, f"/data/local-files/?d=e/pick/ep{i}/f1.jpg", annotations=[ann(i, [kp(1, 1)])])
        for i in range(first, first + 3)
    ]
    return write_export(folder, name, tasks, mtime=1_000)


def test_a_file_fixed_before_watch_started_is_not_notified_as_refused(tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.start()
    config = project(tmp_path, [receiver.url], events=["refused"])
    exports = tmp_path / "exports"
    (exports / "fixed.json").write_text('[{"id": 1, "data": {', encoding="utf-8")
    (exports / "broken.json").write_text('[{"id": 2, "data": {', encoding="utf-8")
    valid_export(exports, "good.json", first=10)  # a project with frames: refusals are kept
    check = subprocess.run(
        [sys.executable, "-m", "retrain_gate", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "refused" in check.stdout + check.stderr  # both recorded as refused
    valid_export(exports, "fixed.json")  # fixed while nothing was watching
    watch = NotifyWatch(config)
    try:
        watch.wait_text("fixed.json: 3 frames", timeout=30)
        wait_for(lambda: receiver.count("refused") >= 1, timeout=20, what="broken.json's news")
        wait_for(lambda: "WAIT" in watch.text() or "READY" in watch.text(), timeout=20)
        time.sleep(1.5)  # a second message, if any, would have come by now
    finally:
        watch.stop()
        receiver.stop()
    bodies = [json.dumps(p) for p in receiver.posts]
    assert len(bodies) == 1, bodies
    assert "broken.json" in bodies[0] and "fixed.json" not in bodies[0], bodies[0]
