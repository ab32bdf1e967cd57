"""The dashboard fits its screen through a day's decisions (issue 21.6).

The real app and its GateService on a copy of the bundled demo (four tasks, three releases,
an open regression alert, unmapped frames: the fullest screen a newcomer sees), driven with
the keyboard at the design size and at 80×24: the alert, then an acknowledgement, a decline
and an approval. After each: no screen-level scrolling, the top line where it was, the
banner, every panel border and the Activity log on screen, and no toast left over a panel.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog

from retrain_gate.config import Config, load_config
from retrain_gate.decisions.actions import approve, pin_eval
from retrain_gate.engine import Engine
from retrain_gate.tui.app import ALERT_TOAST_SECONDS, RetrainGateApp, make_app
from retrain_gate.tui.messages import RefusedFiles, ReportReady
from retrain_gate.tui.modals import AckModal, ApproveModal, DeclineModal
from retrain_gate.tui.screens import HelpScreen, LedgerScreen, RefusedScreen
from retrain_gate.tui.widgets import DecisionBanner, Panel, StatusBar
from tests.test_tui_actions import decision, fill, four_episodes, make_config, sync, wait_for
from tests.test_tui_approvals import open_modal, recorded
from tests.test_tui_snapshots import AT, REGRESSION, snapshot_config

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
SIZES = [(120, 40), (80, 24)]
ACTIVITY_MIN_ROWS = 5  # three lines inside the border


def demo_config(tmp_path: Path) -> Config:
    shutil.copytree(DEMO / "exports", tmp_path / "exports")
    shutil.copytree(DEMO / "eval", tmp_path / "eval")
    source = (DEMO.parent.parent / "config.toml").read_text(encoding="utf-8")
    source = source.replace("fixtures/demo/", "")
    source = source.replace("settle_seconds = 1.0", "settle_seconds = 0.2")
    (tmp_path / "config.toml").write_text(source, encoding="utf-8")
    return load_config(tmp_path / "config.toml")


def toasts(app: RetrainGateApp) -> list[Any]:
    # By type name: Textual exports no Toast class.
    return list(app.screen.query("Toast"))


def assert_fits(app: RetrainGateApp, size: tuple[int, int], when: str) -> None:
    width, height = size
    screen = app.screen
    assert screen is app.screen_stack[0], when
    assert (screen.max_scroll_x, screen.max_scroll_y) == (0, 0), f"{when}: the screen scrolls"
    assert app.query_one(StatusBar).region.y == 0, f"{when}: the top line moved"
    banner = app.query_one(DecisionBanner).region
    body = app.query_one("#body").region
    activity = app.query_one("#activity", RichLog).region
    footer = app.query_one("Footer").region
    assert banner.y == 1 and banner.bottom <= body.y, when
    assert body.bottom <= activity.y and activity.bottom <= footer.y == height - 1, when
    assert activity.height >= ACTIVITY_MIN_ROWS, f"{when}: Activity is {activity.height} rows"
    assert body.width == activity.width == width, f"{when}: a scrollbar took columns"
    if size == (120, 40):
        # The design size: every panel whole, both borders, nothing to scroll to.
        assert app.query_one("#body").max_scroll_y == 0, f"{when}: the panels scroll"
        for panel in app.query(Panel):
            assert panel.region.height == panel.outer_size.height, f"{when}: {panel.id} cut"
            assert body.contains_region(panel.region), f"{when}: {panel.id} outside"


async def toasts_gone(pilot: Pilot[Any], app: RetrainGateApp) -> None:
    await wait_for(pilot, lambda: not toasts(app), timeout=ALERT_TOAST_SECONDS + 4)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@sync
async def test_alert_ack_decline_and_approve_fit_the_screen(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    config = demo_config(tmp_path)
    app = make_app(config)
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_for(pilot, lambda: decision(app) == "REGRESSION", timeout=60)
        await pilot.pause()
        assert_fits(app, size, "open alert")

        await open_modal(pilot, app, "a", AckModal)
        await fill(pilot, app, "Kim")
        await recorded(pilot, app)
        await wait_for(
            pilot, lambda: app.report is not None and bool(app.report.regression.acknowledged_by)
        )
        await pilot.pause()
        assert_fits(app, size, "acknowledged")

        await open_modal(pilot, app, "d", DeclineModal)
        await fill(pilot, app, "Kim", "GPU cluster is down this week")
        await recorded(pilot, app)
        await wait_for(pilot, lambda: app.report is not None and app.report.declined is not None)
        await pilot.pause()
        assert_fits(app, size, "declined")

        await open_modal(pilot, app, "r", ApproveModal)
        await fill(pilot, app, "Ana Ruiz")
        await recorded(pilot, app)
        await wait_for(pilot, lambda: decision(app) == "WAIT")
        await pilot.pause()
        assert_fits(app, size, "approved")
        await toasts_gone(pilot, app)
        assert_fits(app, size, "approved, toasts gone")


@sync
async def test_the_alert_toast_goes_after_a_few_seconds_and_the_alert_stays() -> None:
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        app.post_message(ReportReady(REGRESSION, "loaded", AT))
        await wait_for(pilot, lambda: bool(toasts(app)))
        await toasts_gone(pilot, app)
        banner = str(app.query_one(DecisionBanner).render())
        assert "NOT ACKNOWLEDGED" in banner
        log = "\n".join(strip.text for strip in app.query_one("#activity", RichLog).lines)
        assert "ALERT regression: hand-kp-2026.11 needs 7.9" in log


HELP_HEADINGS = ("Words", "The decision (top banner)", "The gates", "Keys", "Nothing", "Every")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@sync
async def test_help_definitions_hang_under_their_text(size: tuple[int, int]) -> None:
    # A definition that wraps continues under its own first word, never at the left edge
    # ("found by [episodes]" / "pattern."), at 80x24 as at the design size.
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        body = app.screen.query_one("#help-text")
        # Every line of the text as laid out in the box, also those scrolled out of view.
        whole = Region(0, 0, body.size.width, body.size.height)
        lines = [strip.text.rstrip() for strip in body.render_lines(whole)]
        hanging = {len(line) - len(line.lstrip()) for line in lines if line.strip()}
        at_the_edge = [line for line in lines if line.strip() and line[0] != " "]
        assert at_the_edge and all(line.startswith(HELP_HEADINGS) for line in at_the_edge), (
            at_the_edge
        )
        assert 1 not in hanging, lines
        words = " ".join(" ".join(lines).split())
        assert "found by [episodes] pattern." in words
        assert "a acknowledge the regression alert" in words


LONG_REASON = (
    "the new camera rig changed the exposure on every pick_cube episode, so the labelers "
    "corrected most frames by hand; retraining now folds those fixes in before the next batch"
)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@sync
async def test_the_ledger_shows_the_whole_reason_without_scrolling_sideways(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    engine = Engine(config)
    engine.scan()
    pin_eval(engine, by="Kim Park", note="v1")
    approve(engine, by="Ana Ruiz", note=LONG_REASON)
    app = make_app(config, live=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LedgerScreen))
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.pause()
        assert table.max_scroll_x == 0, "the table scrolls sideways"
        detail = app.screen.query_one("#detail-text")
        whole = Region(0, 0, detail.size.width, detail.size.height)
        lines = [strip.text.rstrip() for strip in detail.render_lines(whole)]
        # Label, then the value hanging under its own first word.
        assert all(line[:1] != " " or not line[:9].strip() for line in lines), lines
        assert any(line.startswith("reason   the new camera rig") for line in lines), lines
        words = " ".join(" ".join(line[9:] for line in lines).split())
        assert LONG_REASON in words


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@sync
async def test_the_approval_form_hangs_each_gate_detail_under_its_text(
    size: tuple[int, int],
) -> None:
    long = "hand-kp-2026.11 needs 7.9 corrections per episode against 3.0 (p = 0.002)"
    gates = [
        g.model_copy(update={"detail": long}) if g.name == "regression" else g
        for g in REGRESSION.gates
    ]
    rep = REGRESSION.model_copy(update={"gates": gates})
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=size) as pilot:
        app.post_message(ReportReady(rep, "loaded", AT))
        await pilot.pause()

        def refuse(request: Any) -> Any:
            raise AssertionError("nothing is submitted here")

        app.push_screen(ApproveModal(rep, refuse))
        await wait_for(pilot, lambda: isinstance(app.screen, ApproveModal))
        await pilot.pause()
        gates = app.screen.query_one("#below-intro")
        whole = Region(0, 0, gates.size.width, gates.size.height)
        lines = [strip.text.rstrip() for strip in gates.render_lines(whole)]
        assert lines[-1].startswith("Training slice: 31 episodes")
        rows = lines[:-1]
        # name in column 2, verdict in 13, detail from 21; a wrapped detail stays at 21
        assert [row[2:13].strip() for row in rows if row[2:13].strip()] == [
            "delta",
            "spread",
            "eval",
            "regression",
        ]
        assert all(not row[:21].strip() or row[2:3].strip() for row in rows), rows
        words = " ".join(" ".join(row[21:] for row in rows).split())
        assert long in words


@sync
async def test_a_long_refusal_reason_hangs_under_its_file() -> None:
    reason = (
        "cut short at byte 1,048,576 of 2,097,152: the export is still being written or was "
        "truncated; export the project again, or wait for the copy to finish"
    )
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(RefusedFiles({"/demo/exports/project-7-at-2026-11-26.json": reason}))
        await pilot.pause()
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, RefusedScreen))
        await pilot.pause()
        listing = app.screen.query_one("#refused-list")
        whole = Region(0, 0, listing.size.width, listing.size.height)
        lines = [s.text.rstrip() for s in listing.render_lines(whole) if s.text.strip()]
        assert lines[0] == "project-7-at-2026-11-26.json"
        assert len(lines) > 2 and all(line.startswith("  ") for line in lines[1:]), lines
        assert " ".join(" ".join(lines[1:]).split()) == reason


def _coverage_rows(app: RetrainGateApp) -> list[str]:
    # The panel's text at its width on the screen, as it is drawn inside the border.
    text = app.query_one("#tasks", Panel).render()
    assert isinstance(text, Text)
    return text.plain.splitlines()


@pytest.mark.parametrize(
    ("counts", "shares", "top_line"),
    [
        # Thirds: each rounded up read 34% + 34% + 34% = 102%.
        ({"a": 1, "b": 1, "c": 1}, ["34%", "33%", "33%"], "top share 34% ≤ 80%"),
        # 201 of 250 = 80.4% is over an 80% maximum: whole percents would show "80%" (or,
        # rounded up, 81% beside a row of 80%); one decimal shows both as the gate reads them.
        ({"a": 201, "b": 49}, ["80.4%", "19.6%"], "top share 80.4% > 80%"),
        ({"a": 200, "b": 50}, ["80%", "20%"], "top share 80% ≤ 80%"),
    ],
)
@sync
async def test_task_shares_on_the_dashboard_add_up_to_100_percent(
    counts: dict[str, int], shares: list[str], top_line: str
) -> None:
    delta = sum(counts.values())
    top = max(counts.values()) / delta
    rep = REGRESSION.model_copy(
        update={
            "task_counts": counts,
            "delta_episodes": delta,
            "top_task": "a",
            "top_task_share": top,
        }
    )
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(ReportReady(rep, "loaded", AT))
        await wait_for(pilot, lambda: "top share" in "\n".join(_coverage_rows(app)))
        rows = _coverage_rows(app)
        shown = [row.split()[-1] for row in rows[: len(counts)]]
        assert shown == shares, rows
        assert any(top_line in row for row in rows), rows


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@sync
async def test_a_long_activity_line_hangs_under_its_text(size: tuple[int, int]) -> None:
    # Wrapped, the rest of a line continues under its first word, never under the time
    # ("14:02:11 declined by Kim ... down this" / "week"), as the help's definitions do.
    words = " ".join(f"word{n}" for n in range(60))
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)
    async with app.run_test(size=size) as pilot:
        app.log_line(words, at=AT)
        app.log_line("short", at=AT)
        await pilot.pause()
        log = app.query_one("#activity", RichLog)
        lines = [strip.text.rstrip() for strip in log.lines]
        stamp = lines[0][:8]
        assert re.fullmatch(r"\d\d:\d\d:\d\d", stamp), lines
        assert lines[0].startswith(f"{stamp} word0 word1"), lines
        rest = lines[1:-1]
        assert len(rest) >= 2, lines  # it did wrap
        assert all(line.startswith(" " * 9) and line[9] != " " for line in rest), lines
        assert " ".join(" ".join(lines[:-1]).split()) == f"{stamp} {words}"  # nothing lost
        assert lines[-1] == f"{stamp} short"
