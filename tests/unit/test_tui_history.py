"""The delta's history and forecast behind the dashboard's sparkline (history.py, no Textual)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from retrain_gate.history import describe_days, outlook
from retrain_gate.models import Report
from tests.test_tui_snapshots import WAIT

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def report(**changes: object) -> Report:
    return WAIT.model_copy(update=changes)


def test_daily_delta_counts_episodes_harvested_by_the_end_of_each_day() -> None:
    times = [NOW - timedelta(days=2), NOW - timedelta(days=1), NOW]
    out = outlook(report(last_approval_at=None), times, latest_activity=NOW, spark_days=4)
    assert out.daily_delta == [0, 1, 2, 3]


def test_rate_over_the_last_week_and_the_forecast() -> None:
    times = [NOW - timedelta(hours=12 * i) for i in range(14)]  # 14 in 7 days: 2 a day
    rep = report(delta_episodes=31, needed_episodes=50, last_approval_at=None)
    out = outlook(rep, times, latest_activity=NOW)
    assert out.rate_per_day == 2.0
    assert out.days_to_ready == 9.5
    assert describe_days(9.5) == "about 10 days"


def test_rate_window_starts_at_a_recent_approval_but_never_below_a_day() -> None:
    approved = (NOW - timedelta(hours=6)).isoformat().replace("+00:00", "Z")
    times = [NOW - timedelta(hours=1), NOW - timedelta(hours=2)]
    out = outlook(report(last_approval_at=approved), times, latest_activity=NOW)
    assert out.rate_days == 1.0 and out.rate_per_day == 2.0


def test_no_activity_gives_no_forecast_and_counts_exports_since_the_approval() -> None:
    approved = datetime(2026, 11, 20, tzinfo=UTC)
    ingests = [
        (approved.timestamp() - 10, "ingested"),
        (approved.timestamp() + 10, "ingested"),
        (approved.timestamp() + 20, "refused"),
        (approved.timestamp() + 30, "ingested"),
    ]
    rep = report(last_approval_at="2026-11-20T00:00:00Z")
    out = outlook(rep, [], latest_activity=None, ingests=ingests)
    assert out.days_to_ready is None and out.daily_delta == []
    assert out.exports_since_approval == 2
    assert out.last_ingest_at == approved.timestamp() + 30


def test_describe_days_rounds_up_and_switches_units() -> None:
    assert describe_days(0.4) == "within a day"
    assert describe_days(4.2) == "about 5 days"
    assert describe_days(30) == "about 4 weeks"
    assert describe_days(90) == "about 3 months"
