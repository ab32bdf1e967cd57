"""The engine's `check --json` figures equal those of tests/independent.py, an independent
stdlib implementation of docs/semantics.md (json.load and loops), on the committed demo, on
real Label Studio exports and on generated exports of both shapes."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench import workloads
from retrain_gate.config import Config, load_config
from retrain_gate.engine import Engine
from tests.independent import differences, figures

ROOT = Path(__file__).resolve().parents[2]
LS_REAL = ROOT / "tests" / "data" / "ls_real"


def _engine_figures(config: Config) -> dict[str, Any]:
    _results, report = Engine(config).refresh()
    return report.model_dump(mode="json")


def _config(export_dir: Path, state_dir: Path, **episodes: Any) -> Config:
    return Config.model_validate(
        {
            "paths": {"export_dir": export_dir, "state_dir": state_dir, "eval_set": state_dir},
            "episodes": episodes,
            "regression": {"min_episodes": 1},
        }
    )


def _agree(config: Config) -> None:
    exports = sorted(Path(config.paths.export_dir).glob("*.json"))
    assert exports
    assert differences(_engine_figures(config), figures(exports, config)) == []


def test_demo(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.toml")
    paths = config.paths.model_copy(update={"state_dir": tmp_path / "state"})
    _agree(config.model_copy(update={"paths": paths}))


@pytest.mark.parametrize("name", sorted(p.name for p in LS_REAL.glob("*export*.json")))
@pytest.mark.parametrize("frames_field", [None, "n_frames"])
def test_real_label_studio_export(tmp_path: Path, name: str, frames_field: str | None) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(LS_REAL / name, exports / name)
    _agree(_config(exports, tmp_path / "state", frames_field=frames_field))


@pytest.mark.parametrize("shape", ["snapshot", "community"])
@pytest.mark.parametrize("seed", [3, 4])
def test_generated(tmp_path: Path, shape: str, seed: int) -> None:
    gen = workloads.generator()
    params = dataclasses.replace(gen.Params(), frames=400, days=3, seed=seed)
    gen.generate(params, tmp_path / "exports", shape)
    _agree(_config(tmp_path / "exports", tmp_path / "state", frames_field="n_frames"))


def test_generated_api_results_and_tolerance(tmp_path: Path) -> None:
    """More annotations without `origin` (the geometric comparison) and a tight tolerance."""
    gen = workloads.generator()
    params = dataclasses.replace(gen.Params(), frames=300, seed=9, api_rate=0.5)
    gen.generate(params, tmp_path / "exports", "snapshot")
    config = _config(tmp_path / "exports", tmp_path / "state")
    config = config.model_copy(
        update={"corrections": config.corrections.model_copy(update={"tolerance": 0.01})}
    )
    _agree(config)
