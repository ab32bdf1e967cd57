"""The delta's recent history and a forecast, for the dashboard (no Textual here).

`Report` says where the delta stands; a person glancing at the dashboard also wants to know
how fast it grows and when it will be enough. Both come from the frames' own stamps, not from
when this process happened to see them: a first start ingests weeks of exports in one go, and
a history recorded at ingest time would show one meaningless jump.

An episode of the current delta was harvested when its last frame was done, so its harvest
time is the greatest stamp among its frames. The delta on a given day is the number of current
delta episodes harvested by the end of that day, and the harvest rate is how many were
harvested over the last `rate_days` up to the latest labeling activity (or since the last
approval, when that is more recent: episodes harvested before it joined the corpus).

The forecast counts from *now*, not from the latest activity: a rate measured before labeling
stopped says nothing about the days since, so the rate's window ends now (days without labeling
lower it) and the forecast is a date counted from now.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from retrain_gate.labelstudio.storage import is_storage_name
from retrain_gate.models import EPISODE_KEY, Report

if TYPE_CHECKING:
    from retrain_gate.engine import Engine

SPARK_DAYS = 14
RATE_DAYS = 7


@dataclass(frozen=True)
class Outlook:
    """Figures the dashboard shows beside the `Report` that the report itself does not hold."""

    # Delta at the end of each of the last `SPARK_DAYS` days of labeling, oldest first.
    daily_delta: list[int] = field(default_factory=list)
    as_of: datetime | None = None  # the latest labeling activity the figures are anchored at
    rate_per_day: float | None = None  # delta episodes harvested per day, recently
    rate_days: float = 0.0  # the window the rate was measured over
    days_to_ready: float | None = None  # None: no forecast (no rate, or already enough)
    exports_since_approval: int | None = None  # ingested exports since the last approval (or ever)
    storage_files_since_approval: int = 0  # ingested storage files, the same way
    last_ingest_at: float | None = None  # epoch seconds of the latest successful ingest
    now: datetime | None = None  # when the figures were computed (the forecast counts from it)
    ready_on: datetime | None = None  # now + days_to_ready

    @property
    def idle_days(self) -> float:
        """Days from the latest labeling activity to now (0 when unknown)."""
        if self.now is None or self.as_of is None:
            return 0.0
        return max((self.now - self.as_of).total_seconds() / 86400, 0.0)


def parse_stamp(text: str | None) -> datetime | None:
    """An ISO-8601 stamp as an aware UTC datetime; None when it cannot be read."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def harvest_times(frames: pl.DataFrame, delta_keys: pl.DataFrame) -> list[datetime]:
    """The harvest time of each delta episode (`delta_keys`: task_subdir, episode)."""
    if delta_keys.is_empty() or frames.is_empty():
        return []
    latest = (
        frames.join(delta_keys.select(EPISODE_KEY), on=EPISODE_KEY, how="semi")
        .group_by(EPISODE_KEY)
        .agg(pl.col("stamp").max())
    )
    times = [parse_stamp(stamp) for stamp in latest["stamp"].to_list()]
    return sorted(t for t in times if t is not None)


def outlook(
    report: Report,
    harvested_at: Iterable[datetime],
    *,
    latest_activity: datetime | None,
    ingests: Iterable[tuple[float, str]] = (),
    storage_ingests: Iterable[float] = (),
    spark_days: int = SPARK_DAYS,
    rate_days: int = RATE_DAYS,
    now: datetime | None = None,
) -> Outlook:
    """Sparkline points, harvest rate and forecast for `report`.

    `ingests` is (epoch seconds, outcome) per registered export file; `storage_ingests` the
    epoch seconds of each storage file ingested (Label Studio writes one per save: not an
    export anyone would retrain after). `now` ends the rate's window (default: the latest
    activity, for figures that are not about the present).
    """
    times = sorted(harvested_at)
    ingested = [at for at, outcome in ingests if outcome == "ingested"]
    storage = list(storage_ingests)
    last_ingest = max(ingested + storage) if ingested or storage else None
    approved_at = parse_stamp(report.last_approval_at)
    # With no approval yet, every export so far is one a retrain-per-export would have used.
    approved_ts = approved_at.timestamp() if approved_at is not None else float("-inf")
    since = sum(1 for at in ingested if at > approved_ts)
    files_since = sum(1 for at in storage if at > approved_ts)
    as_of = latest_activity
    if as_of is None:
        return Outlook(
            exports_since_approval=since,
            storage_files_since_approval=files_since,
            last_ingest_at=last_ingest,
        )

    end_of_day = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC) + timedelta(days=1)
    daily = []
    for back in range(spark_days - 1, -1, -1):
        cutoff = end_of_day - timedelta(days=back)
        daily.append(sum(1 for t in times if t < cutoff))

    end = max(now, as_of) if now is not None else as_of
    start = end - timedelta(days=rate_days)
    if approved_at is not None and approved_at > start:
        start = approved_at
    # Less than a day of history would turn two quick episodes into an absurd daily rate.
    window = max((end - start).total_seconds() / 86400, 1.0)
    recent = sum(1 for t in times if start <= t <= end)
    rate = recent / window
    missing = report.needed_episodes - report.delta_episodes
    days: float | None = None
    if missing > 0 and rate > 0:
        days = missing / rate
    return Outlook(
        now=end,
        ready_on=end + timedelta(days=days) if days is not None else None,
        daily_delta=daily,
        as_of=as_of,
        rate_per_day=rate,
        rate_days=window,
        days_to_ready=days,
        exports_since_approval=since,
        storage_files_since_approval=files_since,
        last_ingest_at=last_ingest,
    )


def describe_days(days: float) -> str:
    """'about 5 days', 'within a day': a forecast is rough and reads best rounded up."""
    if days <= 1:
        return "within a day"
    whole = math.ceil(days)
    if whole >= 60:
        return f"about {round(days / 30)} months"
    if whole >= 14:
        return f"about {round(days / 7)} weeks"
    return f"about {whole} days"


def latest_stamp(frames: pl.DataFrame) -> datetime | None:
    if frames.is_empty():
        return None
    value = frames["stamp"].max()
    return parse_stamp(value if isinstance(value, str) else None)


def registry_ingests(records: Mapping[str, object]) -> tuple[list[tuple[float, str]], list[float]]:
    """(at, outcome) of each export file of `FrameStore.registry()`, and the time of each
    storage file (no extension) ingested; read defensively."""
    exports: list[tuple[float, str]] = []
    storage: list[float] = []
    for name, record in records.items():
        at = getattr(record, "at", None)
        outcome = getattr(record, "outcome", None)
        if not (isinstance(at, int | float) and isinstance(outcome, str)):
            continue
        if not is_storage_name(name):
            exports.append((float(at), outcome))
        elif outcome == "ingested":
            storage.append(float(at))
    return exports, storage


def engine_outlook(engine: Engine, report: Report) -> Outlook:
    """The outlook for `report` from the engine's stored frames, ledger and ingest registry."""
    from retrain_gate.metrics import delta_episodes

    frames = engine.store.frames()
    keys = delta_episodes(frames, engine.config, engine.human_state())
    exports, storage = registry_ingests(engine.store.registry())
    return outlook(
        report,
        harvest_times(frames, keys),
        latest_activity=latest_stamp(frames),
        ingests=exports,
        storage_ingests=storage,
        now=datetime.now(UTC),
    )
