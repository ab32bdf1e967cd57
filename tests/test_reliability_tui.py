"""The bad-input catalogue of tests/test_reliability.py through the real dashboard.

The app runs its real service (watcher, writer lock) on tmp_path; the bad files are dropped
into the watched folder while it runs. Each refusal must reach the activity log naming the
file and the problem, the figures of the good files must not move, and the app must still
answer a key press.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from textual.widgets import RichLog

from retrain_gate.live.watcher import ExportWatcher
from retrain_gate.models import Report
from retrain_gate.text import printable
from retrain_gate.tui.app import RetrainGateApp, make_app
from retrain_gate.tui.screens import HelpScreen
from tests.test_reliability import BAD
from tests.test_tui_actions import four_episodes, make_config, started, sync, wait_for

SIZE = (200, 50)


def activity(app: RetrainGateApp) -> str:
    """The activity log as shown, with all whitespace removed (lines are wrapped on screen)."""
    log = app.query_one("#activity", RichLog)
    return re.sub(r"\s+", "", "".join(strip.text for strip in log.lines))


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def figures(report: Report | None) -> dict[str, Any]:
    assert report is not None
    return report.model_dump(mode="json")


def logged(app: RetrainGateApp, name: str, words: str) -> bool:
    """The log names the file (as the screen shows it: escaped) and the reason."""
    shown = activity(app)
    needle = squash(f"refused {printable(name, limit=600)}")
    at = shown.find(needle)
    # The reason is on the same entry, i.e. before the next time stamp.
    return at >= 0 and squash(words) in shown[at : at + 2000]


@sync
async def test_the_dashboard_survives_the_catalogue(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    exports = config.paths.export_dir
    four_episodes(exports)
    app = make_app(config, live=True)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        before = figures(app.report)

        for name, (content, _) in BAD.items():
            (exports / name).write_bytes(content)
        os.mkfifo(exports / "fifo.json")
        os.symlink("loop.json", exports / "loop.json")
        with (exports / "huge.json").open("wb") as handle:
            handle.truncate(2 * 1024**3)  # sparse: 2 GB on paper; over the 1024 MB default

        expected = {name: words for name, (_, words) in BAD.items()}
        expected["fifo.json"] = "not a regular file"
        expected["huge.json"] = "max_export_mb"
        expected["loop.json"] = "symbolic links"
        await wait_for(
            pilot, lambda: all(logged(app, n, w) for n, w in expected.items()), timeout=30
        )
        # Nothing of it leaks into the figures.
        await pilot.pause(0.5)
        assert figures(app.report) == before
        assert "Traceback" not in activity(app)
        # Still responsive: a key opens the help, escape closes it.
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.screen_stack[0])
        # And still watching: a good export dropped in now is counted.
        four_episodes(exports, name="later.json")  # same content: a duplicate, figures stay
        await wait_for(pilot, lambda: "later.json" in activity(app))
        assert figures(app.report) == before


def test_a_symlink_loop_is_handed_over_once(tmp_path: Path) -> None:
    """Present at the catch-up or created later, a loop is handed over once to be refused by
    name (as `check` does), never re-queued by rescans nor stat-ed for ever."""
    exports = tmp_path / "exports"
    exports.mkdir()
    os.symlink("old-loop.json", exports / "old-loop.json")
    handed: list[Path] = []
    watcher = ExportWatcher(
        exports,
        settle_seconds=0.1,
        max_wait_seconds=10,
        rescan_seconds=0.3,
        polling=False,
        on_changes=lambda ready, _removed: handed.extend(ready),
        on_event=lambda event: None,
    )
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while len(handed) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.symlink("new-loop.json", exports / "new-loop.json")
        while len(handed) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # three rescans
        assert sorted(p.name for p in handed) == ["new-loop.json", "old-loop.json"]
        assert watcher.counts().pending == 0
    finally:
        watcher.close()
