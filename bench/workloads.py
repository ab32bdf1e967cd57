"""Workloads for the harness, written by the fixtures generator (fixtures/generate.py).

Nothing here is committed: every file is generated into the work folder and reused by later
runs when it is already there (the generator is deterministic per seed and size).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "fixtures" / "generate.py"


def generator() -> ModuleType:
    """fixtures/generate.py, loaded by path (it is not part of the package)."""
    existing = sys.modules.get("retrain_gate_fixtures_generate")
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location("retrain_gate_fixtures_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Export:
    """One generated export file and the workload it belongs to."""

    name: str  # e.g. "snapshot-32000"
    shape: str  # snapshot | community
    frames: int  # tasks in the simulated project (community exports hold the annotated ones)
    path: Path

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def export(work: Path, shape: str, frames: int, seed: int = 1) -> Export:
    """One export (a single daily snapshot) of a `frames`-task project, generated once."""
    folder = work / "exports" / f"{shape}-{frames}-seed{seed}"
    done = folder / ".done"
    if not done.exists():
        gen = generator()
        if folder.exists():
            for old in folder.iterdir():
                old.unlink()
        params = dataclasses.replace(gen.Params(), frames=frames, seed=seed)
        gen.generate(params, folder, shape)
        done.write_text("ok\n", encoding="utf-8")
    (path,) = sorted(p for p in folder.glob("*.json"))
    return Export(f"{shape}-{frames}", shape, frames, path)


def config_text(export_dir: Path, state_dir: Path, eval_set: Path, **extra: Any) -> str:
    """A config for the generated project: `data.n_frames` is the episode's frame count."""
    settle = extra.get("settle_seconds", 1.0)
    return (
        "[paths]\n"
        f"export_dir = {json.dumps(str(export_dir))}\n"
        f"state_dir = {json.dumps(str(state_dir))}\n"
        f"eval_set = {json.dumps(str(eval_set))}\n"
        "[episodes]\n"
        'frames_field = "n_frames"\n'
        "[gates]\n"
        "initial_corpus_episodes = 200\n"
        "[watch]\n"
        f"settle_seconds = {settle}\n"
    )


@dataclass(frozen=True)
class Setup:
    """A project folder: config.toml, an export folder holding links to `exports`, state."""

    root: Path
    config: Path
    export_dir: Path
    state_dir: Path


def project(root: Path, exports: list[Path], **extra: Any) -> Setup:
    """A fresh project folder whose export folder holds `exports` (hard links, else copies)."""
    if root.exists():
        _remove_tree(root)
    export_dir, state_dir, eval_dir = root / "exports", root / "state", root / "eval"
    export_dir.mkdir(parents=True)
    eval_dir.mkdir()
    (eval_dir / "episodes.csv").write_text("task_subdir,episode\npick_cube,eval_001\n", "utf-8")
    for path in exports:
        target = export_dir / path.name
        try:
            os.link(path, target)
        except OSError:
            target.write_bytes(path.read_bytes())
            stat = path.stat()
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    config = root / "config.toml"
    config.write_text(config_text(export_dir, state_dir, eval_dir, **extra), encoding="utf-8")
    return Setup(root, config, export_dir, state_dir)


def _remove_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    root.rmdir()


def filtered_exports(
    work: Path, frames: int, count: int, tasks_each: int, seed: int = 1
) -> list[Path]:
    """`count` small filtered exports of the `frames`-task project (community shape), each a
    random subset of its tasks as a later export shows them, with increasing mtimes: the
    history a long-lived state folder has ingested besides the big snapshots."""
    gen = generator()
    folder = work / "exports" / f"filtered-{frames}-seed{seed}-{count}x{tasks_each}"
    done = folder / ".done"
    if done.exists():
        return sorted(folder.glob("*.json"))
    folder.mkdir(parents=True, exist_ok=True)
    params = dataclasses.replace(gen.Params(), frames=frames, seed=seed)
    plan = gen.plan(params)
    rng = random.Random(seed)
    end = plan.snapshot_times[-1]
    paths = []
    for k in range(count):
        at = end + (k + 1) * 3_600 * gen.US
        picked = rng.sample(plan.tasks, min(tasks_each, len(plan.tasks)))
        shown = (gen.render_task(task, at, "community", params) for task in picked)
        rendered = [t for t in shown if t is not None]
        path = folder / f"filtered-{k + 1:04d}.json"
        path.write_text(json.dumps(rendered, ensure_ascii=False, separators=(",", ":")), "utf-8")
        os.utime(path, ns=(at * 1000, at * 1000))
        paths.append(path)
    done.write_text("ok\n", encoding="utf-8")
    return paths


def hostile(work: Path, regions: int) -> Path:
    """One task whose annotation and prediction hold `regions` keypoints between them, all of
    one label and none with an `origin`: every region goes through the geometric comparison,
    in one group, the most a single task can make the reader sort and compare."""
    folder = work / "exports" / f"hostile-{regions}"
    path = folder / f"project-1-at-hostile-{regions}.json"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(regions)

    def region(i: int) -> dict[str, Any]:
        return {
            "id": f"r{i}",
            "type": "keypointlabels",
            "from_name": "kp",
            "to_name": "image",
            "value": {
                "x": round(rng.uniform(0, 100), 3),
                "y": round(rng.uniform(0, 100), 3),
                "width": 0.5,
                "keypointlabels": ["thumb"],
            },
        }

    half = regions // 2
    task = {
        "id": 1,
        "project": 1,
        "data": {"image": "/data/local-files/?d=eps/pick_cube/ep_0001/f_0001.jpg"},
        "updated_at": "2026-11-01T00:00:00Z",
        "predictions": [
            {
                "id": 1,
                "model_version": "m1",
                "created_at": "2026-10-01T00:00:00Z",
                "result": [region(i) for i in range(half)],
            }
        ],
        "annotations": [
            {
                "id": 1,
                "result": [region(i) for i in range(half, regions)],
                "was_cancelled": False,
                "ground_truth": False,
                "created_at": "2026-11-01T00:00:00Z",
                "updated_at": "2026-11-01T00:00:00Z",
                "parent_prediction": 1,
                "prediction": {},
            }
        ],
    }
    path.write_text(json.dumps([task], separators=(",", ":")), encoding="utf-8")
    return path
