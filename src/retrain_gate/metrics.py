"""§4-§8 of docs/semantics.md: merged frames + human state + eval hash -> `Report`.

Pure: no I/O, no clock. Everything per frame or per episode is done by polars; Python only
loops over the handful of releases and tasks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import polars as pl

from retrain_gate.alerts import ended_after
from retrain_gate.config import Config
from retrain_gate.evalset import EMPTY_HASH
from retrain_gate.models import (
    EPISODE_KEY,
    Ack,
    Backlog,
    Declined,
    EpisodeCounts,
    EpisodeExample,
    EvalStatus,
    FrameCounts,
    Gate,
    HumanState,
    MappingShape,
    Regression,
    RegressionReport,
    ReleaseStats,
    Report,
    TaskStats,
    Unmapped,
)
from retrain_gate.stats import as_fraction, ceil_fraction, gini_fraction, mann_whitney_greater
from retrain_gate.text import NOT_APPLICABLE, percent, plural

_DONE = pl.col("status").is_in(["reviewed", "skipped"])


# ---------------------------------------------------------------- formatting for reasons


def _num(value: float) -> str:
    """A figure for a sentence: at most two decimals, no trailing zeros (4.5, 3, 3.33)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------- frames and episodes


def _mapped(frames: pl.DataFrame) -> pl.DataFrame:
    return frames.filter(pl.col("task_subdir").is_not_null() & pl.col("episode").is_not_null())


def _frame_counts(frames: pl.DataFrame, mapped: pl.DataFrame) -> FrameCounts:
    # Unmapped frames count in total/unmapped only (§2), so the rest is counted on `mapped`.
    row = mapped.select(
        reviewed=(pl.col("status") == "reviewed").sum(),
        skipped=(pl.col("status") == "skipped").sum(),
        corrected=pl.col("corrected").fill_null(False).sum(),
        correction_unknown=pl.col("correction_unknown").fill_null(False).sum(),
        release_unknown=(
            (pl.col("status") == "reviewed") & pl.col("has_source") & pl.col("release").is_null()
        ).sum(),
    ).row(0, named=True)
    return FrameCounts(
        total=frames.height,
        unmapped=frames.height - mapped.height,
        **{key: int(value or 0) for key, value in row.items()},
    )


def _release_order(mapped: pl.DataFrame) -> pl.DataFrame:
    """release, first_seen, rank: oldest first; no created_at sorts last; ties by name."""
    seen = (
        mapped.filter(pl.col("release").is_not_null())
        .group_by("release")
        .agg(first_seen=pl.col("release_created_at").min())
        .sort(["first_seen", "release"], nulls_last=True)
    )
    return seen.with_row_index("rank")


def _episode_releases(mapped: pl.DataFrame, order: pl.DataFrame) -> pl.DataFrame:
    """The most common release of each episode; a tie goes to the later release."""
    return (
        mapped.filter(pl.col("release").is_not_null())
        .group_by([*EPISODE_KEY, "release"])
        .agg(n=pl.len())
        .join(order.select("release", "rank"), on="release")
        .sort(["n", "rank"], descending=True)
        .unique(subset=EPISODE_KEY, keep="first", maintain_order=True)
        .select(*EPISODE_KEY, "release")
    )


def _approved_table(human: HumanState) -> pl.DataFrame:
    pairs = sorted(set(human.approved_episodes))
    return pl.DataFrame(
        {
            "task_subdir": [task for task, _ in pairs],
            "episode": [episode for _, episode in pairs],
            "approved": [True] * len(pairs),
        },
        schema={"task_subdir": pl.String, "episode": pl.String, "approved": pl.Boolean},
    )


def _episode_table(
    mapped: pl.DataFrame, config: Config, human: HumanState, order: pl.DataFrame
) -> pl.DataFrame:
    """One row per episode: frames, done, declared, corrected, release, harvested, approved,
    in_delta and open_frames (frames still to label, unexported ones included when known)."""
    # A stale store may hold frame counts from an earlier config; only a configured
    # frames_field may make an episode wait for frames that were never exported.
    declared = (
        pl.col("episode_frames").filter(pl.col("episode_frames") > 0).max()
        if config.episodes.frames_field
        else pl.lit(None, dtype=pl.Int64)
    )
    episodes = mapped.group_by(EPISODE_KEY).agg(
        frames=pl.len(),
        done=_DONE.sum(),
        declared=declared,
        corrected=pl.col("corrected").fill_null(False).sum(),
    )
    harvested = (
        pl.when(pl.col("declared").is_not_null())
        .then(pl.col("done") >= pl.col("declared"))
        .otherwise(pl.col("done") == pl.col("frames"))
    )
    expected = pl.max_horizontal("frames", pl.col("declared").fill_null(0))
    return (
        episodes.join(_episode_releases(mapped, order), on=EPISODE_KEY, how="left")
        .join(_approved_table(human), on=EPISODE_KEY, how="left")
        .with_columns(
            harvested=harvested,
            approved=pl.col("approved").fill_null(False),
            open_frames=(expected - pl.col("done")).clip(lower_bound=0),
        )
        .with_columns(in_delta=pl.col("harvested") & ~pl.col("approved"))
        .sort(EPISODE_KEY)
    )


UNMAPPED_EXAMPLES = 3


def _unmapped(frames: pl.DataFrame) -> Unmapped:
    """§2: which key to blame for the unmapped frames, with a few of their paths."""
    unmapped = frames.filter(pl.col("task_subdir").is_null() | pl.col("episode").is_null())
    if unmapped.is_empty():
        return Unmapped()
    paths = unmapped["path"].drop_nulls()
    without_path = unmapped.height - paths.len()
    examples = paths.unique().sort().head(UNMAPPED_EXAMPLES).to_list()
    return Unmapped(
        # Frames without a path cannot be helped by a pattern: the field is what is wrong.
        key="field" if paths.is_empty() else "pattern",
        without_path=without_path,
        examples=[str(path) for path in examples],
        every_frame=unmapped.height == frames.height,
    )


# A file uploaded through Label Studio's UI: /data/upload/<project id>/<8 hex>-<file name>.
# Its only folders are Label Studio's own, so no pattern finds a task or an episode in them.
UPLOAD_PATH = r"(?:^|/)data/upload/\d+/[^/]*$"


def _example(mapped: pl.DataFrame, row: dict[str, object]) -> EpisodeExample:
    task, episode = str(row["task_subdir"]), str(row["episode"])
    paths = mapped.filter((pl.col("task_subdir") == task) & (pl.col("episode") == episode))
    return EpisodeExample(
        task_subdir=task,
        episode=episode,
        frames=paths.height,
        path=str(paths["path"].drop_nulls().min() or ""),
    )


# Below these, one big episode or one-frame episodes are as likely a young project as a bad
# pattern: no warning.
DOMINANT_MIN_EPISODES = 3
SINGLE_FRAME_MIN_EPISODES = 10
# Paths looked at for uploads before all are: a report is made on every change, and a regex
# over every path of a big store is not free. Uploads rarer than this go unnamed.
_UPLOAD_SAMPLE = 10_000


def _uploads(mapped: pl.DataFrame) -> pl.DataFrame:
    paths = mapped["path"]
    sample = paths.gather_every(max(1, paths.len() // _UPLOAD_SAMPLE))
    if not sample.str.contains(UPLOAD_PATH).any():
        return mapped.clear()
    return mapped.filter(pl.col("path").str.contains(UPLOAD_PATH))


def _mapping_shape(mapped: pl.DataFrame, episodes: pl.DataFrame) -> MappingShape:
    """§2 as it came out: signs that the pattern maps nonsense (docs/semantics.md §2)."""
    if episodes.is_empty():
        return MappingShape()
    uploads = _uploads(mapped)
    upload = uploads.sort("path").row(0, named=True) if uploads.height else None
    dominant = None
    most = int(episodes.select(pl.col("frames").max()).item())
    if episodes.height >= DOMINANT_MIN_EPISODES and 2 * most > mapped.height:
        # more than half the frames: only one episode can hold that many
        largest = episodes.filter(pl.col("frames") == most).row(0, named=True)
        dominant = _example(mapped, largest)
    single = None
    if episodes.height >= SINGLE_FRAME_MIN_EPISODES and most == 1:
        single = _example(mapped, episodes.row(0, named=True))
    return MappingShape(
        upload_frames=uploads.height,
        upload_example=_example(mapped, upload) if upload else None,
        dominant=dominant,
        single_frame=single,
    )


def _task_stats(episodes: pl.DataFrame) -> list[TaskStats]:
    rows = (
        episodes.group_by("task_subdir")
        .agg(
            episodes=pl.len(),
            harvested=pl.col("harvested").sum(),
            delta=pl.col("in_delta").sum(),
            corrected=pl.col("corrected").filter(pl.col("harvested")).sum(),
        )
        .sort("task_subdir")
        .rows(named=True)
    )
    return [
        TaskStats(
            task_subdir=row["task_subdir"],
            episodes=int(row["episodes"]),
            harvested=int(row["harvested"]),
            in_progress=int(row["episodes"]) - int(row["harvested"]),
            delta=int(row["delta"]),
            corrected_frames=int(row["corrected"] or 0),
            cpe=int(row["corrected"] or 0) / int(row["harvested"]) if row["harvested"] else None,
        )
        for row in rows
    ]


# ---------------------------------------------------------------- §4 delta


@dataclass(frozen=True)
class _Delta:
    corpus: int
    delta: int
    needed: int
    fraction: float | None
    gate: Gate


def _delta_gate(episodes: pl.DataFrame, config: Config, human: HumanState) -> _Delta:
    gates = config.gates
    corpus = gates.initial_corpus_episodes + len(set(human.approved_episodes))
    delta = int(episodes["in_delta"].sum())
    if corpus == 0:
        needed = gates.min_first_train_episodes
        fraction = None
        detail = f"need {plural(needed, 'episode')} for a first training, have {delta:,}"
    else:
        needed = ceil_fraction(gates.min_delta_fraction, corpus)
        fraction = delta / corpus
        detail = (
            f"need {percent(gates.min_delta_fraction)} delta, "
            f"have {percent(Fraction(delta, corpus))} ({delta}/{corpus} episodes)"
        )
    gate = Gate(name="delta", passed=delta >= needed, value=delta, threshold=needed, detail=detail)
    return _Delta(corpus, delta, needed, fraction, gate)


# ---------------------------------------------------------------- §5 spread


@dataclass(frozen=True)
class _Spread:
    tasks: list[str]
    counts: dict[str, int]
    gini: float
    share: float
    top: str | None
    share_fails: bool
    gate: Gate


def _spread_tasks(episodes: pl.DataFrame, config: Config) -> list[str]:
    if config.gates.tasks is not None:
        return list(dict.fromkeys(config.gates.tasks))
    # Tasks whose episodes are all harvested and approved have retired: they drop out so they
    # cannot hold the gate shut forever.
    flowing = episodes.filter(pl.col("in_delta") | ~pl.col("harvested"))
    return sorted(flowing["task_subdir"].unique().to_list())


def _task_counts(episodes: pl.DataFrame, tasks: list[str]) -> dict[str, int]:
    per_task = episodes.filter(pl.col("in_delta")).group_by("task_subdir").agg(n=pl.len()).rows()
    found = {task: int(n) for task, n in per_task}
    return {task: found.get(task, 0) for task in tasks}


def _spread_detail(
    tasks: list[str], gini: Fraction, share: Fraction, top: str | None, config: Config
) -> str:
    limits = f"(max {_num(config.gates.max_task_gini)})"
    if len(tasks) < 2:
        which = f"only {tasks[0]}" if tasks else "no task"
        return f"{which} has work, so there is nothing to spread over"
    text = f"Gini {_num(float(gini))} over {len(tasks)} tasks {limits}"
    if top is not None:
        text += (
            f"; {top} has {percent(share, up=True)} of the delta "
            f"(max {percent(config.gates.max_task_share)})"
        )
    return text


def _spread_gate(episodes: pl.DataFrame, delta: int, config: Config) -> _Spread:
    tasks = _spread_tasks(episodes, config)
    counts = _task_counts(episodes, tasks)
    gini = gini_fraction(list(counts.values()))
    # Ties go to the first name so the named task does not flicker between runs.
    top = min(counts, key=lambda task: (-counts[task], task)) if counts else None
    share = Fraction(counts[top], delta) if top is not None and delta else Fraction(0)
    if not share:
        top = None
    several = len(tasks) >= 2
    gini_fails = several and gini > as_fraction(config.gates.max_task_gini)
    share_fails = several and share > as_fraction(config.gates.max_task_share)
    gate = Gate(
        name="spread",
        passed=not (gini_fails or share_fails),
        value=float(gini),
        threshold=config.gates.max_task_gini,
        detail=_spread_detail(tasks, gini, share, top, config),
    )
    return _Spread(tasks, counts, float(gini), float(share), top, share_fails, gate)


def _spread_reason(spread: _Spread, config: Config) -> str:
    head = "corrections concentrated in too few tasks"
    if spread.share_fails:
        return f"{head}: {spread.top} has {percent(spread.share, up=True)} of the delta"
    return (
        f"{head}: Gini {_num(spread.gini)} over {len(spread.tasks)} tasks "
        f"(max {_num(config.gates.max_task_gini)}), most in {spread.top} "
        f"({percent(spread.share)} of the delta)"
    )


# ---------------------------------------------------------------- §6 eval


def _eval_status(config: Config, human: HumanState, eval_hash: str | None) -> EvalStatus:
    pin = human.pin
    pinned_hash = pin.hash if pin else None
    if eval_hash is None:
        status = "missing"
    elif pinned_hash is None:
        status = "unpinned"
    elif eval_hash == pinned_hash:
        status = "pinned"
    else:
        status = "drifted"
    return EvalStatus(
        status=status,
        current_hash=eval_hash,
        pinned_hash=pinned_hash,
        pinned_by=pin.by if pin else None,
        pinned_at=pin.at if pin else None,
        path=str(config.paths.eval_set),
    )


def _eval_gate(status: EvalStatus) -> Gate:
    details = {
        "pinned": "the eval set matches its pin",
        "unpinned": "eval set not pinned yet, pin it before retraining",
        "drifted": "eval set drifted, pin it before retraining",
        "missing": f"eval set missing at {status.path}",
    }
    if status.current_hash == EMPTY_HASH:
        # "pin it" would be refused (evalset.empty_pin_refusal): §8's words, then what a pin
        # needs first.
        details["unpinned"] += (
            f" (the eval set at {status.path} is empty: put its files there first)"
        )
        details["drifted"] += (
            f" (the eval set at {status.path} is empty now: restore its files, or fill it and "
            "pin it again)"
        )
    return Gate(
        name="eval",
        passed=status.status == "pinned",
        value=status.status,
        threshold="pinned",
        detail=details[status.status],
    )


# ---------------------------------------------------------------- §7 releases


def _release_stats(episodes: pl.DataFrame, order: pl.DataFrame) -> list[ReleaseStats]:
    per_release = {
        release: (int(n), int(corrected))
        for release, n, corrected in episodes.filter(
            pl.col("harvested") & pl.col("release").is_not_null()
        )
        .group_by("release")
        .agg(n=pl.len(), corrected=pl.col("corrected").sum())
        .rows()
    }
    stats = []
    for release, first_seen in order.select("release", "first_seen").rows():
        n, corrected = per_release.get(release, (0, 0))
        stats.append(
            ReleaseStats(
                model_version=release,
                episodes=n,
                corrected_frames=corrected,
                cpe=corrected / n if n else None,
                first_seen=first_seen,
            )
        )
    return stats


def _per_episode_corrections(episodes: pl.DataFrame, release: str) -> list[int]:
    harvested = episodes.filter(pl.col("harvested") & (pl.col("release") == release))
    return [int(x) for x in harvested["corrected"].to_list()]


def _is_worse(current: ReleaseStats, previous: ReleaseStats, tolerance: float) -> bool:
    """cpe(current) > cpe(previous) × (1 + tolerance), exactly: 25% worse is not > 25%."""
    cur = Fraction(current.corrected_frames, current.episodes)
    prev = Fraction(previous.corrected_frames, previous.episodes)
    return cur > prev * (1 + as_fraction(tolerance))


_State = Literal["regression", "no_regression", "insufficient_data", "fewer_than_two_releases"]


@dataclass(frozen=True)
class _Statistics:
    state: _State
    p_value: float | None
    detail: str


def _compare_text(previous: str, current: str, prev_cpe: float, cur_cpe: float) -> str:
    return (
        f"{current} needs {_num(cur_cpe)} corrections per episode "
        f"against {_num(prev_cpe)} for {previous}"
    )


def _statistics(
    episodes: pl.DataFrame, previous: ReleaseStats, current: ReleaseStats, config: Config
) -> _Statistics:
    rc = config.regression
    if min(previous.episodes, current.episodes) < rc.min_episodes:
        return _Statistics(
            "insufficient_data",
            None,
            f"insufficient data: {current.model_version} has "
            f"{plural(current.episodes, 'harvested episode')} and {previous.model_version} "
            f"has {previous.episodes:,}; need {rc.min_episodes:,} each",
        )
    p = mann_whitney_greater(
        _per_episode_corrections(episodes, current.model_version),
        _per_episode_corrections(episodes, previous.model_version),
    )
    compare = _compare_text(
        previous.model_version, current.model_version, previous.cpe or 0.0, current.cpe or 0.0
    )
    worse = _is_worse(current, previous, rc.tolerance)
    if worse and p < rc.alpha:
        return _Statistics("regression", p, f"{compare} (p = {p:.2g})")
    if not worse:
        why = f"not more than {percent(rc.tolerance)} worse"
    else:
        why = f"could be noise (p = {p:.2g}, needs < {rc.alpha:g})"
    return _Statistics("no_regression", p, f"{compare}: {why}")


def _newest_report(human: HumanState) -> RegressionReport | None:
    return max(human.open_reports, key=lambda r: r.seq, default=None)


def _report_text(report: RegressionReport) -> str:
    return f"regression reported by {report.by}" + (f": {report.note}" if report.note else "")


def _ack(human: HumanState, key: str | None, alert_ends: Mapping[str, str]) -> Ack | None:
    # The ledger lists acks in the order they were made: the last one is the current one.
    matching = [ack for ack in human.acks if key is not None and ack.alert_key == key]
    if not matching or key is None:
        return None
    # An alert seen to end after this ack and raised again is a new alert (alerts.py).
    return None if ended_after(matching[-1].at, alert_ends.get(key)) else matching[-1]


def _regression_detail(stats: _Statistics, ended: bool, report: RegressionReport | None) -> str:
    detail = stats.detail
    if ended:
        detail += "; an approval ended this alert, so it is not raised again for this pair"
    if report is not None:
        detail += f"; {_report_text(report)}"
    return detail


def _regression(
    episodes: pl.DataFrame,
    releases: list[ReleaseStats],
    config: Config,
    human: HumanState,
    alert_ends: Mapping[str, str],
) -> Regression:
    previous = releases[-2] if len(releases) >= 2 else None
    current = releases[-1] if releases else None
    stats_key = None
    if previous is None or current is None:
        so_far = f"only {current.model_version} so far" if current else "no release so far"
        stats = _Statistics(
            "fewer_than_two_releases",
            None,
            f"{NOT_APPLICABLE}: the newest release is compared with the one before it, "
            f"and there is {so_far}",
        )
    else:
        stats = _statistics(episodes, previous, current, config)
        stats_key = f"statistics:{previous.model_version}->{current.model_version}"
    ended = stats.state == "regression" and stats_key in human.ended_alert_keys
    stats_active = stats.state == "regression" and not ended
    report = _newest_report(human)
    report_key = f"report:{report.seq}" if report else None
    key = stats_key if stats_active else report_key
    # Acknowledged only when every open alert is: a report filed after the statistical alert
    # was acknowledged is news nobody has seen yet.
    open_keys = [stats_key] if stats_active else []
    open_keys += [f"report:{r.seq}" for r in human.open_reports]
    ack = _ack(human, key, alert_ends)
    if any(_ack(human, other, alert_ends) is None for other in open_keys):
        ack = None
    return Regression(
        active=key is not None,
        source="statistics" if stats_active else ("report" if report else None),
        previous=previous.model_version if previous else None,
        current=current.model_version if current else None,
        p_value=stats.p_value,
        acknowledged_by=ack.by if ack else None,
        acknowledged_at=ack.at if ack else None,
        state=stats.state,
        detail=_regression_detail(stats, ended, report),
        alert_key=key,
        reported_by=report.by if report else None,
        report_note=report.note if report else None,
        previous_cpe=previous.cpe if previous else None,
        current_cpe=current.cpe if current else None,
    )


def open_alert_keys(of: Report | Regression, human: HumanState) -> list[str]:
    """Every alert open now: the statistical one and each manual report (of a report, or of
    its regression while the report is being made). The one definition: the figures, the
    decisions, the live events and the notifications all use it."""
    regression = of.regression if isinstance(of, Report) else of
    keys: list[str] = []
    if regression.active and regression.source == "statistics" and regression.alert_key:
        keys.append(regression.alert_key)
    keys.extend(f"report:{r.seq}" for r in human.open_reports)
    return keys


def delta_key(pairs: list[tuple[str, str]]) -> str:
    """A fingerprint of the set of delta episodes: a decline holds while it is the same."""
    digest = hashlib.sha256()
    for task_subdir, episode in sorted(pairs):
        digest.update(f"{task_subdir}\0{episode}\n".encode())
    return f"{len(pairs)}:{digest.hexdigest()[:16]}"


def _declined(human: HumanState, key: str, alert_keys: list[str]) -> Declined | None:
    last = human.last_decline
    if last is None or last.delta_key != key or sorted(last.alert_keys) != sorted(alert_keys):
        return None
    return Declined(seq=last.seq, by=last.by, at=last.at, note=last.note)


def _regression_gate(regression: Regression, config: Config) -> Gate:
    # Too few episodes to compare is not "no regression" (docs/semantics.md §7), and neither
    # is having no two releases to compare: both are null, never a pass. A report still alerts.
    unjudged = (
        regression.state in ("insufficient_data", "fewer_than_two_releases")
        and not regression.active
    )
    return Gate(
        name="regression",
        passed=None if unjudged else not regression.active,
        value=regression.p_value,
        threshold=config.regression.alpha,
        detail=regression.detail,
    )


# ---------------------------------------------------------------- backlog


def _backlog(episodes: pl.DataFrame, releases: list[ReleaseStats]) -> Backlog | None:
    if not releases:
        return None
    newest = releases[-1].model_version
    waiting = episodes.filter(~pl.col("harvested") & (pl.col("release") == newest))
    return Backlog(
        release=newest, episodes=waiting.height, frames=int(waiting["open_frames"].sum())
    )


# ---------------------------------------------------------------- §8 decision


_Decision = Literal["READY", "WAIT", "REGRESSION"]


def _regression_reason(regression: Regression, human: HumanState) -> str:
    if regression.source == "statistics":
        compare = _compare_text(
            regression.previous or "",
            regression.current or "",
            regression.previous_cpe or 0.0,
            regression.current_cpe or 0.0,
        )
        return f"regression: {compare}"
    report = _newest_report(human)
    return _report_text(report) if report else "regression reported"


def _decide(
    regression: Regression,
    delta: _Delta,
    spread: _Spread,
    eval_gate: Gate,
    config: Config,
    human: HumanState,
) -> tuple[_Decision, str]:
    """The first rule that applies decides (§8); the gates are all reported regardless."""
    if regression.active:
        return "REGRESSION", _regression_reason(regression, human)
    if not delta.gate.passed:
        return "WAIT", delta.gate.detail
    if not spread.gate.passed:
        return "WAIT", _spread_reason(spread, config)
    if not eval_gate.passed:
        return "WAIT", eval_gate.detail
    return "READY", "ready"


# ---------------------------------------------------------------- entry point


def evaluate(
    frames: pl.DataFrame,
    config: Config,
    human: HumanState,
    eval_hash: str | None,
    alert_ends: Mapping[str, str] | None = None,
) -> Report:
    """The gates and the decision for `frames` (FRAME_SCHEMA, one merged row per frame).
    `alert_ends`: when acknowledged statistical alerts were seen to end (alerts.py)."""
    mapped = _mapped(frames)
    order = _release_order(mapped)
    episodes = _episode_table(mapped, config, human, order)
    delta = _delta_gate(episodes, config, human)
    spread = _spread_gate(episodes, delta.delta, config)
    eval_status = _eval_status(config, human, eval_hash)
    eval_gate = _eval_gate(eval_status)
    releases = _release_stats(episodes, order)
    regression = _regression(episodes, releases, config, human, alert_ends or {})
    decision, reason = _decide(regression, delta, spread, eval_gate, config, human)
    in_delta = episodes.filter(pl.col("in_delta")).select(EPISODE_KEY).rows()
    declined = _declined(human, delta_key(in_delta), open_alert_keys(regression, human))
    return Report(
        ready=decision != "WAIT",
        reason=reason,
        corpus_episodes=delta.corpus,
        delta_episodes=delta.delta,
        needed_episodes=delta.needed,
        delta_fraction=delta.fraction,
        task_counts=spread.counts,
        task_gini=spread.gini,
        top_task_share=spread.share,
        eval=eval_status,
        releases=releases,
        regression=regression,
        frames=_frame_counts(frames, mapped),
        episodes=EpisodeCounts(total=episodes.height, harvested=int(episodes["harvested"].sum())),
        gates=[delta.gate, spread.gate, eval_gate, _regression_gate(regression, config)],
        decision=decision,
        top_task=spread.top,
        spread_tasks=spread.tasks,
        backlog=_backlog(episodes, releases),
        approvals=human.approvals,
        last_approval_at=human.last_approval_at,
        declined=declined,
        pending_approval=human.pending_request,
        unmapped=_unmapped(frames),
        mapping=_mapping_shape(mapped, episodes),
        tasks=_task_stats(episodes),
    )


def delta_episodes(frames: pl.DataFrame, config: Config, human: HumanState) -> pl.DataFrame:
    """The training slice an approval now would record: the delta episodes with their frames,
    corrected frames and release (task_subdir, episode, frames, corrected_frames, release)."""
    mapped = _mapped(frames)
    episodes = _episode_table(mapped, config, human, _release_order(mapped))
    return episodes.filter(pl.col("in_delta")).select(
        *EPISODE_KEY, "frames", pl.col("corrected").alias("corrected_frames"), "release"
    )
