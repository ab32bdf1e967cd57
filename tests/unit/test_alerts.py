"""§7: a statistical alert that ends and is raised again is a new alert; an old ack does not
silence it. `alerts.observe_ends` on hand-made reports, then the whole cycle through the
engine with real exports: raised, acknowledged, ended by new data, raised again."""

from __future__ import annotations

from pathlib import Path

from retrain_gate import alerts
from retrain_gate.decisions.actions import acknowledge
from retrain_gate.engine import Engine
from retrain_gate.models import Ack, HumanState, Report
from tests.lsbuild import ann, kp, pred, task, write_export
from tests.unit.test_actions import scanned_engine

KEY = "statistics:v1->v2"


def with_regression(report: Report, *, active: bool, key: str | None = KEY) -> Report:
    regression = report.regression.model_copy(
        update={"active": active, "alert_key": key if active else None}
    )
    return report.model_copy(update={"regression": regression})


def human(*acks: tuple[str, str]) -> HumanState:
    return HumanState(acks=[Ack(alert_key=k, by="kim", at=at) for k, at in acks])


def test_an_acknowledged_alert_still_active_records_nothing(tmp_path: Path) -> None:
    report = with_regression(cycle_engine(tmp_path).evaluate(), active=True)
    assert alerts.observe_ends(report, human((KEY, "2026-01-01T00:00:00Z")), {}, "T") is None


def test_an_acknowledged_alert_no_longer_active_is_seen_to_end(tmp_path: Path) -> None:
    report = with_regression(cycle_engine(tmp_path).evaluate(), active=False)
    ack = human((KEY, "2026-01-01T00:00:00Z"))
    assert alerts.observe_ends(report, ack, {}, "2026-01-02T00:00:00Z") == {
        KEY: "2026-01-02T00:00:00Z"
    }
    # Already recorded after that ack: nothing new.
    assert alerts.observe_ends(report, ack, {KEY: "2026-01-02T00:00:00Z"}, "later") is None
    # A newer ack, and the alert ends again: a new end time.
    newer = human((KEY, "2026-01-01T00:00:00Z"), (KEY, "2026-01-03T00:00:00Z"))
    assert alerts.observe_ends(report, newer, {KEY: "2026-01-02T00:00:00Z"}, "2026-01-04") == {
        KEY: "2026-01-04"
    }


def test_reports_and_unacknowledged_keys_are_not_recorded(tmp_path: Path) -> None:
    report = with_regression(cycle_engine(tmp_path).evaluate(), active=False)
    assert alerts.observe_ends(report, human(("report:4", "2026-01-01T00:00:00Z")), {}, "T") is None
    # An end recorded for a key nobody acknowledges (any more) is dropped: bounded by the ledger.
    assert alerts.observe_ends(report, human(), {"statistics:a->b": "x"}, "T") == {}


def test_ended_after_compares_instants_not_strings() -> None:
    assert alerts.ended_after("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000001+00:00")
    # As strings the end sorts first; as instants it is an hour after the ack.
    assert alerts.ended_after("2026-01-02T00:00:00Z", "2026-01-01T23:00:00-02:00")
    assert not alerts.ended_after("2026-01-02T00:00:00Z", "2026-01-01T23:00:00Z")
    assert not alerts.ended_after("2026-01-01T00:00:00Z", None)
    assert not alerts.ended_after("2026-01-01T00:00:00Z", "not a time")


# ---------------------------------------------------------------- the whole cycle

# Ten episodes a release, six frames an episode; the counts are corrected frames per episode.
PREV = [0, 1, 1, 2, 0, 1, 2, 1, 0, 1]  # cpe 0.9
WORSE = [3, 4, 5, 3, 4, 6, 5, 4, 3, 5]  # cpe 4.2, p < 0.01: a regression
FINE = [0, 1, 0, 1, 1, 0, 1, 1, 0, 1]  # cpe 0.6: none


def release_tasks(version: str, counts: list[int], updated: str) -> list[dict[str, object]]:
    first = 1 if version == "v1" else 1001
    created = "2026-01-01T00:00:00Z" if version == "v1" else "2026-02-01T00:00:00Z"
    tasks = []
    for episode, corrected in enumerate(counts):
        for frame in range(6):
            tid = first + 6 * episode + frame
            origin = "prediction-changed" if frame < corrected else "prediction"
            tasks.append(
                task(
                    tid,
                    f"/d/?d=e/pick/{version}-ep{episode}/f{frame}.jpg",
                    predictions=[pred(tid, [kp(5, 5)], version=version, created=created)],
                    annotations=[ann(tid, [kp(5, 5, origin=origin)], parent=tid, updated=updated)],
                    updated=updated,
                )
            )
    return tasks


def cycle_engine(folder: Path) -> Engine:
    exports = folder / "exports"
    tasks = release_tasks("v1", PREV, "2026-03-01T00:00:00Z")
    tasks += release_tasks("v2", WORSE, "2026-03-01T00:00:00Z")
    write_export(exports, "1-worse.json", tasks, mtime=100)
    return scanned_engine(folder)


def test_an_alert_raised_again_after_it_ended_needs_a_new_ack(tmp_path: Path) -> None:
    engine = cycle_engine(tmp_path)
    raised = engine.evaluate().regression
    assert (raised.active, raised.alert_key, raised.acknowledged_by) == (True, KEY, None)
    acknowledge(engine, by="Kim", note="seen")
    assert engine.evaluate().regression.acknowledged_by == "Kim"

    # Labelers re-review v2's frames: fewer corrections, the condition no longer holds.
    exports = engine.config.paths.export_dir
    write_export(
        exports, "2-fine.json", release_tasks("v2", FINE, "2026-03-02T00:00:00Z"), mtime=200
    )
    engine.scan()
    ended = engine.evaluate().regression
    assert (ended.active, ended.state) == (False, "no_regression")
    assert KEY in alerts.load(engine.config.paths.state_dir)

    # A later review makes it worse again: the same pair, a new alert, not acknowledged.
    write_export(
        exports, "3-worse.json", release_tasks("v2", WORSE, "2026-03-03T00:00:00Z"), mtime=300
    )
    engine.scan()
    again = engine.evaluate()
    assert (again.regression.active, again.regression.alert_key) == (True, KEY)
    assert again.regression.acknowledged_by is None
    assert again.decision == "REGRESSION"

    # A fresh process reads the recorded end: still not acknowledged.
    assert Engine(engine.config).evaluate().regression.acknowledged_by is None
    acknowledge(engine, by="Lee", note="seen again")
    assert engine.evaluate().regression.acknowledged_by == "Lee"


def test_without_an_observed_end_the_ack_stands(tmp_path: Path) -> None:
    engine = cycle_engine(tmp_path)
    acknowledge(engine, by="Kim", note="seen")
    exports = engine.config.paths.export_dir
    write_export(
        exports, "3-worse.json", release_tasks("v2", WORSE, "2026-03-03T00:00:00Z"), mtime=300
    )
    engine.scan()
    assert engine.evaluate().regression.acknowledged_by == "Kim"
    assert not (engine.config.paths.state_dir / alerts.FILE_NAME).exists()
