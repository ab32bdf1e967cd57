"""Every action of the dashboard, driven with the keyboard against real state in tmp_path.

The app runs its real GateService (watcher, writer lock, ledger polling) on a temporary
folder; each test checks the screen and the ledger entries the action leaves (or does not).
"""

from __future__ import annotations

import asyncio
import functools
import html
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from retrain_gate.config import Config, load_config
from retrain_gate.decisions.ledger import Ledger, LedgerEntry
from retrain_gate.errors import LedgerError
from retrain_gate.tui.app import RetrainGateApp, make_app
from retrain_gate.tui.messages import Activity, IngestProgress
from retrain_gate.tui.modals import AckModal, ApproveModal, DecisionModal, PinModal, ReportModal
from retrain_gate.tui.screens import LedgerScreen
from retrain_gate.tui.widgets import DecisionBanner, StatusBar
from tests.lsbuild import ann, kp, pred, task, write_export

SIZE = (120, 40)
Test = Callable[..., Coroutine[Any, Any, None]]


def sync(test: Test) -> Callable[..., None]:
    """Run an async Pilot test without an async pytest plugin (none is a dependency)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


def make_config(tmp_path: Path, *, corpus: int = 10) -> Config:
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "set.txt").write_text("eval v1\n", encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        f"""
[paths]
export_dir = "exports"
state_dir = "state"
eval_set = "eval"

[gates]
initial_corpus_episodes = {corpus}

[watch]
settle_seconds = 0.2
""",
        encoding="utf-8",
    )
    return load_config(tmp_path / "config.toml")


def four_episodes(folder: Path, *, name: str = "project-1-at-2026-11-26.json") -> Path:
    """Two tasks, two harvested episodes each: the delta and spread gates pass."""
    tasks = []
    for tid, (subdir, episode) in enumerate(
        [("pick", "ep1"), ("pick", "ep2"), ("pour", "ep1"), ("pour", "ep2")], start=1
    ):
        tasks.append(
            task(
                tid,
                f"/data/local-files/?d=eps/{subdir}/{episode}/f1.jpg",
                predictions=[pred(100 + tid, [kp(10, 10)])],
                annotations=[ann(200 + tid, [kp(10, 10)], parent=100 + tid)],
            )
        )
    return write_export(folder, name, tasks, mtime=1_764_000_000)


def entries(config: Config) -> list[LedgerEntry]:
    return Ledger(config.paths.state_dir).entries()


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def screen_text(app: RetrainGateApp) -> str:
    """The screen as painted (the compositor's cached lines), as plain text."""
    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")


def decision(app: RetrainGateApp) -> str | None:
    return app.report.decision if app.report is not None else None


async def started(pilot: Pilot[Any], app: RetrainGateApp, *, delta: int = 4) -> None:
    await wait_for(pilot, lambda: app.report is not None and app.report.delta_episodes == delta)


def modal(app: RetrainGateApp) -> DecisionModal:
    screen = app.screen
    assert isinstance(screen, DecisionModal)
    return screen


async def fill(pilot: Pilot[Any], app: RetrainGateApp, name: str, note: str = "") -> None:
    screen = modal(app)
    screen.query_one("#name", Input).value = name
    screen.query_one("#note", Input).value = note
    await pilot.pause()


def error_text(app: RetrainGateApp) -> str:
    return str(modal(app).query_one("#error", Static).render())


@pytest.fixture
def ready_folder(tmp_path: Path) -> Config:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    return config


# ---------------------------------------------------------------- pin eval


@sync
async def test_pin_eval_typed_with_the_keyboard_lands_in_the_ledger(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert decision(app) == "WAIT"
        assert app.report is not None and app.report.eval.status == "unpinned"
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PinModal))
        assert modal(app).query_one("#name", Input).value == ""  # never prefilled
        await pilot.press(*"Kim", "enter", *"new", "space", *"frames", "ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
        await wait_for(pilot, lambda: decision(app) == "READY")
    [entry] = entries(ready_folder)
    assert (entry.kind, entry.actor, entry.note) == ("pin", "Kim", "new frames")


@sync
async def test_an_empty_eval_folder_is_not_offered_for_pinning(ready_folder: Config) -> None:
    (ready_folder.paths.eval_set / "set.txt").unlink()
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot, app)
        # The panel says what a pin needs before anyone presses p.
        assert "empty: put the eval files in it, then pin it with p" in screen_text(app)
        await pilot.press("p")
        # The toast wraps the long tmp path; the words around it are what a person reads.
        await wait_for(pilot, lambda: "has no files (names starting with a dot" in screen_text(app))
        assert not isinstance(app.screen, DecisionModal)
        said = screen_text(app)
        assert (
            "the eval set folder" in said and "put the eval files in it, or point [paths]" in said
        )
        assert "Nothing was recorded" in said
    assert entries(ready_folder) == []


@sync
async def test_pin_needs_a_note(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PinModal))
        await fill(pilot, app, "Kim")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "note" in error_text(app)
        assert isinstance(app.screen, PinModal)
    assert entries(ready_folder) == []


@pytest.mark.parametrize(
    "failure",
    [
        "cannot append to the ledger (No space left on device)",
        # the ledger's own words already say it (issue 21.9: it was said twice)
        "cannot lock the ledger (No space left on device); free some space. Nothing was recorded.",
    ],
)
@sync
async def test_a_failed_write_shows_the_error_and_keeps_the_text(
    ready_folder: Config, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise LedgerError(failure)

    monkeypatch.setattr("retrain_gate.tui.app.pin_eval", disk_full)
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PinModal))
        await fill(pilot, app, "Kim", "new frames")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "No space left" in error_text(app))
        screen = modal(app)
        assert screen.query_one("#name", Input).value == "Kim"
        assert screen.query_one("#note", Input).value == "new frames"
        assert error_text(app).lower().count("nothing was recorded") == 1
        assert "your text is kept" in error_text(app)
    assert entries(ready_folder) == []


# ---------------------------------------------------------------- approve


@sync
async def test_approve_when_ready_records_and_shows_the_manifest(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PinModal))
        await fill(pilot, app, "Kim", "first pin")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: decision(app) == "READY")

        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ApproveModal))
        await fill(pilot, app, "Ada Lovelace")  # no note needed when ready
        await pilot.press("ctrl+s")
        screen = modal(app)
        await wait_for(pilot, lambda: screen.query_one("#done", Static).display)
        done = str(screen.query_one("#done", Static).render())
        assert "training-slice-" in done and ".csv" in done
        assert not screen.query_one("#cancel").display  # recorded: nothing left to cancel
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
        await wait_for(pilot, lambda: app.report is not None and app.report.delta_episodes == 0)
    pin, approval = entries(ready_folder)
    assert pin.kind == "pin"
    assert (approval.kind, approval.actor) == ("approval", "Ada Lovelace")
    assert approval.payload["override"] is False
    assert Path(approval.payload["manifest"]).exists()


@sync
async def test_approving_a_wait_without_a_note_is_refused(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert decision(app) == "WAIT"
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ApproveModal))
        intro = str(modal(app).query_one("#intro", Static).render())
        assert "The gates say WAIT" in intro and "override" in intro
        await fill(pilot, app, "Kim")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "note" in error_text(app)
        assert isinstance(app.screen, ApproveModal)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
    assert entries(ready_folder) == []


@sync
async def test_approving_a_wait_with_a_note_records_an_override(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ApproveModal))
        await fill(pilot, app, "Kim", "demo for the customer")
        await pilot.press("ctrl+s")
        screen = modal(app)
        await wait_for(pilot, lambda: screen.query_one("#done", Static).display)
        await pilot.press("ctrl+s")  # closes once recorded
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
    [approval] = entries(ready_folder)
    assert approval.kind == "approval"
    assert approval.payload["override"] is True
    assert approval.note == "demo for the customer"
    assert approval.payload["decision"] == "WAIT"


@sync
async def test_a_missing_name_is_refused(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ApproveModal))
        await fill(pilot, app, "   ", "a note")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "name is empty" in error_text(app)
        assert modal(app).query_one("#note", Input).value == "a note"
    assert entries(ready_folder) == []


@pytest.mark.parametrize("key", ["r", "p", "x"])
@sync
async def test_escape_cancels_and_records_nothing(ready_folder: Config, key: str) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(app.screen, DecisionModal))
        await fill(pilot, app, "Kim", "typed but not confirmed")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
        await pilot.pause(0.3)
    assert entries(ready_folder) == []


@sync
async def test_cancel_button_records_nothing(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ApproveModal))
        await fill(pilot, app, "Kim", "no")
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
    assert entries(ready_folder) == []


# ---------------------------------------------------------------- report + acknowledge


@sync
async def test_report_then_acknowledge(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportModal))
        await fill(pilot, app, "Lee", "thumb keypoints off by a finger")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: decision(app) == "REGRESSION")
        banner = app.query_one(DecisionBanner)
        assert banner.has_class("-regression")
        assert "NOT ACKNOWLEDGED" in str(banner.render())

        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AckModal))
        await fill(pilot, app, "Kim")  # the note is optional for an ack
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: app.report is not None and app.report.regression.acknowledged_by == "Kim"
        )
        assert "acknowledged by Kim at" in str(banner.render())
        assert decision(app) == "REGRESSION"  # an ack does not end the alert
    report, ack = entries(ready_folder)
    assert (report.kind, report.actor, report.note) == (
        "report",
        "Lee",
        "thumb keypoints off by a finger",
    )
    assert (ack.kind, ack.actor) == ("ack", "Kim")
    assert ack.payload["alert_keys"] == [f"report:{report.seq}"]


@sync
async def test_acknowledge_without_an_alert_says_so(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot, app)
        await pilot.press("a")
        await wait_for(pilot, lambda: "no open regression alert" in screen_text(app))
        assert not isinstance(app.screen, DecisionModal)
    assert entries(ready_folder) == []


@sync
async def test_escape_cancels_an_ack(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportModal))
        await fill(pilot, app, "Lee", "worse")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: decision(app) == "REGRESSION")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AckModal))
        await fill(pilot, app, "Kim")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
        await pilot.pause(0.3)
    assert [e.kind for e in entries(ready_folder)] == ["report"]


# ---------------------------------------------------------------- ledger, help, keys


@sync
async def test_ledger_screen_lists_the_decisions(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportModal))
        await fill(pilot, app, "[red]Lee", "worse")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: decision(app) == "REGRESSION")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LedgerScreen))
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[2] == "[red]Lee"  # shown literally
        assert "reported a regression" in row[3]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LedgerScreen))


@sync
async def test_help_opens_and_closes(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


@sync
async def test_dashboard_keys_are_off_while_a_modal_is_open(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ApproveModal))
        modal(app).query_one("#cancel").focus()
        await pilot.press("q", "x")
        await pilot.pause()
        assert isinstance(app.screen, ApproveModal) and len(app.screen_stack) == 2


@sync
async def test_bindings_have_ids_and_commands_exist(ready_folder: Config) -> None:
    app = make_app(ready_folder, live=False)
    ids = {b.id for b in app.BINDINGS if not isinstance(b, tuple) and hasattr(b, "id")}
    assert {
        "approve",
        "acknowledge",
        "pin_eval",
        "report_regression",
        "ledger",
        "help",
        "quit",
    } <= ids
    async with app.run_test(size=SIZE):
        titles = {c.title for c in app.get_system_commands(app.screen)}
    assert {"Approve a retrain", "Acknowledge the alert", "Pin the eval set"} <= titles


@sync
async def test_an_export_dropped_in_updates_the_screen(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.paths.export_dir.mkdir()
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app, delta=0)
        await wait_for(pilot, lambda: "0 of 1 episode" in screen_text(app))
        four_episodes(config.paths.export_dir)
        await started(pilot, app, delta=4)
        await wait_for(pilot, lambda: app.query_one(StatusBar).last_ingest is not None)
        # What is painted, not only what the app holds: panels repaint only when their text
        # changed, and a skipped repaint would leave the old figures on the screen.
        await wait_for(pilot, lambda: "4 episodes, 1 needed" in screen_text(app))
        assert "0 of 1 episode " not in screen_text(app)


@sync
async def test_busy_indicator_shows_while_an_ingest_runs(ready_folder: Config) -> None:
    app = make_app(ready_folder, live=False)
    async with app.run_test(size=SIZE) as pilot:
        status = app.query_one(StatusBar)
        app.post_message(IngestProgress("parsing", 40, 100))
        await pilot.pause()
        assert "ingesting: parsing 40%" in str(status.render())
        app.post_message(Activity("ingested x.json", 0.0, ingested=True, ingest_done=True))
        await pilot.pause()
        assert "ingesting" not in str(status.render())
        assert "last ingest" in str(status.render())
