"""What the dashboard must keep showing a newcomer (issue 14): refused files until they are
gone, decisions made from another terminal, the per-task table, the newest Activity line after
a resize, an alert toast that leaves Activity readable, and a help screen that defines its words.

The app runs its real GateService on tmp_path where the test needs one; the CLI runs as a real
process (`sys.executable -m retrain_gate`).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.widgets import RichLog

from retrain_gate.config import Config, load_config
from retrain_gate.tui.app import RetrainGateApp, make_app
from retrain_gate.tui.messages import Activity, ReportReady, WatchState
from retrain_gate.tui.screens import HELP, RefusedScreen
from retrain_gate.tui.widgets import StatusBar
from tests import bucketkit
from tests.test_tui_actions import (
    SIZE,
    four_episodes,
    make_config,
    screen_text,
    started,
    sync,
    wait_for,
)
from tests.test_tui_snapshots import ACKED, AT, REGRESSION, snapshot_config

TOAST = "Toast"  # by type name: Textual exports no Toast class


def cli(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "retrain_gate", *args, "--config", str(config.source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def activity_text(app: Any) -> str:
    log = app.query_one("#activity", RichLog)
    return "\n".join(strip.text for strip in log.lines)


# ---------------------------------------------------------------- refused files (point 1)


@sync
async def test_refused_files_stay_counted_until_fixed_or_removed(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    exports = config.paths.export_dir
    four_episodes(exports)
    (exports / "project-1-at-2026-11-26.csv").write_text("id,image\n1,a.jpg\n", encoding="utf-8")
    (exports / "project-1-at-2026-11-27.json").write_text("", encoding="utf-8")
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        status = app.query_one(StatusBar)
        await wait_for(pilot, lambda: status.refused == 2)
        await wait_for(pilot, lambda: "2 files refused (f)" in screen_text(app))

        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, RefusedScreen))
        listing = screen_text(app)
        assert "project-1-at-2026-11-26.csv" in listing and "CSV" in listing
        assert "project-1-at-2026-11-27.json" in listing and "empty" in listing
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RefusedScreen))

        # Removing one file and fixing the other clears the indicator, and only then.
        (exports / "project-1-at-2026-11-26.csv").unlink()
        await wait_for(pilot, lambda: "1 file refused (f)" in screen_text(app))
        four_episodes(exports, name="project-1-at-2026-11-27.json")
        await wait_for(pilot, lambda: status.refused == 0, timeout=30)
        await wait_for(pilot, lambda: "refused (f)" not in screen_text(app))
        await pilot.press("f")  # nothing to list: it says so instead
        await pilot.pause()
        assert not isinstance(app.screen, RefusedScreen)


@sync
async def test_ignored_files_are_listed_on_the_refused_screen(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    exports = config.paths.export_dir
    four_episodes(exports)
    # no extension and not a Label Studio storage file: ignored, and counted (docs/sources.md)
    (exports / "README").write_text("notes about this bucket\n", encoding="utf-8")
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: bool(app.ignored))
        await pilot.press("f")  # with nothing refused, the key still lists what was ignored
        await wait_for(pilot, lambda: isinstance(app.screen, RefusedScreen))
        listing = screen_text(app)
        assert "Ignored (1 file: not Label Studio files; no figure uses them)" in listing
        assert "README" in listing and "not a Label Studio storage file" in listing


# ---------------------------------------------------------------- decisions made elsewhere (2)


@sync
async def test_decisions_from_the_cli_get_an_activity_line_with_who(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        pin = await asyncio.to_thread(cli, config, "pin-eval", "--by", "Kim", "--note", "v1 set")
        assert pin.returncode == 0, pin.stderr
        await wait_for(pilot, lambda: "ledger #1: Kim" in activity_text(app))
        assert "pinned the eval set at " in activity_text(app)
        assert "v1 set" in activity_text(app)

        approve = await asyncio.to_thread(cli, config, "approve", "--by", "Ana")
        assert approve.returncode == 0, approve.stderr
        await wait_for(pilot, lambda: "ledger #2: Ana" in activity_text(app))
        assert "approved a retrain of 4 episodes" in activity_text(app)
        user = pwd.getpwuid(os.getuid()).pw_name  # the real login, whatever $USER says
        assert f"Ana ({user}@" in activity_text(app)
        await wait_for(pilot, lambda: app.report is not None and app.report.corpus_episodes == 14)


@sync
async def test_a_catch_up_that_finds_nothing_new_says_so(tmp_path: Path) -> None:
    """Opened on a folder already read: 'catching up: 1 file ...' is followed by a line that
    it is as it was, and the busy indicator goes."""
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    assert cli(config, "check").returncode == 0
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: "is as it was last read" in activity_text(app))
        text = activity_text(app)
        assert text.index("catching up: 1 file") < text.index("is as it was last read"), text
        assert "project-1-at-2026-11-26.json is as it was last read: the figures stand" in text
        assert app.query_one(StatusBar).busy is None


@sync
async def test_a_decision_made_here_is_not_logged_twice(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        await pilot.pause()
        from textual.widgets import Input

        app.screen.query_one("#name", Input).value = "Kim"
        app.screen.query_one("#note", Input).value = "first"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.report is not None and app.report.ready)
        await pilot.press("enter")
        await pilot.pause(1.5)  # housekeeping ticks every second: it has read the ledger
        assert activity_text(app).count("ledger #1: Kim") == 1
        assert "pinned the eval set at " in activity_text(app)


# ---------------------------------------------------------------- per-task table (3)


@sync
async def test_the_dashboard_shows_episodes_per_task(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)

        def painted() -> list[str]:
            return [" ".join(line.split()) for line in screen_text(app).splitlines()]

        # the panel's title shows before the ingest lands: wait for its rows, not the title
        await wait_for(pilot, lambda: "│pick 2 of 2 0 2 0.00│" in painted())
        lines = painted()
        assert "│task harvested in progress in delta corrections/episode│" in lines
        # pick and pour: 2 of 2 harvested each, nothing in progress, both in the delta,
        # pre-annotations accepted unchanged: 0 corrections per episode
        assert "│pick 2 of 2 0 2 0.00│" in lines
        assert "│pour 2 of 2 0 2 0.00│" in lines


# ---------------------------------------------------------------- small screens (8)


@sync
async def test_activity_follows_the_newest_line_after_a_resize() -> None:
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(60):
            app.log_line(f"line {i:02d}")
        await pilot.pause()
        log = app.query_one("#activity", RichLog)
        assert log.scroll_y == log.max_scroll_y
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        assert "line 59" in screen_text(app)
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y and "line 59" in screen_text(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
@sync
async def test_the_alert_toast_leaves_activity_readable(size: tuple[int, int]) -> None:
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=size, notifications=True) as pilot:
        app.post_message(ReportReady(REGRESSION, "loaded", AT))
        await wait_for(pilot, lambda: bool(app.screen.query(TOAST)))
        await pilot.pause()
        toast = app.screen.query(TOAST).first().region
        activity = app.query_one("#activity").region
        assert toast.area and activity.area
        assert not toast.overlaps(activity), (toast, activity)


# ---------------------------------------------------------------- help defines its words (9)


def test_help_defines_the_words_the_dashboard_uses() -> None:
    sections = {heading: dict(rows) for heading, rows in HELP}
    words = ["harvested", "corpus", "delta", "unmapped", "corrections per episode", "release"]
    for word in words:
        assert word in sections["Words"], word
    for key in [*"rapxlf?", "q"]:
        assert key in sections["Keys"], key
    assert sections["Keys"]["q"] == "quit"


@sync
async def test_the_alert_toast_goes_when_an_approval_ends_the_alert() -> None:
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        app.post_message(ReportReady(REGRESSION, "loaded", AT))
        await wait_for(pilot, lambda: bool(app.screen.query(TOAST)))
        ended = REGRESSION.model_copy(
            update={"regression": REGRESSION.regression.model_copy(update={"active": False})}
        )
        app.post_message(ReportReady(ended, "the ledger changed", AT))
        await wait_for(pilot, lambda: not app.screen.query(TOAST))


# ---------------------------------------------------------------- keys and their docs (21.7)


def binding_keys() -> set[str]:
    """The dashboard's keys as a person types them, plus the command palette's."""
    keys = {"ctrl+p"}
    for binding in RetrainGateApp.BINDINGS:
        assert isinstance(binding, Binding)
        keys.add(binding.key_display or binding.key)
    return keys


def test_the_docs_key_table_lists_every_binding() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "tui.md").read_text(encoding="utf-8")
    table = doc.split("## Keys", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))
    assert documented == binding_keys()


def test_the_help_lists_every_binding() -> None:
    assert set(dict(dict(HELP)["Keys"])) == binding_keys()


@sync
async def test_f_without_refused_files_says_so() -> None:
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.post_message(ReportReady(REGRESSION, "loaded", AT))
        await pilot.pause()
        app.clear_notifications()  # the alert's toast
        await pilot.press("f")
        await wait_for(pilot, lambda: "no refused files" in screen_text(app))
        assert not isinstance(app.screen, RefusedScreen)


@sync
async def test_an_acknowledged_alert_leaves_other_toasts_alone() -> None:
    # Each new report during an acknowledged alert used to clear every toast: an error
    # shown a moment before vanished unread.
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.post_message(ReportReady(ACKED, "loaded", AT))
        await pilot.pause()
        app.post_message(Activity("cannot write the ledger: disk full", AT, level="error"))
        await wait_for(pilot, lambda: len(app.screen.query(TOAST)) == 1)
        app.post_message(ReportReady(ACKED, "the ledger changed", AT))
        await pilot.pause()
        await pilot.pause()
        assert len(app.screen.query(TOAST)) == 1


# ---------------------------------------------------------------- a bucket as the export folder


@sync
async def test_the_header_names_a_bucket_by_its_url_not_its_mirror(tmp_path: Path) -> None:
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "s3://labels/ls"\nstate_dir = "state"\neval_set = "eval"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "config.toml")
    app = make_app(config, live=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.post_message(WatchState("live", "watching s3://labels/ls (live file events)", AT))
        await wait_for(
            pilot, lambda: "watching s3://labels/ls (listed every 30 s)" in screen_text(app)
        )
        app.post_message(WatchState("folder_missing", "s3://labels/ls does not exist (yet)", AT))
        await wait_for(
            pilot, lambda: "listing s3://labels/ls for the first time" in screen_text(app)
        )
        assert "waiting for the folder" not in screen_text(app)
        assert "mirror" not in screen_text(app)


@sync
async def test_the_activity_names_a_bucket_by_its_url_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live, against a bucket nobody serves (a closed port on 127.0.0.1): the start line,
    the watcher's lines and the header name the URL, never the mirror under state_dir."""
    for key in [k for k in os.environ if k.startswith(("AWS_", "GOOGLE_", "AZURE_"))]:
        monkeypatch.delenv(key)
    for key, value in bucketkit.s3_env(bucketkit.free_port()).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "s3://labels/ls"\nstate_dir = "state"\neval_set = "eval"\n',
        encoding="utf-8",
    )
    app = make_app(load_config(tmp_path / "config.toml"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "unreachable since" in activity_text(app), timeout=60)
        text = activity_text(app)
        assert "starting: s3://labels/ls" in text
        # the mirror folder appears with the first listing: nothing a person must create
        assert "does not exist" not in text
        assert "mirror" not in text + screen_text(app)
        # the header says it once: the poller's line names the bucket
        top, _ = app.query_one(StatusBar).state_text()
        assert "bucket s3://labels/ls unreachable since" in top, top
        assert top.count("s3://labels/ls") == 1, top
