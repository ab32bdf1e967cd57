"""The read path from a user's side, through the CLI: figures never stale after a settings
change, `reindex`, missing folders as errors (hostile exports, read in-process:
tests/unit/test_read_path.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.lsbuild import ann, kp, pred, task, write_export
from tests.waiting import check_json, run_cli

BASE_TOML = (
    '[paths]\nexport_dir = "exports"\neval_set = "eval.txt"\nstate_dir = "state"\n'
    "[gates]\ninitial_corpus_episodes = 30\n"
)


def episode(task_subdir: str, first_id: int, n_frames: int, *, moved: float = 0.0) -> list[Any]:
    """Two reviewed frames of one episode whose task data says it has `n_frames` frames.
    The labeler (through the API: no `origin`) moved the point by `moved`."""
    return [
        task(
            first_id + i,
            f"/data/local-files/?d=eps/{task_subdir}/e1/f{i}.jpg",
            predictions=[pred(first_id + i, [kp(10, 10)], version="m1")],
            annotations=[ann(first_id + i, [kp(10 + moved, 10)], parent=first_id + i)],
            n_frames=n_frames,
        )
        for i in range(2)
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    # pick and stack: 2 of 2 frames; pour: 2 of 4 frames. Every point moved by 1.0.
    tasks = [
        *episode("pick", 1, 2, moved=1.0),
        *episode("stack", 11, 2, moved=1.0),
        *episode("pour", 21, 4, moved=1.0),
    ]
    write_export(tmp_path / "exports", "project-1-at-2026-11-20.json", tasks, mtime=1_000)
    (tmp_path / "eval.txt").write_text("eval v1\n", encoding="utf-8")
    (tmp_path / "config.toml").write_text(BASE_TOML, encoding="utf-8")
    return tmp_path


def set_config(project: Path, extra: str) -> None:
    (project / "config.toml").write_text(BASE_TOML + extra, encoding="utf-8")


def test_a_settings_change_rereads_every_export_and_keeps_the_ledger(project: Path) -> None:
    first = check_json(project)
    # Without frames_field every known frame of each episode is done: 3 harvested.
    assert (first["episodes"]["harvested"], first["delta_episodes"]) == (3, 3)
    # Moved by 1.0 > tolerance 0.5: all 6 frames corrected.
    assert first["frames"]["corrected"] == 6
    assert run_cli("pin-eval", "--by", "Kim", "--note", "v1", cwd=project).returncode == 0
    ledger = (project / "state" / "ledger.jsonl").read_bytes()

    set_config(project, '[episodes]\nframes_field = "n_frames"\n')
    out = run_cli("check", "--json", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "read settings changed since the last ingest (frames_field)" in out.stderr
    data = json.loads(out.stdout)
    # pour has 2 of its 4 frames done: no longer harvested.
    assert (data["episodes"]["harvested"], data["delta_episodes"]) == (2, 2)
    assert data["eval"]["status"] == "pinned"  # the pin survived
    assert (project / "state" / "ledger.jsonl").read_bytes() == ledger

    again = run_cli("check", "--json", cwd=project)
    assert "read settings" not in again.stderr  # said once, when it happened
    assert json.loads(again.stdout)["delta_episodes"] == 2


def test_a_tolerance_change_changes_which_frames_are_corrected(project: Path) -> None:
    assert check_json(project)["frames"]["corrected"] == 6
    set_config(project, "[corrections]\ntolerance = 2.0\n")
    out = run_cli("check", "--json", cwd=project)
    assert "(tolerance)" in out.stderr
    assert json.loads(out.stdout)["frames"]["corrected"] == 0  # 1.0 moved is within 2.0


def test_reindex_rebuilds_the_frames_and_keeps_the_ledger(project: Path) -> None:
    before = check_json(project)
    assert run_cli("pin-eval", "--by", "Kim", "--note", "v1", cwd=project).returncode == 0
    ledger = (project / "state" / "ledger.jsonl").read_bytes()
    (project / "state" / "frames.parquet").write_bytes(b"damaged")
    out = run_cli("reindex", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "1 export read" in out.stdout and "ledger is unchanged" in out.stdout
    assert (project / "state" / "ledger.jsonl").read_bytes() == ledger
    after = check_json(project)
    assert after["frames"] == before["frames"] and after["episodes"] == before["episodes"]


@pytest.mark.parametrize(
    ("key", "old", "new"),
    [
        ("[paths] export_dir", '"exports"', '"exportz"'),
        ("[paths] eval_set", '"eval.txt"', '"eval-missing.txt"'),
    ],
)
@pytest.mark.parametrize(
    "command",
    [("check",), ("check", "--exit-code"), ("approve", "--by", "Kim"), ("reindex",)],
)
def test_a_missing_folder_is_an_error_naming_the_key(
    project: Path, key: str, old: str, new: str, command: tuple[str, ...]
) -> None:
    (project / "config.toml").write_text(BASE_TOML.replace(old, new), encoding="utf-8")
    out = run_cli(*command, cwd=project)
    assert out.returncode == 2, out.stdout
    assert key in out.stderr and new.strip('"') in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not (project / "state" / "ledger.jsonl").exists()
