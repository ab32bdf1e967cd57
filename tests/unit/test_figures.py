"""The words and figures the dashboard and the CLI print, checked as plain text.

Each expected string is what a newcomer should read; the figures come from real `Report`s
(the snapshot tests' WAIT report, changed field by field).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retrain_gate.config import Config, GatesConfig
from retrain_gate.decisions.output import alert_words
from retrain_gate.history import Outlook, outlook
from retrain_gate.models import Gate, Regression, Report
from retrain_gate.render import gate_line
from retrain_gate.text import article, plural
from retrain_gate.tui import figures
from tests.test_tui_snapshots import WAIT

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def report(**changes: Any) -> Report:
    return WAIT.model_copy(update=changes)


def regression(**changes: Any) -> Regression:
    return WAIT.regression.model_copy(update=changes)


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        *[(1, "a"), (8, "an"), (11, "an"), (12, "a"), (18, "an"), (80, "an"), (110, "a")],
        *[(11_000, "an"), (18_500, "an"), (800, "an"), (200, "a")],
    ],
)
def test_article_before_a_number(count: int, expected: str) -> None:
    assert article(count) == expected


def test_plural() -> None:
    assert [plural(n, "episode") for n in (0, 1, 2, 1204)] == [
        "0 episodes",
        "1 episode",
        "2 episodes",
        "1,204 episodes",
    ]


def test_the_panel_says_the_configured_share_and_why_needed_is_more() -> None:
    # corpus 107 at 10%: ceil(10.7) = 11 episodes, which is 10.3% of the corpus; the panel
    # must say 10% (as the banner does) and that 11 is 10% rounded up.
    rep = report(corpus_episodes=107, delta_episodes=4, needed_episodes=11, delta_fraction=4 / 107)
    text = figures.delta_panel(rep, None, 60, Config()).plain
    assert "4 of 11 episodes" in text
    assert "of a 107-episode corpus · need 10%, rounded up  " in text
    assert "10.3" not in text
    # no rounding: no explanation
    even = report(corpus_episodes=110, delta_episodes=4, needed_episodes=11, delta_fraction=4 / 110)
    assert (
        "of a 110-episode corpus · need 10%  "
        in figures.delta_panel(even, None, 60, Config()).plain
    )


def test_an_11_episode_corpus() -> None:
    rep = report(corpus_episodes=11, delta_episodes=1, needed_episodes=2, delta_fraction=1 / 11)
    config = Config(gates=GatesConfig(min_delta_fraction=0.15))
    # 1/11 = 9.09...%: text.percent rounds down to one decimal (9.0%, written 9%), so that
    # a failing share never reads as more than it is
    assert "9% of an 11-episode corpus · need 15%, rounded up  " in (
        figures.delta_panel(rep, None, 70, config).plain
    )


def test_insufficient_data_is_said_once_and_is_not_a_pass() -> None:
    detail = "insufficient data: v2 has 1 harvested episode and v1 has 10; need 10 each"
    rep = report(regression=regression(state="insufficient_data", detail=detail, p_value=None))
    text = figures.regression_state(rep).plain
    assert text.count("insufficient data") == 1
    assert "v2 has 1 harvested episode" in text
    assert "not judged" in text and "no regression" not in text
    line = gate_line(
        Gate(name="regression", passed=None, value=None, threshold=0.01, detail=detail)
    )
    assert line.split()[:2] == ["regression", "unknown"]


def test_fewer_than_two_releases_reads_not_applicable_yet() -> None:
    detail = (
        "not applicable yet: the newest release is compared with the one before it, "
        "and there is only v1 so far"
    )
    one = regression(state="fewer_than_two_releases", detail=detail, p_value=None, active=False)
    text = figures.regression_state(report(regression=one)).plain
    assert text == (
        "not applicable yet: the newest release is compared with the one before it, "
        "and there is only v1 so far"
    )
    gate = Gate(name="regression", passed=None, value=None, threshold=0.01, detail=detail)
    assert gate_line(gate, one) == f"  regression  n/a      {detail}"
    # the verdict column is as wide as the widest verdict, so the details line up
    assert gate_line(gate, regression(state="insufficient_data")).index("not") == 23


def test_an_alert_ended_by_an_approval_does_not_read_no_regression() -> None:
    ended = regression(
        active=False,
        state="regression",
        previous="hand-kp-2026.10",
        current="hand-kp-2026.11",
        p_value=4.7e-05,
        detail="…; an approval ended this alert, so it is not raised again for this pair",
    )
    text = figures.regression_state(report(regression=ended)).plain
    assert "alert ended by the approval" in text
    assert "no regression" not in text
    assert "hand-kp-2026.11 still reads worse than hand-kp-2026.10" in text


def test_alert_keys_are_named_by_their_releases() -> None:
    assert alert_words("statistics:hand-kp-2026.10->hand-kp-2026.11") == (
        "the regression alert on hand-kp-2026.11 (against hand-kp-2026.10)"
    )
    assert alert_words("report:12") == "the regression reported in #12"


# ---------------------------------------------------------------- the forecast counts from now


def forecast_line(out: Outlook, rep: Report) -> str:
    return figures.delta_panel(rep, out, 70, Config()).plain.splitlines()[3]


def test_the_forecast_is_a_date_counted_from_now() -> None:
    rep = report(delta_episodes=31, needed_episodes=50, last_approval_at=None)
    times = [NOW - timedelta(hours=12 * i) for i in range(14)]  # 2 a day, up to now
    out = outlook(rep, times, latest_activity=NOW, now=NOW)
    # 19 missing at 2 a day: 9.5 days from Dec 06 12:00 is Dec 15 24:00 -> Dec 16
    assert out.ready_on == NOW + timedelta(days=9.5)
    assert forecast_line(out, rep) == "at ~2.0 episodes/day: enough around Dec 16"


def test_a_rate_from_before_labeling_stopped_is_not_a_forecast() -> None:
    rep = report(delta_episodes=31, needed_episodes=50, last_approval_at=None)
    stopped = NOW - timedelta(days=10)
    times = [stopped - timedelta(hours=12 * i) for i in range(14)]
    out = outlook(rep, times, latest_activity=stopped, now=NOW)
    # nothing in the week up to now: no rate, and the line says since when
    assert out.rate_per_day == 0 and out.ready_on is None
    assert forecast_line(out, rep) == "nothing labeled since Nov 26: no forecast"


def test_a_pause_lowers_the_rate_and_is_said() -> None:
    rep = report(delta_episodes=31, needed_episodes=50, last_approval_at=None)
    stopped = NOW - timedelta(days=3)
    times = [stopped - timedelta(hours=12 * i) for i in range(14)]
    out = outlook(rep, times, latest_activity=stopped, now=NOW)
    # The week up to now starts Nov 29 12:00; episodes 12 h apart from Dec 03 12:00 back to
    # Nov 29 12:00 are 9, so 9/7 a day (not the 2 a day measured before the pause), and the
    # 19 missing take 19 * 7 / 9 = 14.8 days from Dec 06 12:00: Dec 21.
    assert out.rate_per_day == pytest.approx(9 / 7)
    assert out.ready_on == NOW + timedelta(days=19 * 7 / 9)
    assert (
        forecast_line(out, rep) == "nothing labeled since Dec 03; at ~1.3/day: enough around Dec 21"
    )


# ---------------------------------------------------------------- per-task table, unmapped


def test_the_per_task_table() -> None:
    from retrain_gate.models import TaskStats

    rep = report(
        tasks=[
            TaskStats(
                task_subdir="pick_cube",
                episodes=18,
                harvested=17,
                in_progress=1,
                delta=5,
                corrected_frames=10,
                cpe=10 / 17,
            ),
            TaskStats(
                task_subdir="pour",
                episodes=2,
                harvested=0,
                in_progress=2,
                delta=0,
                corrected_frames=0,
                cpe=None,
            ),
        ]
    )
    lines = figures.tasks_table(rep, 76).plain.splitlines()
    assert lines == [
        "task        harvested in progress in delta corrections/episode",
        "pick_cube    17 of 18           1        5                0.59",
        "pour           0 of 2           2        0                   —",
    ]
    narrow = figures.tasks_table(rep, 50).plain.splitlines()
    assert narrow[0].endswith("corr/ep") and len(max(narrow, key=len)) <= 50


def test_unmapped_lines_show_the_key_and_example_paths() -> None:
    from retrain_gate.models import FrameCounts, Unmapped

    frames = WAIT.frames.model_dump()
    rep = report(
        frames=FrameCounts(**{**frames, "unmapped": 97, "total": 97}),
        unmapped=Unmapped(
            key="pattern",
            examples=["/data/upload/3/a1-f1.jpg", "/data/upload/3/a1-f2.jpg"],
            every_frame=True,
        ),
    )
    text = figures.unmapped_lines(rep, Config(), 70).plain
    assert text.splitlines() == [
        "every frame is unmapped: fix [episodes] pattern",
        "  e.g. /data/upload/3/a1-f1.jpg",
        "  e.g. /data/upload/3/a1-f2.jpg",
    ]
    some = report(
        frames=FrameCounts(**{**frames, "unmapped": 1}),
        unmapped=Unmapped(key="field", without_path=1),
    )
    assert figures.unmapped_lines(some, Config(), 70).plain == (
        "1 frame unmapped: no task.data['image']: fix [episodes] field"
    )


def test_an_empty_coverage_panel_keeps_its_lines_apart() -> None:
    # No delta yet: the "no tasks" line, then the Gini / top-share line on its own line
    # (issue 21.2: they ran together as "...flowing yetGini 0.00").
    rep = report(task_counts={}, delta_episodes=0, task_gini=0.0, top_task_share=0.0)
    lines = figures.coverage_panel(rep, Config(), 60).plain.splitlines()
    assert lines[0] == "no tasks with work flowing yet"
    assert lines[1].startswith("Gini 0.00 ≤ 0.50 ✓   top share 0% ≤ 80%")


# ---------------------------------------------------------------- a pattern that maps nonsense


def _mapped(rows: list[dict[str, Any]]) -> tuple[Report, list[str]]:
    from retrain_gate.metrics import evaluate
    from retrain_gate.models import HumanState
    from retrain_gate.render import mapping_warnings
    from tests.framekit import frames_table

    rep = evaluate(frames_table(rows), Config(), HumanState(), None)
    return rep, mapping_warnings(rep, Config())


def _episodes(sizes: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    from tests.framekit import episode

    return [row for (task, ep), n in sizes.items() for row in episode(task, ep, frames=n)]


def test_upload_paths_are_named_with_what_the_pattern_should_capture() -> None:
    # framekit paths are /data/<task>/<episode>/<id>.jpg: task "upload", episode "4" is what
    # the default pattern makes of Label Studio's /data/upload/4/<file>
    rep, warnings = _mapped(_episodes({("upload", "4"): 3, ("pick", "e1"): 2}))
    assert rep.mapping.upload_frames == 3
    assert len(warnings) == 1
    text = warnings[0]
    assert text.startswith(
        "3 frames are Label Studio uploads, mapped as task 'upload', episode '4'"
    )
    assert "(e.g. /data/upload/4/" in text
    assert "(?P<task_subdir>.+?)__(?P<episode>.+?)__" in text
    assert "gives task_subdir 'pick_cube', episode 'ep_0007'" in text
    # one upload frame: singular
    _, one = _mapped(_episodes({("upload", "4"): 1, ("pick", "e1"): 2}))
    assert one[0].startswith("1 frame is a Label Studio upload, ")


def test_one_episode_with_most_frames_is_a_warning() -> None:
    # 8 of 10 mapped frames in one of 3 episodes: 80%
    _, warnings = _mapped(_episodes({("robot", "all"): 8, ("pick", "e1"): 1, ("pick", "e2"): 1}))
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "one episode holds 80% of the mapped frames (8 of 10): task 'robot', episode 'all'"
    )
    # exactly half is not "most"; two episodes are too few to tell
    assert _mapped(_episodes({("a", "1"): 5, ("b", "1"): 3, ("b", "2"): 2}))[1] == []
    assert _mapped(_episodes({("a", "1"): 9, ("b", "1"): 1}))[1] == []


def test_every_episode_with_one_frame_is_a_warning() -> None:
    ten = {("pick", f"f{i}.jpg"): 1 for i in range(10)}
    _, warnings = _mapped(_episodes(ten))
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "each of the 10 episodes holds one frame, e.g. task 'pick', episode 'f0.jpg'"
    )
    assert "may capture the file name as the episode" in warnings[0]
    # nine are too few to tell; one episode with two frames means the pattern groups frames
    assert _mapped(_episodes(dict(list(ten.items())[:9])))[1] == []
    assert _mapped(_episodes({**ten, ("pick", "f0.jpg"): 2}))[1] == []
