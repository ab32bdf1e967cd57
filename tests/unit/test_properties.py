"""Property: the figures depend on what was exported, not on how it arrived.

A project's history is generated (frames reviewed, re-reviewed, cancelled over several days);
each day gives a full snapshot. Ingesting the snapshots in any order, twice, or split into
filtered parts must give the same `check --json` figures as ingesting them once in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrain_gate.config import parse_config
from retrain_gate.engine import Engine
from tests.lsbuild import ann, kp, pred, task, write_export

TASKS = ["pick", "stack", "pour"]


@st.composite
def histories(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Per day, the list of tasks as a snapshot of that day shows them."""
    n_frames = draw(st.integers(3, 12))
    days = draw(st.integers(1, 4))
    frames = []
    for tid in range(1, n_frames + 1):
        subdir = draw(st.sampled_from(TASKS))
        episode = f"e{draw(st.integers(1, 3))}"
        version = draw(st.sampled_from(["m1", "m2"]))
        frames.append((tid, subdir, episode, version))
    snapshots = []
    state: dict[int, tuple[str, float] | None] = {tid: None for tid, *_ in frames}
    for day in range(days):
        for tid, *_ in frames:
            if draw(st.booleans()):
                # Content is a function of the stamp: a frame never has two versions at one stamp.
                state[tid] = (draw(st.sampled_from(["accept", "move", "cancel"])), float(day))
        snapshot = []
        for tid, subdir, episode, version in frames:
            image = f"/data/local-files/?d=e/{subdir}/{episode}/f{tid}.jpg"
            p = pred(
                tid, [kp(10, 10)], version=version, created=f"2026-01-0{1 + (version == 'm2')}"
            )
            current = state[tid]
            if current is None:
                snapshot.append(task(tid, image, predictions=[p]))
                continue
            kind, when = current
            stamp = f"2026-02-{1 + int(when):02d}T00:00:00Z"
            moved = 10 + (5 if kind == "move" else 0)
            a = ann(tid, [kp(moved, 10)], updated=stamp, cancelled=kind == "cancel", parent=tid)
            snapshot.append(task(tid, image, predictions=[p], annotations=[a], updated=stamp))
        snapshots.append(snapshot)
    return snapshots


def figures(folder: Path, files: list[tuple[str, list[dict[str, Any]], int]]) -> dict[str, Any]:
    exports = folder / "exports"
    for name, tasks, mtime in files:
        write_export(exports, name, tasks, mtime=mtime)
    config = parse_config(
        {
            # an absolute eval path, so that no temporary folder name appears in the figures
            "paths": {"export_dir": "exports", "state_dir": "state", "eval_set": "/no/eval"},
            "gates": {"initial_corpus_episodes": 10},
        },
        base=folder,
    )
    engine = Engine(config)
    for name, _tasks, _mtime in files:
        engine.ingest(exports / name)
    return json.loads(engine.evaluate().model_dump_json())  # type: ignore[no-any-return]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories(), data=st.data())
def test_order_duplicates_and_filtered_parts_do_not_matter(
    tmp_path_factory: Any, history: list[list[dict[str, Any]]], data: st.DataObject
) -> None:
    files = [(f"day{d}.json", tasks, 1000 + d) for d, tasks in enumerate(history)]
    expected = figures(tmp_path_factory.mktemp("inorder"), files)

    shuffled = data.draw(st.permutations(files))
    assert figures(tmp_path_factory.mktemp("shuffled"), shuffled) == expected

    twice = [*files, *[(f"copy-{name}", t, m) for name, t, m in files]]
    assert figures(tmp_path_factory.mktemp("twice"), twice) == expected

    parts = []
    for name, tasks, mtime in files:
        cut = data.draw(st.integers(0, len(tasks)))
        parts.append((f"a-{name}", tasks[:cut], mtime))
        parts.append((f"b-{name}", tasks[cut:], mtime))
    parts = [p for p in parts if p[1]]
    order = data.draw(st.permutations(parts))
    assert figures(tmp_path_factory.mktemp("parts"), order) == expected
