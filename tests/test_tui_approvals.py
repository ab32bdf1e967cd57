"""Issue 16 and the approval points of 14 on the dashboard: the allow-list, decline, the
two-person override, the episodes an approval approves, the form's errors and the ledger
screen. The real app and its GateService on real folders, driven with the keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from retrain_gate.config import Config, load_config
from retrain_gate.decisions.actions import approve, pin_eval, report_regression
from retrain_gate.engine import Engine
from retrain_gate.tui.app import RetrainGateApp, make_app
from retrain_gate.tui.modals import ApproveModal, DecisionModal, DeclineModal, PinModal
from retrain_gate.tui.screens import LedgerScreen
from retrain_gate.tui.widgets import DecisionBanner
from tests.test_tui_actions import (
    SIZE,
    decision,
    entries,
    error_text,
    fill,
    four_episodes,
    make_config,
    modal,
    started,
    sync,
    wait_for,
)


def configured(tmp_path: Path, approvals: str) -> Config:
    config = make_config(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + approvals, encoding="utf-8")
    config = load_config(path)
    four_episodes(config.paths.export_dir)
    return config


def pinned(config: Config) -> Config:
    """The eval set pinned before the dashboard starts: READY on four new episodes."""
    engine = Engine(config)
    engine.scan()
    pin_eval(engine, by="Kim Park", note="v1")
    return config


def ledger_bytes(config: Config) -> bytes:
    path = config.paths.state_dir / "ledger.jsonl"
    return path.read_bytes() if path.exists() else b""


def banner_text(app: RetrainGateApp) -> str:
    return str(app.query_one(DecisionBanner).render())


def activity_text(app: RetrainGateApp) -> str:
    log = app.query_one("#activity")
    return "\n".join(strip.text for strip in log.lines)  # type: ignore[attr-defined]


async def open_modal(pilot: Pilot[Any], app: RetrainGateApp, key: str, kind: type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, kind))


async def recorded(pilot: Pilot[Any], app: RetrainGateApp) -> None:
    """Confirm, and close the form once the decision is in the ledger."""
    screen = modal(app)
    await pilot.press("ctrl+s")
    await wait_for(
        pilot, lambda: app.screen is not screen or screen.query_one("#done", Static).display
    )
    if app.screen is screen:
        await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))


@pytest.fixture
def ready_folder(tmp_path: Path) -> Config:
    return configured(tmp_path, "")


@pytest.fixture
def kim_only(tmp_path: Path) -> Config:
    return configured(tmp_path, '\n[approvals]\napprovers = ["Kim Park"]\n')


# ---------------------------------------------------------------- who may decide


@sync
async def test_a_refused_name_is_a_message_in_the_form_and_typing_goes_on(
    kim_only: Config,
) -> None:
    before = ledger_bytes(kim_only)
    app = make_app(kim_only)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await open_modal(pilot, app, "r", ApproveModal)
        await fill(pilot, app, "Mallory", "demo for the customer")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "[approvals] approvers" in error_text(app))
        assert "Mallory may not approve" in error_text(app)
        # The name was refused: the next keys go to the name, not to a button.
        name = modal(app).query_one("#name", Input)
        await pilot.press("ctrl+u", *"Kim Park")
        assert name.value == "Kim Park"
        assert not modal(app).query_one("#error", Static).display  # edited: stale, gone
        await recorded(pilot, app)
    assert ledger_bytes(kim_only) != before
    assert [e.actor for e in entries(kim_only)] == ["Kim Park"]


@sync
async def test_a_refused_decline_or_pin_leaves_the_ledger_byte_identical(
    kim_only: Config,
) -> None:
    pinned(kim_only)
    before = ledger_bytes(kim_only)
    app = make_app(kim_only)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        for key, kind in (("d", DeclineModal), ("p", PinModal)):
            await open_modal(pilot, app, key, kind)
            await fill(pilot, app, "Mallory", "mine now")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "[approvals] approvers" in error_text(app))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
    assert ledger_bytes(kim_only) == before


# ---------------------------------------------------------------- decline


@sync
async def test_decline_from_the_dashboard_is_shown_and_recorded(ready_folder: Config) -> None:
    pinned(ready_folder)
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert decision(app) == "READY" and "d declines" in banner_text(app)
        await open_modal(pilot, app, "d", DeclineModal)
        await fill(pilot, app, "Kim Park", "GPU cluster is down this week")
        await recorded(pilot, app)
        await wait_for(pilot, lambda: app.report is not None and app.report.declined is not None)
        banner = banner_text(app)
        assert "declined by Kim Park at " in banner
        assert ": GPU cluster is down this week" in banner
        assert decision(app) == "READY"  # what the data say
        log = activity_text(app)
        assert log.count("declined by Kim Park") == 1
        assert "GPU cluster is down this week" in log
    decline = entries(ready_folder)[-1]
    assert (decline.kind, decline.meaning, decline.reason) == (
        "decline",
        "declined a retrain",
        "GPU cluster is down this week",
    )


@sync
async def test_a_decline_made_elsewhere_reaches_the_activity_log(ready_folder: Config) -> None:
    pinned(ready_folder)
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        from retrain_gate.decisions.actions import decline

        engine = Engine(ready_folder, persist=False)
        engine.scan()
        decline(engine, by="Lee", note="wait for the new camera")
        await wait_for(pilot, lambda: "declined by Lee" in activity_text(app))
        assert "wait for the new camera" in banner_text(app)


@sync
async def test_declining_a_wait_says_there_is_nothing_to_decline(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert decision(app) == "WAIT"
        await pilot.press("d")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, DecisionModal)
    assert entries(ready_folder) == []


# ---------------------------------------------------------------- two people for an override


@sync
async def test_the_same_name_cannot_confirm_its_own_request(tmp_path: Path) -> None:
    config = configured(tmp_path, "\n[approvals]\nsecond_approver_for_override = true\n")
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert decision(app) == "WAIT"  # eval unpinned
        await open_modal(pilot, app, "r", ApproveModal)
        await fill(pilot, app, "Kim", "demo for the customer")
        await recorded(pilot, app)
        await wait_for(pilot, lambda: app.report is not None and app.report.pending_approval)
        assert "approval requested by Kim" in banner_text(app)
        assert "waiting for a second approver" in activity_text(app)
        before = ledger_bytes(config)

        await open_modal(pilot, app, "r", ApproveModal)
        assert "Confirm the approval requested by Kim" in str(
            modal(app).query_one("#intro", Static).render()
        )
        await fill(pilot, app, "kim")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "a second, different approver" in error_text(app))
        assert ledger_bytes(config) == before
        await pilot.press("ctrl+u", *"Lee")
        await recorded(pilot, app)
        await wait_for(pilot, lambda: app.report is not None and app.report.delta_episodes == 0)
        assert app.report is not None and app.report.pending_approval is None
    request, approval = entries(config)
    assert (request.kind, request.actor) == ("request", "Kim")
    assert (approval.kind, approval.actor, approval.payload["confirms_request"]) == (
        "approval",
        "Lee",
        1,
    )


# ---------------------------------------------------------------- 14.3 / 14.13: what is approved


@sync
async def test_the_approval_form_lists_the_episodes_it_approves(ready_folder: Config) -> None:
    pinned(ready_folder)
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await open_modal(pilot, app, "r", ApproveModal)
        episodes = modal(app).query_one("#episodes", Static)
        await wait_for(pilot, lambda: "episodes it approves" in str(episodes.render()))
        lines = str(episodes.render()).splitlines()
        assert lines == [
            "The 4 episodes it approves:",
            "task  episode  frames  corrected  release",
            "pick  ep1           1          0  m1",
            "pick  ep2           1          0  m1",
            "pour  ep1           1          0  m1",
            "pour  ep2           1          0  m1",
        ]


@sync
async def test_a_second_approval_with_nothing_new_needs_a_note(ready_folder: Config) -> None:
    engine = Engine(pinned(ready_folder))
    engine.scan()
    approve(engine, by="Kim Park")
    report_regression(engine, by="Ana", note="thumbs drift")
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app, delta=0)
        assert decision(app) == "REGRESSION"
        await open_modal(pilot, app, "r", ApproveModal)
        assert "Nothing new since the last approval" in str(
            modal(app).query_one("#intro", Static).render()
        )
        await fill(pilot, app, "Kim Park")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "note" in error_text(app)
        assert len(entries(ready_folder)) == 3
        await pilot.press(*"same data, new seed")
        await recorded(pilot, app)
    last = entries(ready_folder)[-1]
    assert (last.kind, last.payload["override"], last.payload["approved_episodes"]) == (
        "approval",
        True,
        [],
    )


# ---------------------------------------------------------------- 14.8: the form and the ledger


@sync
async def test_a_validation_error_goes_once_fixed(ready_folder: Config) -> None:
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await open_modal(pilot, app, "p", PinModal)
        await fill(pilot, app, "Kim")
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = modal(app).query_one("#error", Static)
        assert error.display and "note" in error_text(app)
        assert app.focused is modal(app).query_one("#note", Input)
        await pilot.press("n")  # the note is valid now: the error is gone
        assert not error.display
        await pilot.press(*"ew frames")
        assert modal(app).query_one("#note", Input).value == "new frames"
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await pilot.press(*"ames")
        assert not error.display


@sync
async def test_the_form_shows_the_whole_note(ready_folder: Config) -> None:
    note = "the whole reason, " + "with every word kept " * 12 + "up to the end."
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await open_modal(pilot, app, "p", PinModal)
        full = modal(app).query_one("#note-full", Static)
        await fill(pilot, app, "Kim", "short")
        assert not full.display  # it fits in the field
        await fill(pilot, app, "Kim", note)
        assert full.display
        shown = " ".join(str(full.render()).split())
        assert note in shown and f"({len(note)}/2,000 characters)" in shown


@sync
async def test_the_ledger_screen_shows_whole_notes_and_its_time_zone(
    ready_folder: Config,
) -> None:
    note = "labelers say the wrist keypoints drift; " * 6 + "END"
    engine = Engine(ready_folder)
    engine.scan()
    report_regression(engine, by="Lee", note=note)
    app = make_app(ready_folder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LedgerScreen))
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert "UTC" in str(screen.query_one("#ledger-title", Static).render())
        assert "when (UTC)" in [str(c.label) for c in table.columns.values()]
        [entry] = entries(ready_folder)
        assert str(table.get_row_at(0)[1]) == entry.ts.replace("T", " ")[:19]
        detail = screen.query_one("#detail-text", Static)

        def shown() -> str:
            whole = Region(0, 0, detail.size.width, detail.size.height)
            return " ".join(" ".join(s.text for s in detail.render_lines(whole)).split())

        await wait_for(pilot, lambda: "END" in shown())
        text = shown()
        assert f"reason {' '.join(note.split())}" in text
        assert "meaning reported a regression" in text and "name Lee" in text
        assert f"time {entry.ts} (UTC)" in text
