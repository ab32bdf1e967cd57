"""§4-§8 on tiny hand-built frame tables; each expected figure is worked out in a comment."""

from __future__ import annotations

from typing import Any

import pytest

from retrain_gate.config import Config
from retrain_gate.evalset import EMPTY_HASH
from retrain_gate.metrics import evaluate
from retrain_gate.models import Ack, Gate, HumanState, Pin, RegressionReport, Report
from tests.framekit import delta_episodes, episode, frame, frames_table

OLD = "2024-01-01T00:00:00Z"
NEW = "2024-02-01T00:00:00Z"
PIN = Pin(hash="h1", by="ana", at="2024-05-01T10:00:00Z", kind="pin")


def cfg(**sections: Any) -> Config:
    return Config.model_validate(sections)


def run(
    rows: list[dict[str, Any]],
    config: Config | None = None,
    human: HumanState | None = None,
    eval_hash: str | None = "h1",
) -> Report:
    """Evaluate with the eval set pinned, unless a test says otherwise."""
    human = human if human is not None else HumanState(pin=PIN)
    return evaluate(frames_table(rows), config or Config(), human, eval_hash)


def gate(report: Report, name: str) -> Gate:
    return next(g for g in report.gates if g.name == name)


def first_train(n: int, **gates: Any) -> Config:
    """corpus 0 and a first training at `n` episodes: keeps the delta gate out of the way."""
    return cfg(gates={"min_first_train_episodes": n, **gates})


# ---------------------------------------------------------------- frames and episodes


def test_empty_store_waits_for_a_first_training() -> None:
    report = run([])
    assert (report.decision, report.ready) == ("WAIT", False)
    assert report.reason == "need 20 episodes for a first training, have 0"
    assert report.frames.total == 0
    assert report.episodes.total == 0
    assert report.releases == []
    assert report.regression.state == "fewer_than_two_releases"
    assert report.backlog is None


def test_one_release_leaves_the_regression_gate_not_applicable_not_passed() -> None:
    report = run(episode("pick", "e1", release="v1"))
    assert report.regression.state == "fewer_than_two_releases"
    regression = gate(report, "regression")
    assert regression.passed is None
    assert regression.detail == (
        "not applicable yet: the newest release is compared with the one before it, "
        "and there is only v1 so far"
    )
    # a report by hand still alerts without two releases
    reported = HumanState(
        pin=PIN, open_reports=[RegressionReport(seq=1, by="dee", at=NEW, note="drift")]
    )
    assert (
        gate(run(episode("pick", "e1", release="v1"), human=reported), "regression").passed is False
    )


def test_unmapped_frames_count_only_in_total_and_unmapped() -> None:
    rows = [
        frame("pick", "e1", corrected=True, release="v1"),
        frame(None, None, corrected=True, release="ghost", correction_unknown=True),
        frame(None, None, has_source=True),  # reviewed from a prediction known by id only
        frame(None, None, "skipped"),
    ]
    report = run(rows)
    assert report.frames.model_dump() == {
        "total": 4,
        "reviewed": 1,
        "skipped": 0,
        "corrected": 1,
        "unmapped": 3,
        "correction_unknown": 0,
        "release_unknown": 0,  # the unmapped frame's unknown release is not counted either
    }
    assert report.episodes.total == 1
    assert [r.model_version for r in report.releases] == ["v1"]


def test_skipped_frames_make_an_episode_harvested_and_open_ones_do_not() -> None:
    rows = [
        # pick/e1: reviewed + skipped -> every frame done -> harvested
        frame("pick", "e1"),
        frame("pick", "e1", "skipped"),
        # pick/e2: reviewed + open -> not harvested
        frame("pick", "e2"),
        frame("pick", "e2", "open"),
    ]
    report = run(rows)
    assert report.frames.reviewed == 2
    assert report.frames.skipped == 1
    assert report.episodes.model_dump() == {"total": 2, "harvested": 1}
    assert report.delta_episodes == 1


def test_frames_field_makes_an_episode_wait_for_unexported_frames() -> None:
    # e1: 3 frames exported, all done, but the largest declared count is 5 -> 3 < 5, waits.
    short = [frame("pick", "e1", episode_frames=n) for n in (4, 5, None)]
    # e2: 4 done + 1 open, declares 4 -> 4 done >= 4, harvested despite the open frame.
    enough = [frame("pick", "e2", episode_frames=4) for _ in range(4)]
    enough.append(frame("pick", "e2", "open", episode_frames=4))
    # e3: declares nothing: every known frame done -> harvested.
    plain = [frame("pick", "e3")]
    # e4: 2 frames done of 3 declared -> waits.
    partial = [frame("pick", "e4", episode_frames=3) for _ in range(2)]
    rows = short + enough + plain + partial

    with_field = run(rows, cfg(episodes={"frames_field": "n_frames"}))
    assert with_field.episodes.harvested == 2  # e2, e3
    # Without frames_field in the config the stored counts are ignored: e2 has an open frame.
    without = run(rows)
    assert without.episodes.harvested == 3  # e1, e3, e4


# ---------------------------------------------------------------- §4 delta


def test_delta_needs_ceil_of_fraction_of_corpus_without_float_error() -> None:
    config = cfg(gates={"initial_corpus_episodes": 30})
    # needed = ceil(0.10 × 30) = 3
    passing = run(delta_episodes({"a": 2, "b": 1}), config)
    assert passing.needed_episodes == 3
    assert passing.delta_fraction == pytest.approx(3 / 30)
    assert gate(passing, "delta").passed
    failing = run(delta_episodes({"a": 1, "b": 1}), config)
    assert not gate(failing, "delta").passed
    # 2/30 = 6.67%, shown rounded down so it never looks like it met 10%
    assert failing.reason == "need 10% delta, have 6.6% (2/30 episodes)"


def test_delta_reason_reads_like_the_semantics_example() -> None:
    # 31 delta episodes over a corpus of 500: 31/500 = 6.2%, needs ceil(50) = 50
    report = run(delta_episodes({"a": 16, "b": 15}), cfg(gates={"initial_corpus_episodes": 500}))
    assert report.reason == "need 10% delta, have 6.2% (31/500 episodes)"
    assert (report.delta_episodes, report.needed_episodes) == (31, 50)
    assert report.delta_fraction == pytest.approx(0.062)


def test_corpus_zero_uses_min_first_train_episodes() -> None:
    report = run(delta_episodes({"a": 4, "b": 3}))
    assert report.corpus_episodes == 0
    assert report.delta_fraction is None
    assert report.needed_episodes == 20
    assert report.reason == "need 20 episodes for a first training, have 7"
    assert gate(run(delta_episodes({"a": 4, "b": 3}), first_train(7)), "delta").passed


def test_approved_episodes_join_the_corpus_and_leave_the_delta() -> None:
    rows = delta_episodes({"a": 3, "b": 2})  # a/ep0..ep2, b/ep0..ep1, all harvested
    human = HumanState(pin=PIN, approved_episodes=[("a", "ep0"), ("a", "ep1"), ("x", "gone")])
    report = run(rows, cfg(gates={"initial_corpus_episodes": 10}), human)
    # corpus = 10 + 3 approved (one no longer in the store still counts); delta = 5 - 2 = 3
    assert report.corpus_episodes == 13
    assert report.delta_episodes == 3
    assert report.needed_episodes == 2  # ceil(1.3)


# ---------------------------------------------------------------- §5 spread


def test_two_tasks_only_the_share_test_can_fail() -> None:
    # {a: 9, b: 1}: Gini = 2·8 / (2·4·5) = 0.4 <= 0.5, share 9/10 = 0.9 > 0.8 -> fails
    report = run(delta_episodes({"a": 9, "b": 1}), first_train(10))
    assert report.task_gini == pytest.approx(0.4)
    assert report.top_task_share == pytest.approx(0.9)
    assert not gate(report, "spread").passed
    assert report.reason == "corrections concentrated in too few tasks: a has 90% of the delta"
    # {a: 10, b: 0}: the most unequal two tasks can be is Gini 0.5, which is not > 0.5
    extreme = run(delta_episodes({"a": 10}) + episode("b", "open", status="open"), first_train(10))
    assert extreme.task_counts == {"a": 10, "b": 0}
    assert extreme.task_gini == 0.5
    assert extreme.reason == "corrections concentrated in too few tasks: a has 100% of the delta"


def test_share_exactly_at_the_limit_passes() -> None:
    # {a: 4, b: 1}: share 4/5 = 0.8, not > 0.8; Gini 2·3/(2·4·2.5) = 0.3
    report = run(delta_episodes({"a": 4, "b": 1}), first_train(5))
    assert gate(report, "spread").passed
    assert report.decision == "READY"


def test_small_delta_over_many_tasks_has_high_gini_by_construction() -> None:
    tasks = [f"t{i}" for i in range(10)]
    # 3 episodes in t0..t2, none in t3..t9: Gini 0.7 > 0.5 while the top share is only 1/3
    config = first_train(3, tasks=tasks)
    report = run(delta_episodes({"t0": 1, "t1": 1, "t2": 1}), config)
    assert report.task_gini == pytest.approx(0.7)
    assert report.top_task_share == pytest.approx(1 / 3)
    assert report.top_task == "t0"  # ties go to the first name
    assert not gate(report, "spread").passed
    assert report.reason == (
        "corrections concentrated in too few tasks: Gini 0.7 over 10 tasks (max 0.5), "
        "most in t0 (33.3% of the delta)"
    )


def test_retired_tasks_drop_out_of_the_spread() -> None:
    rows = (
        delta_episodes({"old": 2})  # harvested and approved below: retired
        + episode("cur", "e1")  # in the delta
        + episode("cur", "e2")
        + episode("new", "e1", status="open")  # not harvested yet: still has work
    )
    human = HumanState(pin=PIN, approved_episodes=[("old", "ep0"), ("old", "ep1")])
    report = run(rows, first_train(1), human)
    assert report.spread_tasks == ["cur", "new"]
    assert report.task_counts == {"cur": 2, "new": 0}
    # [2, 0]: Gini 0.5 (not > 0.5) but share 2/2 = 1.0 > 0.8
    assert report.top_task == "cur"
    assert not gate(report, "spread").passed


def test_declared_tasks_count_zeros_and_ignore_undeclared_delta() -> None:
    rows = delta_episodes({"a": 1, "x": 1})
    report = run(rows, first_train(2, tasks=["a", "b", "c"]))
    assert report.delta_episodes == 2
    # x is in the delta but counted nowhere; b and c count as zeros
    assert report.task_counts == {"a": 1, "b": 0, "c": 0}
    # [1, 0, 0]: pairs (1,0) ×2 each ×2 = 4; 2·9·(1/3) = 6 -> 2/3; share = 1 / delta 2
    assert report.task_gini == pytest.approx(2 / 3)
    assert report.top_task_share == pytest.approx(0.5)


def test_fewer_than_two_tasks_passes_and_says_why() -> None:
    report = run(delta_episodes({"pick": 5}), first_train(5))
    spread = gate(report, "spread")
    assert spread.passed
    assert spread.detail == "only pick has work, so there is nothing to spread over"
    assert report.top_task_share == 1.0  # reported, even though it cannot fail the gate
    assert report.decision == "READY"


# ---------------------------------------------------------------- §6 eval


@pytest.mark.parametrize(
    ("pin", "current", "status", "reason"),
    [
        (PIN, "h1", "pinned", "ready"),
        (PIN, "h2", "drifted", "eval set drifted, pin it before retraining"),
        (None, "h2", "unpinned", "eval set not pinned yet, pin it before retraining"),
        (PIN, None, "missing", "eval set missing at /data/eval"),
        # an empty eval set cannot be pinned: the reason says what can
        (
            None,
            EMPTY_HASH,
            "unpinned",
            "eval set not pinned yet, pin it before retraining "
            "(the eval set at /data/eval is empty: put its files there first)",
        ),
        (
            PIN,
            EMPTY_HASH,
            "drifted",
            "eval set drifted, pin it before retraining (the eval set at /data/eval is empty "
            "now: restore its files, or fill it and pin it again)",
        ),
    ],
)
def test_eval_status(pin: Pin | None, current: str | None, status: str, reason: str) -> None:
    config = cfg(gates={"min_first_train_episodes": 2}, paths={"eval_set": "/data/eval"})
    report = run(delta_episodes({"a": 1, "b": 1}), config, HumanState(pin=pin), current)
    assert report.eval.status == status
    assert report.eval.current_hash == current
    assert report.eval.pinned_hash == (pin.hash if pin else None)
    assert report.eval.pinned_by == (pin.by if pin else None)
    assert gate(report, "eval").passed is (status == "pinned")
    assert report.reason == reason


# ---------------------------------------------------------------- §7 releases


def test_release_order_by_first_created_at_then_no_date_last_then_name() -> None:
    rows = [
        frame("t", "e1", release="late", created_at="2024-03-01T00:00:00Z"),
        frame("t", "e2", release="early", created_at="2024-02-01T00:00:00Z"),
        # "late" was also seen earlier than "early": its first sighting is what counts
        frame("t", "e3", release="late", created_at="2024-01-15T00:00:00Z"),
        frame("t", "e4", release="zeta", created_at=None),
        frame("t", "e5", release="alpha", created_at=None),
        frame("t", "e6", release="r2", created_at="2024-04-01T00:00:00Z"),
        frame("t", "e7", release="r1", created_at="2024-04-01T00:00:00Z"),
    ]
    report = run(rows)
    assert [r.model_version for r in report.releases] == [
        "late",  # 2024-01-15
        "early",  # 2024-02-01
        "r1",  # 2024-04-01, tie broken by name
        "r2",
        "alpha",  # no created_at: after every dated release, by name
        "zeta",
    ]
    assert report.releases[0].first_seen == "2024-01-15T00:00:00Z"
    assert (report.regression.previous, report.regression.current) == ("alpha", "zeta")


def test_episode_release_is_the_most_common_with_ties_to_the_later() -> None:
    old, new = "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"
    rows = [
        # e1: one v1, one v2 -> tie -> v2, the later release
        frame("t", "e1", release="v1", created_at=old),
        frame("t", "e1", release="v2", created_at=new, corrected=True),
        # e2: two v1, one v2 -> v1 wins on count although v2 is later
        frame("t", "e2", release="v1", created_at=old),
        frame("t", "e2", release="v1", created_at=old),
        frame("t", "e2", release="v2", created_at=new, corrected=True),
        # e3: no release at all (labeled from scratch): in no release
        frame("t", "e3"),
    ]
    report = run(rows)
    stats = {r.model_version: (r.episodes, r.corrected_frames, r.cpe) for r in report.releases}
    # v1: e2 with 1 corrected frame; v2: e1 with 1 corrected frame
    assert stats == {"v1": (1, 1, 1.0), "v2": (1, 1, 1.0)}


def test_episode_release_tie_follows_release_order_not_names() -> None:
    # "b" is older than "a" here, so the tie goes to "a" (later in release order)
    rows = [
        frame("t", "e1", release="b", created_at="2024-01-01T00:00:00Z"),
        frame("t", "e1", release="a", created_at="2024-02-01T00:00:00Z"),
    ]
    report = run(rows)
    assert [(r.model_version, r.episodes) for r in report.releases] == [("b", 0), ("a", 1)]


def test_release_stats_cover_harvested_episodes_including_approved() -> None:
    rows = (
        episode("t", "e1", frames=4, corrected=3, release="v1", created_at=OLD)
        + episode("t", "e2", frames=4, corrected=1, release="v1", created_at=OLD)
        # e3 is not harvested (one open frame): not in the release figures
        + episode("t", "e3", frames=2, corrected=2, release="v1", created_at=OLD)
        + [frame("t", "e3", "open", release="v1", created_at=OLD)]
        # v2 only has an unharvested episode: listed with no episodes and cpe null
        + [frame("t", "e4", "open", release="v2", created_at="2099-01-01T00:00:00Z")]
    )
    human = HumanState(pin=PIN, approved_episodes=[("t", "e1")])
    report = run(rows, human=human)
    v1, v2 = report.releases
    # v1: e1 (3) + e2 (1) = 4 corrected frames over 2 episodes -> cpe 2
    assert (v1.model_version, v1.episodes, v1.corrected_frames, v1.cpe) == ("v1", 2, 4, 2.0)
    assert (v2.model_version, v2.episodes, v2.corrected_frames, v2.cpe) == ("v2", 0, 0, None)


# ---------------------------------------------------------------- §7 regression


def release_rows(release: str, created_at: str, corrections: list[int]) -> list[dict[str, Any]]:
    """One harvested 8-frame episode per entry, with that many corrected frames."""
    rows: list[dict[str, Any]] = []
    for i, corrected in enumerate(corrections):
        rows += episode(
            "t",
            f"{release}-{i}",
            frames=8,
            corrected=corrected,
            release=release,
            created_at=created_at,
        )
    return rows


PREV_COUNTS = [0, 1, 1, 2, 0, 1, 2, 1, 0, 1]  # cpe 9/10 = 0.9
WORSE_COUNTS = [3, 4, 5, 3, 4, 6, 5, 4, 3, 5]  # cpe 42/10 = 4.2
# scipy.stats.mannwhitneyu(WORSE_COUNTS, PREV_COUNTS, alternative="greater",
#                          method="asymptotic").pvalue, scipy 1.17.1
WORSE_P = 7.381925187623e-05


def regressed_rows() -> list[dict[str, Any]]:
    return release_rows("v1", OLD, PREV_COUNTS) + release_rows("v2", NEW, WORSE_COUNTS)


def test_regression_detected_with_the_mann_whitney_p_value() -> None:
    report = run(regressed_rows())
    reg = report.regression
    assert (reg.active, reg.source, reg.state) == (True, "statistics", "regression")
    assert (reg.previous, reg.current) == ("v1", "v2")
    assert reg.p_value == pytest.approx(WORSE_P, rel=1e-12)
    assert reg.previous_cpe == pytest.approx(0.9)  # 9 corrected frames / 10 episodes
    assert reg.current_cpe == pytest.approx(4.2)  # 42 / 10
    assert reg.alert_key == "statistics:v1->v2"
    assert not gate(report, "regression").passed


def test_below_min_episodes_is_insufficient_data_not_fine() -> None:
    rows = release_rows("v1", OLD, PREV_COUNTS) + release_rows("v2", NEW, WORSE_COUNTS[:9])
    reg = run(rows).regression
    assert (reg.active, reg.state, reg.p_value) == (False, "insufficient_data", None)
    assert reg.detail.startswith("insufficient data: v2 has 9 harvested episodes")
    # not judged is not a pass: the gate says neither ok nor alert
    assert gate(run(rows), "regression").passed is None
    # lowering min_episodes to 9 makes the same data enough
    assert run(rows, cfg(regression={"min_episodes": 9})).regression.state == "regression"


def test_exactly_tolerance_worse_is_not_a_regression() -> None:
    # cpe 4 -> 5 is exactly 25% worse; p is tiny (every new episode beats every old one),
    # yet an effect of exactly the tolerance is not worth acting on.
    exact = run(release_rows("v1", OLD, [4] * 10) + release_rows("v2", NEW, [5] * 10))
    assert exact.regression.state == "no_regression"
    assert exact.regression.p_value == pytest.approx(7.968955844033122e-06, rel=1e-12)  # scipy
    # one more corrected frame: cpe 5.1 > 5.0
    more = run(release_rows("v1", OLD, [4] * 10) + release_rows("v2", NEW, [5] * 9 + [6]))
    assert more.regression.state == "regression"


def test_tolerance_comparison_is_exact_where_floats_are_not() -> None:
    # 20/11 × 1.25 = 25/11 exactly, but in floats 25/11 > (20/11) × 1.25
    assert 25 / 11 > (20 / 11) * 1.25
    lenient = cfg(regression={"alpha": 1.0, "min_episodes": 11})  # isolate the effect rule
    prev = [2] * 9 + [1, 1]  # 20 over 11
    assert (
        run(
            release_rows("v1", OLD, prev) + release_rows("v2", NEW, [2] * 8 + [3] * 3), lenient
        ).regression.state
        == "no_regression"
    )  # 25 over 11
    assert (
        run(
            release_rows("v1", OLD, prev) + release_rows("v2", NEW, [2] * 7 + [3] * 4), lenient
        ).regression.state
        == "regression"
    )  # 26 over 11


def test_a_big_but_noisy_increase_is_not_a_regression() -> None:
    # cpe 1.0 -> 1.4 (40% worse) comes from two outliers; most new episodes did better.
    rows = release_rows("v1", OLD, [1] * 10) + release_rows("v2", NEW, [0] * 8 + [7, 7])
    reg = run(rows).regression
    assert reg.state == "no_regression"
    assert reg.p_value is not None and reg.p_value > 0.5
    assert "could be noise" in reg.detail


def test_ended_alert_is_not_raised_again_for_the_pair() -> None:
    human = HumanState(pin=PIN, ended_alert_keys=["statistics:v1->v2"])
    report = run(regressed_rows(), human=human)
    assert report.regression.state == "regression"
    assert report.regression.active is False
    assert report.regression.alert_key is None
    assert "not raised again" in report.regression.detail
    # falls through to the gates: 20 delta episodes, one task, eval pinned
    assert (report.decision, report.reason) == ("READY", "ready")


def test_acknowledged_alert_stays_active_and_names_who_saw_it() -> None:
    acks = [
        Ack(alert_key="statistics:v0->v1", by="old", at="2024-01-01T00:00:00Z"),
        Ack(alert_key="statistics:v1->v2", by="bo", at="2024-03-01T00:00:00Z"),
        Ack(alert_key="statistics:v1->v2", by="cy", at="2024-03-02T00:00:00Z"),
    ]
    reg = run(regressed_rows(), human=HumanState(pin=PIN, acks=acks)).regression
    assert reg.active
    assert (reg.acknowledged_by, reg.acknowledged_at) == ("cy", "2024-03-02T00:00:00Z")


def test_a_report_raises_the_alert_whatever_the_statistics_say() -> None:
    reports = [
        RegressionReport(seq=3, by="old", at="2024-01-01T00:00:00Z", note="first"),
        RegressionReport(seq=7, by="dee", at="2024-02-01T00:00:00Z", note="boxes drift left"),
    ]
    acks = [
        Ack(alert_key="report:3", by="bo", at="2024-01-02T00:00:00Z"),
        Ack(alert_key="report:7", by="ana", at="2024-02-02T00:00:00Z"),
    ]
    human = HumanState(pin=PIN, open_reports=reports, acks=acks)
    report = run(delta_episodes({"a": 1}), human=human)
    reg = report.regression
    assert (reg.active, reg.source, reg.alert_key) == (True, "report", "report:7")
    assert (reg.reported_by, reg.report_note) == ("dee", "boxes drift left")
    assert reg.acknowledged_by == "ana"
    assert (report.decision, report.ready) == ("REGRESSION", True)
    assert report.reason == "regression reported by dee: boxes drift left"


def test_statistics_take_precedence_over_a_report_which_shows_in_the_detail() -> None:
    reports = [RegressionReport(seq=1, by="dee", at="2024-03-01T00:00:00Z", note="worse")]
    acks = [Ack(alert_key="report:1", by="ana", at="2024-03-02T00:00:00Z")]
    human = HumanState(pin=PIN, open_reports=reports, acks=acks)
    report = run(regressed_rows(), human=human)
    reg = report.regression
    assert (reg.source, reg.alert_key) == ("statistics", "statistics:v1->v2")
    assert reg.acknowledged_by is None  # the ack was for the report, not this alert
    assert "regression reported by dee: worse" in reg.detail
    assert report.reason == "regression: v2 needs 4.2 corrections per episode against 0.9 for v1"


def test_a_report_after_an_acknowledged_alert_is_not_acknowledged() -> None:
    """The statistical alert was acknowledged, then a labeler reported a regression: nobody
    has seen the report yet, so the alert does not read as acknowledged (walkthrough find)."""
    acked = Ack(alert_key="statistics:v1->v2", by="lee", at="2024-03-01T00:00:00Z")
    reports = [RegressionReport(seq=2, by="ana", at="2024-03-02T00:00:00Z", note="x")]
    reg = run(regressed_rows(), human=HumanState(pin=PIN, acks=[acked])).regression
    assert reg.acknowledged_by == "lee"
    human = HumanState(pin=PIN, acks=[acked], open_reports=reports)
    reg = run(regressed_rows(), human=human).regression
    assert (reg.alert_key, reg.acknowledged_by) == ("statistics:v1->v2", None)
    # once the report is acknowledged too, the alert reads as acknowledged again
    both = [acked, Ack(alert_key="report:2", by="kim", at="2024-03-03T00:00:00Z")]
    reg = run(
        regressed_rows(), human=HumanState(pin=PIN, acks=both, open_reports=reports)
    ).regression
    assert reg.acknowledged_by == "lee"


def test_an_older_report_nobody_acknowledged_keeps_the_alert_unacknowledged() -> None:
    reports = [
        RegressionReport(seq=3, by="old", at="2024-01-01T00:00:00Z", note="first"),
        RegressionReport(seq=7, by="dee", at="2024-02-01T00:00:00Z", note="second"),
    ]
    acks = [Ack(alert_key="report:7", by="ana", at="2024-02-02T00:00:00Z")]
    reg = run(delta_episodes({"a": 1}), human=HumanState(pin=PIN, open_reports=reports, acks=acks))
    assert (reg.regression.alert_key, reg.regression.acknowledged_by) == ("report:7", None)


# ---------------------------------------------------------------- §8 decision order


def test_decision_order() -> None:
    skewed = delta_episodes({"a": 9, "b": 1})  # spread fails on share
    drifted = "h2"
    # 1. an open alert beats every failing gate
    reports = [RegressionReport(seq=1, by="dee", at="t", note="")]
    first = run(skewed, human=HumanState(pin=PIN, open_reports=reports), eval_hash=drifted)
    assert (first.decision, first.reason) == ("REGRESSION", "regression reported by dee")
    assert not gate(first, "delta").passed  # still reported
    # 2. delta before spread and eval
    second = run(skewed, eval_hash=drifted)
    assert second.reason == "need 20 episodes for a first training, have 10"
    # 3. spread before eval
    third = run(skewed, first_train(10), eval_hash=drifted)
    assert third.reason == "corrections concentrated in too few tasks: a has 90% of the delta"
    # 4. eval last
    fourth = run(delta_episodes({"a": 5, "b": 5}), first_train(10), eval_hash=drifted)
    assert fourth.reason == "eval set drifted, pin it before retraining"
    # 5. everything passes
    fifth = run(delta_episodes({"a": 5, "b": 5}), first_train(10))
    assert (fifth.decision, fifth.ready, fifth.reason) == ("READY", True, "ready")
    # no release pre-annotated anything: the regression gate is not applicable yet (null)
    assert [g.passed for g in fifth.gates] == [True, True, True, None]
    assert [g.name for g in fifth.gates] == ["delta", "spread", "eval", "regression"]


# ---------------------------------------------------------------- backlog and extras


def test_backlog_counts_unharvested_episodes_of_the_newest_release() -> None:
    rows = (
        # v2 (newest): e1 has 2 open frames of 3; e2 is harvested -> not backlog
        [frame("t", "e1", release="v2", created_at=NEW)]
        + [frame("t", "e1", "open", release="v2", created_at=NEW) for _ in range(2)]
        + episode("t", "e2", release="v2", created_at=NEW)
        # v1 (older): its unharvested episode is not backlog of the newest release
        + [frame("t", "e3", "open", release="v1", created_at=OLD)]
    )
    report = run(rows)
    assert report.backlog is not None
    assert report.backlog.model_dump() == {"release": "v2", "episodes": 1, "frames": 2}


def test_backlog_counts_unexported_frames_when_the_episode_length_is_known() -> None:
    # declares 6 frames, 2 exported, 1 done -> 6 - 1 = 5 frames still to label
    rows = [
        frame("t", "e1", release="v1", episode_frames=6),
        frame("t", "e1", "open", release="v1", episode_frames=6),
    ]
    report = run(rows, cfg(episodes={"frames_field": "n"}))
    assert report.backlog is not None
    assert (report.backlog.episodes, report.backlog.frames) == (1, 5)


def test_approval_extras_are_passed_through() -> None:
    human = HumanState(pin=PIN, approvals=2, last_approval_at="2024-05-01T00:00:00Z")
    report = run([], human=human)
    assert (report.approvals, report.last_approval_at) == (2, "2024-05-01T00:00:00Z")


def test_one_harvested_episode_is_singular_in_the_insufficient_data_detail() -> None:
    rows = release_rows("v1", OLD, PREV_COUNTS) + release_rows("v2", NEW, [3])
    detail = run(rows).regression.detail
    assert detail.startswith("insufficient data: v2 has 1 harvested episode and v1 has 10;")


def test_per_task_table_counts_episodes_and_corrections_per_harvested_episode() -> None:
    rows = [
        # pick: e1 harvested (3 corrected of 4), e2 harvested (1 of 2), e3 in progress (its
        # corrected frame does not count: the episode is not harvested)
        *episode("pick", "e1", frames=4, corrected=3, release="v1"),
        *episode("pick", "e2", frames=2, corrected=1, release="v1"),
        frame("pick", "e3", corrected=True, release="v1"),
        frame("pick", "e3", "open"),
        # stack: one episode in progress, nothing harvested
        frame("stack", "e1", "open"),
    ]
    approved = HumanState(approved_episodes=[("pick", "e1")], approvals=1)
    tasks = {t.task_subdir: t for t in run(rows, human=approved).tasks}
    pick, stack = tasks["pick"], tasks["stack"]
    assert (pick.episodes, pick.harvested, pick.in_progress, pick.delta) == (3, 2, 1, 1)
    assert (pick.corrected_frames, pick.cpe) == (4, 2.0)  # (3 + 1) / 2 harvested episodes
    assert (stack.episodes, stack.harvested, stack.in_progress, stack.delta) == (1, 0, 1, 0)
    assert stack.cpe is None


def test_unmapped_frames_name_the_key_to_fix_with_example_paths() -> None:
    rows = [
        frame("pick", "e1"),
        frame(None, None, path="/calib/board_b.jpg"),
        frame(None, None, path="/calib/board_a.jpg"),
        frame(None, None, path="/calib/board_a.jpg"),  # the same path twice: shown once
        frame(None, None),  # no string under task.data[field]
    ]
    unmapped = run(rows).unmapped
    assert unmapped.model_dump() == {
        "key": "pattern",
        "without_path": 1,
        "examples": ["/calib/board_a.jpg", "/calib/board_b.jpg"],
        "every_frame": False,
    }
    # only frames without a path: the field is what is wrong, and with no mapped frame at all
    # it is a configuration error
    only_missing = run([frame(None, None), frame(None, None)]).unmapped
    assert (only_missing.key, only_missing.every_frame, only_missing.examples) == (
        "field",
        True,
        [],
    )
    assert run([frame("pick", "e1")]).unmapped.key is None


def test_release_unknown_counts_mapped_reviewed_frames_with_a_source_but_no_release() -> None:
    rows = [
        frame("pick", "e1", release="v1"),  # known release
        frame("pick", "e1", has_source=True),  # source known by id only: counted
        frame("pick", "e2"),  # labeled from scratch: no source, not counted
        frame("pick", "e2", "skipped", has_source=True),  # not reviewed: not counted
    ]
    assert run(rows).frames.release_unknown == 1
