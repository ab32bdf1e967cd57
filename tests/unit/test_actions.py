"""Human decisions move the gates as §4-§8 say: approvals, pins, reports and acknowledgements.

Runs on a copy of the committed demo (three releases; the newest regresses with p < 0.01)
and on tiny hand-made projects.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrain_gate.config import Config, load_config
from retrain_gate.decisions.actions import (
    ActionRefused,
    acknowledge,
    approve,
    pin_eval,
    report_regression,
)
from retrain_gate.decisions.ledger import Ledger
from retrain_gate.engine import Engine
from tests.lsbuild import ann, kp, pred, task, write_export

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path) -> Engine:
    shutil.copytree(REPO / "fixtures" / "demo" / "exports", tmp_path / "exports")
    shutil.copytree(REPO / "fixtures" / "demo" / "eval", tmp_path / "eval")
    shutil.copy(REPO / "config.toml", tmp_path / "config.toml")
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    text = text.replace("fixtures/demo/exports", "exports").replace("fixtures/demo/eval", "eval")
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    engine = Engine(load_config(tmp_path / "config.toml"))
    engine.scan()
    return engine


def test_the_demo_opens_with_a_statistical_regression(demo: Engine) -> None:
    report = demo.evaluate()
    assert report.decision == "REGRESSION" and report.ready
    assert report.regression.source == "statistics"
    assert report.regression.current == "hand-kp-2026.11"
    assert report.regression.p_value is not None and report.regression.p_value < 0.01


def test_ack_then_approve_ends_the_alert_for_good(demo: Engine) -> None:
    regression = demo.evaluate().regression
    key = regression.alert_key
    acked_now = acknowledge(demo, by="Kim", note="seen")
    # Said in words, never as the internal key (issue 21.9).
    assert acked_now.message == (
        f"acknowledged by Kim: the regression alert on {regression.current} "
        f"(against {regression.previous}) (the alert stays open until a retrain is approved)"
    )
    acked = demo.evaluate().regression
    assert (acked.active, acked.acknowledged_by) == (True, "Kim")  # an ack does not end it

    before = demo.evaluate()
    recorded = approve(demo, by="Ana")  # READY because of the regression: no override needed
    after = recorded.report
    assert recorded.entry.payload["ended_alert_keys"] == [key]
    # The delta joins the corpus exactly; the delta restarts; needed rises with the corpus.
    assert after.corpus_episodes == before.corpus_episodes + before.delta_episodes
    assert after.delta_episodes == 0
    assert after.needed_episodes > before.needed_episodes
    # Same pair, same statistics: never raised again once a retrain ended it.
    assert after.regression.active is False
    assert after.regression.state == "regression"
    assert after.decision == "WAIT"
    # ...and the approval pinned the eval set.
    assert after.eval.status == "pinned" and after.eval.pinned_by == "Ana"


def test_a_manual_report_raises_an_alert_until_an_approval(tmp_path: Path) -> None:
    engine = tiny_project(tmp_path, episodes=1)
    assert engine.evaluate().decision == "WAIT"
    report_regression(engine, by="Lee", note="thumbs drift")
    now = engine.evaluate()
    assert (now.decision, now.regression.source, now.regression.reported_by) == (
        "REGRESSION",
        "report",
        "Lee",
    )
    acknowledge(engine, by="Kim")
    assert engine.evaluate().regression.acknowledged_by == "Kim"
    approve(engine, by="Ana")
    assert engine.evaluate().regression.active is False


def test_approving_a_wait(tmp_path: Path) -> None:
    engine = tiny_project(tmp_path, episodes=1)  # corpus 30 needs 3: WAIT
    with pytest.raises(ActionRefused, match="override"):
        approve(engine, by="Ana")
    with pytest.raises(ActionRefused, match="note"):
        approve(engine, by="Ana", override=True)
    assert Ledger(engine.config.paths.state_dir).entries() == []  # nothing recorded
    assert not (engine.config.paths.state_dir / "approvals").exists()
    recorded = approve(engine, by="Ana", override=True, note="demo for the review")
    assert recorded.entry.payload["override"] is True
    assert recorded.report.corpus_episodes == 31


def test_repinning(tmp_path: Path) -> None:
    engine = tiny_project(tmp_path, episodes=3)
    eval_file = engine.config.paths.eval_set
    assert engine.evaluate().eval.status == "unpinned"
    pin_eval(engine, by="Kim", note="v1")
    assert engine.evaluate().ready
    eval_file.write_text("v2\n", encoding="utf-8")
    drifted = engine.evaluate()
    assert (drifted.eval.status, drifted.ready) == ("drifted", False)
    assert "drifted" in drifted.reason
    pin_eval(engine, by="Lee", note="new eval distribution")
    pinned = engine.evaluate().eval
    assert (pinned.status, pinned.pinned_by) == ("pinned", "Lee")
    eval_file.unlink()
    assert engine.evaluate().eval.status == "missing"
    with pytest.raises(ActionRefused, match="missing"):
        pin_eval(engine, by="Kim", note="x")


def test_ack_with_nothing_open_is_refused(tmp_path: Path) -> None:
    engine = tiny_project(tmp_path, episodes=1)
    with pytest.raises(ActionRefused, match="no open"):
        acknowledge(engine, by="Kim")


def test_human_state_is_rebuilt_from_the_ledger_alone(tmp_path: Path) -> None:
    engine = tiny_project(tmp_path, episodes=3)
    pin_eval(engine, by="Kim", note="v1")
    approve(engine, by="Ana")
    before = engine.evaluate()
    state = engine.config.paths.state_dir
    for path in state.iterdir():
        if path.name != "ledger.jsonl":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    fresh = Engine(engine.config)
    fresh.scan()
    assert fresh.evaluate() == before


def tiny_project(folder: Path, *, episodes: int) -> Engine:
    """`episodes` harvested episodes over pick/stack/pour; corpus 30 needs ceil(3.0) = 3."""
    tasks = []
    for n in range(episodes):
        subdir = ["pick", "stack", "pour"][n % 3]
        tid = 10 * (n + 1)
        tasks.append(
            task(
                tid,
                f"/d/?d=e/{subdir}/ep{n}/f.jpg",
                predictions=[pred(tid, [kp(5, 5)])],
                annotations=[ann(tid, [kp(5, 5, origin="prediction")], parent=tid)],
            )
        )
    write_export(folder / "exports", "a.json", tasks, mtime=100)
    return scanned_engine(folder)


def scanned_engine(folder: Path) -> Engine:
    """An engine on `folder` (exports/, state/, eval.txt; corpus 30) that has scanned it."""
    (folder / "eval.txt").write_text("v1\n", encoding="utf-8")
    config = Config.model_validate(
        {
            "paths": {"export_dir": "exports", "state_dir": "state", "eval_set": "eval.txt"},
            "gates": {"initial_corpus_episodes": 30},
        }
    ).resolved(folder)
    engine = Engine(config)
    engine.scan()
    return engine
