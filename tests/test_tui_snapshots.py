"""Snapshots of the dashboard in each state, at 80×24 and 120×40.

Deterministic: no service runs (`live=False`), the figures are fed as messages, times are
fixed and shown in UTC, and the activity log carries fixed stamps. Update with
`python -m pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from retrain_gate.config import Config, CostConfig, PathsConfig
from retrain_gate.history import Outlook
from retrain_gate.models import Declined, Report
from retrain_gate.tui.app import RetrainGateApp, make_app
from retrain_gate.tui.messages import (
    Activity,
    OutlookReady,
    RefusedFiles,
    ReportReady,
    RoleChanged,
    WatchState,
)

AT = datetime(2026, 11, 26, 14, 2, 11, tzinfo=UTC).timestamp()
SIZES = [(80, 24), (120, 40)]


def _task(name: str, episodes: int, harvested: int, delta: int, corrected: int) -> dict[str, Any]:
    return {
        "task_subdir": name,
        "episodes": episodes,
        "harvested": harvested,
        "in_progress": episodes - harvested,
        "delta": delta,
        "corrected_frames": corrected,
        "cpe": corrected / harvested,
    }


BASE: dict[str, Any] = {
    "ready": False,
    "reason": "need 10% delta, have 6.2% (31/500 episodes)",
    "corpus_episodes": 500,
    "delta_episodes": 31,
    "needed_episodes": 50,
    "delta_fraction": 0.062,
    "task_counts": {"pick_cube": 12, "stack_blocks": 7, "pour_water": 6, "greifen_würfel": 6},
    "task_gini": 0.12,
    "top_task_share": 12 / 31,
    "eval": {
        "status": "pinned",
        "current_hash": "3f9a1c2e" + "0" * 56,
        "pinned_hash": "3f9a1c2e" + "0" * 56,
        "pinned_by": "Kim",
        "pinned_at": "2026-11-20T09:12:00Z",
    },
    "releases": [
        {"model_version": "hand-kp-2026.09", "episodes": 23, "corrected_frames": 120, "cpe": 5.2},
        {"model_version": "hand-kp-2026.10", "episodes": 24, "corrected_frames": 72, "cpe": 3.0},
        {"model_version": "hand-kp-2026.11", "episodes": 15, "corrected_frames": 45, "cpe": 3.0},
    ],
    "regression": {
        "active": False,
        "source": None,
        "previous": "hand-kp-2026.10",
        "current": "hand-kp-2026.11",
        "p_value": 0.41,
        "acknowledged_by": None,
        "state": "no_regression",
        "detail": "hand-kp-2026.11 needs 3.0 corrections per episode, as hand-kp-2026.10 did",
    },
    "frames": {
        "total": 12402,
        "reviewed": 11020,
        "skipped": 120,
        "corrected": 1400,
        "unmapped": 3,
        "correction_unknown": 0,
    },
    "episodes": {"total": 560, "harvested": 531},
    "gates": [
        {
            "name": "delta",
            "passed": False,
            "value": 31,
            "threshold": 50,
            "detail": "need 10% delta, have 6.2% (31/500 episodes)",
        },
        {
            "name": "spread",
            "passed": True,
            "value": 0.12,
            "threshold": 0.5,
            "detail": "Gini 0.12 over 4 tasks (max 0.5)",
        },
        {
            "name": "eval",
            "passed": True,
            "value": "pinned",
            "threshold": "pinned",
            "detail": "eval set pinned",
        },
        {
            "name": "regression",
            "passed": True,
            "value": 0.41,
            "threshold": 0.01,
            "detail": "no regression",
        },
    ],
    "decision": "WAIT",
    "top_task": "pick_cube",
    "spread_tasks": ["greifen_würfel", "pick_cube", "pour_water", "stack_blocks"],
    "backlog": {"release": "hand-kp-2026.11", "episodes": 9, "frames": 212},
    "approvals": 1,
    "last_approval_at": "2026-11-12T10:00:00Z",
    "unmapped": {
        "key": "pattern",
        "without_path": 1,
        "examples": ["calibration_board.jpg", "https://cdn.example.com/calib_02.jpg"],
        "every_frame": False,
    },
    "tasks": [
        _task("greifen_würfel", 90, 86, 6, 260),
        _task("pick_cube", 200, 190, 12, 610),
        _task("pour_water", 120, 112, 6, 300),
        _task("stack_blocks", 150, 143, 7, 230),
    ],
}


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _merge(base[key], value)
        else:
            out[key] = value
    return out


def report(**changes: Any) -> Report:
    return Report.model_validate(_merge(BASE, changes))


def _gates(**passed: bool) -> list[dict[str, Any]]:
    return [dict(g, passed=passed.get(g["name"], g["passed"])) for g in BASE["gates"]]


WAIT = report()
READY = report(
    ready=True,
    reason="ready",
    decision="READY",
    delta_episodes=62,
    delta_fraction=0.124,
    task_counts={"pick_cube": 20, "stack_blocks": 16, "pour_water": 14, "greifen_würfel": 12},
    top_task_share=20 / 62,
    gates=_gates(delta=True),
)
REGRESSION_STATS: dict[str, Any] = {
    "ready": True,
    "decision": "REGRESSION",
    "reason": "regression: hand-kp-2026.11 needs 7.9 corrections per episode against 3.0 "
    "for hand-kp-2026.10",
    "releases": [
        {"model_version": "hand-kp-2026.09", "episodes": 23, "corrected_frames": 120, "cpe": 5.2},
        {"model_version": "hand-kp-2026.10", "episodes": 24, "corrected_frames": 72, "cpe": 3.0},
        {"model_version": "hand-kp-2026.11", "episodes": 15, "corrected_frames": 119, "cpe": 7.9},
    ],
    "regression": {
        "active": True,
        "source": "statistics",
        "p_value": 0.002,
        "state": "regression",
        "alert_key": "statistics:hand-kp-2026.10->hand-kp-2026.11",
        "previous_cpe": 3.0,
        "current_cpe": 7.9,
        "detail": "hand-kp-2026.11 needs 7.9 corrections per episode against 3.0 (p = 0.002)",
    },
    "gates": _gates(regression=False),
}
REGRESSION = report(**REGRESSION_STATS)
ACKED = report(
    **_merge(
        REGRESSION_STATS,
        {"regression": {"acknowledged_by": "Kim", "acknowledged_at": "2026-11-26T14:05:00Z"}},
    )
)
# After an approval during the alert: the delta joined the corpus, the alert ended.
APPROVED = report(
    **_merge(
        REGRESSION_STATS,
        {
            "ready": False,
            "decision": "WAIT",
            "reason": "need 10% delta, have 0% (0/531 episodes)",
            "corpus_episodes": 531,
            "delta_episodes": 0,
            "needed_episodes": 54,
            "delta_fraction": 0.0,
            "task_gini": 0.0,
            "top_task_share": 0.0,
            "regression": {"active": False, "state": "regression"},
            "gates": _gates(delta=False),
            "approvals": 2,
            "last_approval_at": "2026-11-26T14:03:00Z",
        },
    )
).model_copy(
    update={
        "task_counts": {},
        "tasks": [t.model_copy(update={"delta": 0}) for t in READY.tasks],
    }
)
DECLINED = READY.model_copy(
    update={
        "declined": Declined(
            seq=7, by="Kim", at="2026-11-26T14:01:00Z", note="GPU cluster is down this week"
        )
    }
)
DRIFTED = report(
    eval={"status": "drifted", "current_hash": "77ab12cd" + "0" * 56},
    gates=_gates(delta=True, eval=False),
    delta_episodes=55,
    delta_fraction=0.11,
    # The per-task counts add up to the delta, as the engine's do.
    task_counts={"pick_cube": 21, "stack_blocks": 13, "pour_water": 11, "greifen_würfel": 10},
    top_task_share=21 / 55,
    reason="eval set drifted, pin it before retraining",
)
# Untrusted text from exports must show literally, never restyle the screen. The counts
# replace BASE's (a merge would keep pick_cube and stack_blocks: 50 episodes in a delta of 31).
HOSTILE = report(top_task="[red]x").model_copy(
    update={
        "task_counts": {"[red]x": 12, "evil\x1b[31mred": 7, "pour_water": 6, "greifen_würfel": 6}
    }
)

OUTLOOK = Outlook(
    daily_delta=[0, 2, 4, 5, 7, 9, 12, 14, 17, 19, 22, 25, 28, 31],
    as_of=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
    rate_per_day=4.1,
    rate_days=7.0,
    days_to_ready=4.6,
    exports_since_approval=6,
    last_ingest_at=AT,
    now=datetime(2026, 11, 26, 14, 2, 11, tzinfo=UTC),
    ready_on=datetime(2026, 12, 1, 4, 26, 11, tzinfo=UTC),
)


def snapshot_config() -> Config:
    base = Path("/demo")
    return Config(
        paths=PathsConfig(
            export_dir=base / "exports", state_dir=base / ".retrain-gate", eval_set=base / "eval"
        ),
        cost=CostConfig(gpu_hours_per_cycle=2.0, cost_per_gpu_hour=40.0, currency="$"),
        source=base / "config.toml",
    )


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def feed(
    rep: Report, *, following: bool = False
) -> tuple[RetrainGateApp, Callable[[Pilot[Any]], Any]]:
    app = make_app(snapshot_config(), live=False, clock=lambda: AT)

    async def run_before(pilot: Pilot[Any]) -> None:
        if following:
            app.post_message(
                RoleChanged("following", "following pid 4242 on ws-7 (read-only)", AT - 60)
            )
        else:
            app.post_message(WatchState("live", "watching /demo/exports (live)", AT - 60))
        app.post_message(
            Activity(
                "refused project-7-at-2026-11-26-13-58.csv: a CSV export has no predictions",
                AT - 21,
                level="warning",
            )
        )
        app.post_message(
            Activity(
                "ingested project-7-at-2026-11-26-14-00-af369579.json: 12,402 frames, 41 new",
                AT,
                ingested=True,
                ingest_done=True,
            )
        )
        app.post_message(ReportReady(rep, "loaded", AT))
        app.post_message(OutlookReady(OUTLOOK))
        app.post_message(
            RefusedFiles(
                {
                    "/demo/exports/project-7-at-2026-11-26-13-58.csv": (
                        'a CSV export has no predictions; export the project as "JSON"'
                    )
                }
            )
        )
        await pilot.pause()
        await pilot.pause()

    return app, run_before


CASES = {
    "wait": (WAIT, False),
    "ready": (READY, False),
    "regression": (REGRESSION, False),
    "regression_acked": (ACKED, False),
    "approved": (APPROVED, False),
    "declined": (DECLINED, False),
    "drifted": (DRIFTED, False),
    "following": (WAIT, True),
    "hostile_text": (HOSTILE, False),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case", list(CASES))
def test_dashboard(snap_compare: Any, case: str, size: tuple[int, int]) -> None:
    rep, following = CASES[case]
    app, run_before = feed(rep, following=following)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_approve_modal_against_wait(snap_compare: Any) -> None:
    app, run_before = feed(WAIT)

    async def open_modal(pilot: Pilot[Any]) -> None:
        await run_before(pilot)
        # A read-only app refuses to open the modal, so push it directly with a dummy submit.
        from retrain_gate.tui.modals import ApproveModal

        def refuse(request: Any) -> Any:
            raise AssertionError("not submitted in a snapshot")

        app.push_screen(ApproveModal(WAIT, refuse))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_modal)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    app, run_before = feed(WAIT)

    async def open_help(pilot: Pilot[Any]) -> None:
        await run_before(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_help)
