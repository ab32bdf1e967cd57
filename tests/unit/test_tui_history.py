"""The delta's history and forecast behind the dashboard's sparkline (history.py, no Textual)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from retrain_gate.config import Config, CostConfig
from retrain_gate.history import describe_days, outlook, registry_ingests
from retrain_gate.models import Report
from retrain_gate.registry import FileRecord
from retrain_gate.tui.figures import cost_panel
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


def test_storage_files_are_counted_apart_from_exports() -> None:
    """Label Studio writes a storage file (no extension) on every save: 'retraining after
    each' is about exports, never about those."""
    approved = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
    records = {
        "/x/project-1.json": FileRecord(1, 1, "", "ingested", at=approved + 5),
        "/x/old.json": FileRecord(1, 1, "", "ingested", at=approved - 5),
        "/x/bad.json": FileRecord(1, 1, "", "refused", at=approved + 6),
        "/x/storage/11": FileRecord(1, 1, "", "ingested", at=approved + 7),
        "/x/storage/12": FileRecord(1, 1, "", "ingested", at=approved + 8),
        "/x/storage/13": FileRecord(1, 1, "", "ingested", at=approved - 1),
        "/x/storage/notes": FileRecord(1, 1, "", "ignored", at=approved + 9),
    }
    exports, storage = registry_ingests(records)
    assert sorted(exports) == [
        (approved - 5, "ingested"),
        (approved + 5, "ingested"),
        (approved + 6, "refused"),
    ]
    assert sorted(storage) == [approved - 1, approved + 7, approved + 8]
    rep = report(last_approval_at="2026-11-20T00:00:00Z")
    out = outlook(rep, [], latest_activity=None, ingests=exports, storage_ingests=storage)
    assert (out.exports_since_approval, out.storage_files_since_approval) == (1, 2)
    assert out.last_ingest_at == approved + 8

    config = Config(cost=CostConfig(gpu_hours_per_cycle=2, cost_per_gpu_hour=40))
    both = cost_panel(rep, out, config).plain
    assert both.endswith(
        "1 export since the last approval: retraining after each would have cost ~$80 "
        "(and 2 annotation files saved)"
    ), both
    only_storage = outlook(rep, [], latest_activity=None, storage_ingests=storage)
    text = cost_panel(rep, only_storage, config).plain
    assert text.endswith("· 2 annotation files saved since the last approval"), text
    assert "would have cost" not in text


def test_describe_days_rounds_up_and_switches_units() -> None:
    assert describe_days(0.4) == "within a day"
    assert describe_days(4.2) == "about 5 days"
    assert describe_days(30) == "about 4 weeks"
    assert describe_days(90) == "about 3 months"
