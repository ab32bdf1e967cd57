"""The figures fixtures/demo/README.md and intended.json state are what `check` says, run as
a process on the demo's exports as they land (the generator itself: tests/unit/)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.unit.test_fixtures_generator import ROOT, gen


def _demo_readme() -> str:
    return (gen.DEMO_DIR / "README.md").read_text(encoding="utf-8")


def _story_rows() -> list[list[str]]:
    table = _demo_readme().split("| export (day) |", 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[2:]]


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """`check --json` on the demo as its exports land, one a day, with the root config's keys."""
    tmp_path = tmp_path_factory.mktemp("demo")
    (tmp_path / "exports").mkdir()
    shutil.copytree(gen.DEMO_DIR / "eval", tmp_path / "eval")
    config = (ROOT / "config.toml").read_text(encoding="utf-8")
    config = config.replace("fixtures/demo/exports", "exports").replace(
        "fixtures/demo/eval", "eval"
    )
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    reports = []
    for export in sorted((gen.DEMO_DIR / "exports").glob("*.json")):
        shutil.copy2(export, tmp_path / "exports" / export.name)
        out = subprocess.run(
            [sys.executable, "-m", "retrain_gate", "check", "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        reports.append(json.loads(out.stdout))
    return reports


def _two(value: float) -> str:
    return f"{value:.2f}"


def test_the_demo_readme_states_what_check_says(demo_reports: list[dict[str, Any]]) -> None:
    reports = demo_reports
    rows = _story_rows()
    assert [r[0] for r in rows] == ["11-16", "11-17", "11-18", "11-19", "11-20"]
    for row, rep in zip(rows, reports, strict=True):
        day, tasks, harvested, newest, decision, regression = row
        assert int(tasks) == rep["frames"]["total"], day
        assert int(harvested) == rep["episodes"]["harvested"], day
        new = next(r for r in rep["releases"] if r["model_version"] == "hand-kp-2026.11")
        assert int(newest) == new["episodes"], day
        assert decision.split(":")[0] == rep["decision"], day
        if rep["decision"] == "WAIT":
            assert rep["reason"].startswith(decision.split(": ", 1)[1].split(" (")[0]), day
        if "passes)" in decision:
            stated = f"(the delta, {rep['delta_episodes']} ≥ {rep['needed_episodes']}, passes)"
            assert decision.endswith(stated), day
        reg = rep["regression"]
        if regression.startswith("insufficient data"):
            assert reg["state"] == "insufficient_data", day
            assert regression == f"insufficient data ({new['episodes']} < 10)", day
        else:
            previous = next(r for r in rep["releases"] if r["model_version"] == reg["previous"])
            assert reg["state"] == "regression", day
            assert regression == (
                f"cpe {_two(new['cpe'])} vs {_two(previous['cpe'])}, p = {reg['p_value']:.1e}"
            ), day
    final = reports[-1]
    text = _demo_readme()
    frames = re.search(
        r"frames: (\d+) total, (\d+) reviewed, (\d+) skipped, (\d+) corrected, (\d+) unmapped, "
        r"(\d+) not yet labeled",
        text,
    )
    assert frames is not None
    f = final["frames"]
    open_frames = f["total"] - f["unmapped"] - f["reviewed"] - f["skipped"]
    assert [int(x) for x in frames.groups()] == [
        f["total"],
        f["reviewed"],
        f["skipped"],
        f["corrected"],
        f["unmapped"],
        open_frames,
    ]
    episodes = re.search(
        r"episodes: (\d+) \(([^)]*)\), \*\*(\d+) harvested\*\*\s+\(([^)]*)\)", text
    )
    assert episodes is not None
    tasks = {t["task_subdir"]: t for t in final["tasks"]}
    per_task = dict(pair.rsplit(" ", 1) for pair in episodes.group(2).split(", "))
    assert {k: int(v) for k, v in per_task.items()} == {k: t["episodes"] for k, t in tasks.items()}
    assert int(episodes.group(1)) == final["episodes"]["total"]
    assert int(episodes.group(3)) == final["episodes"]["harvested"]
    harvested = [int(x) for x in episodes.group(4).split(" / ")]
    assert harvested == [tasks[k]["harvested"] for k in per_task]
    stated = re.findall(r"(2026\.\d\d): (\d+), (\d+),\s+(\d\.\d\d)", text)
    assert stated == [
        (
            r["model_version"].removeprefix("hand-kp-"),
            str(r["episodes"]),
            str(r["corrected_frames"]),
            _two(r["cpe"]),
        )
        for r in final["releases"]
    ]
    assert f"(2026.11 > 2026.10) = {final['regression']['p_value']:.1e}" in text.replace("\n", " ")
    delta = f"= {final['needed_episodes']} and has\n  {final['delta_episodes']} "
    assert delta in text
    assert f"Gini ≈ {_two(final['task_gini'])}" in text
    share = final["task_counts"][final["top_task"]]
    assert f"{share}/{final['delta_episodes']} = {_two(final['top_task_share'])}" in text


def test_intended_json_is_what_check_says(demo_reports: list[dict[str, Any]]) -> None:
    intended = json.loads((gen.DEMO_DIR / "intended.json").read_text(encoding="utf-8"))
    final = demo_reports[-1]
    assert intended["frames"] == {k: final["frames"][k] for k in intended["frames"]}
    assert intended["episodes"]["total"] == final["episodes"]["total"]
    assert intended["episodes"]["harvested"] == final["episodes"]["harvested"]
    tasks = {t["task_subdir"]: t for t in final["tasks"]}
    assert intended["episodes"]["per_task"] == {k: tasks[k]["episodes"] for k in tasks}
    assert intended["episodes"]["harvested_per_task"] == {k: tasks[k]["harvested"] for k in tasks}
    assert [
        (r["model_version"], r["episodes"], r["corrected_frames"]) for r in intended["releases"]
    ] == [(r["model_version"], r["episodes"], r["corrected_frames"]) for r in final["releases"]]
    assert intended["regression_p_value"] == float(f"{final['regression']['p_value']:.6g}")
