"""The recorded target-storage folders (tests/data/ls_storage) against their written account.

Each `account.json` says what was done to every task and gives, worked out by hand, the
figures of the storage folder alone, with the snapshot beside it, and of each export alone.
`check --json` must give exactly those.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import check_json, run_cli

DATA = Path(__file__).parent / "data" / "ls_storage"
LAYOUTS = ("annotation_layout", "task_layout")


def _account(layout: str) -> dict[str, Any]:
    return json.loads((DATA / layout / "account.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _folder(tmp_path: Path, layout: str, scenario: str, frames_field: bool) -> Path:
    source = DATA / layout
    exports = tmp_path / "exports"
    exports.mkdir()
    (tmp_path / "eval").mkdir()
    if scenario == "storage_alone":
        for path in sorted((source / "storage").iterdir()):
            shutil.copyfile(path, exports / path.name)
    if scenario == "storage_plus_snapshot":
        # The storage as a subfolder of the export folder, the snapshot beside it.
        shutil.copytree(source / "storage", exports / "storage")
    if scenario in ("storage_plus_snapshot", "snapshot_alone"):
        shutil.copyfile(source / "snapshot.json", exports / "snapshot.json")
    if scenario == "default_export_alone":
        shutil.copyfile(source / "default_export.json", exports / "default_export.json")
    config = '[paths]\nexport_dir = "exports"\nstate_dir = "state"\neval_set = "eval"\n'
    if frames_field:
        config += '[episodes]\nframes_field = "n_frames"\n'
    (tmp_path / "config.toml").write_text(config)
    return tmp_path


def _cases() -> list[Any]:
    return [
        pytest.param(layout, scenario, id=f"{layout}-{scenario}")
        for layout in LAYOUTS
        for scenario in (
            "storage_alone",
            "storage_plus_snapshot",
            "snapshot_alone",
            "default_export_alone",
        )
    ]


# Each layout alone, beside a full snapshot, and the exports alone: every figure by hand.
@pytest.mark.parametrize(("layout", "scenario"), _cases())
def test_figures_equal_the_account(tmp_path: Path, layout: str, scenario: str) -> None:
    expected = _account(layout)["expected"][scenario]
    report = check_json(_folder(tmp_path, layout, scenario, frames_field=False))
    # the semantics' six counts, and the release_unknown count the dashboard shows
    assert {key: report["frames"][key] for key in expected["frames"]} == expected["frames"]
    assert set(report["frames"]) == {*expected["frames"], "release_unknown"}
    assert report["episodes"] == expected["episodes"]
    keys = ("model_version", "episodes", "corrected_frames", "cpe")
    assert [{k: r[k] for k in keys} for r in report["releases"]] == expected["releases"]
    assert report["refused_files"] == {}
    assert report["frames"]["release_unknown"] == expected["reviewed_frames_with_unknown_release"]


def test_check_says_how_to_name_the_releases_of_a_storage_folder_alone(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "annotation_layout", "storage_alone", frames_field=False)
    out = run_cli("check", cwd=folder)
    assert out.returncode == 0, out.stderr
    assert "releases unknown for 9 reviewed frames" in out.stdout
    assert "retrain-gate pull" in out.stdout
    (tmp_path / "b").mkdir()
    with_snapshot = _folder(tmp_path / "b", "annotation_layout", "storage_plus_snapshot", False)
    assert "releases unknown" not in run_cli("check", cwd=with_snapshot).stdout


@pytest.mark.parametrize(("layout", "scenario"), _cases())
def test_harvest_with_a_frame_count_equals_the_account(
    tmp_path: Path, layout: str, scenario: str
) -> None:
    expected = _account(layout)["expected"][scenario]
    report = check_json(_folder(tmp_path, layout, scenario, frames_field=True))
    assert (
        report["episodes"]["harvested"] == expected["episodes_harvested_with_frames_field_n_frames"]
    )


def test_the_recordings_are_what_the_account_says() -> None:
    """The files themselves: names, layout and the facts the account relies on."""
    annotation = sorted(
        (DATA / "annotation_layout" / "storage").iterdir(), key=lambda p: int(p.name)
    )
    # Annotation 9 (task 8) and 11 (task 9's second annotator) were deleted.
    assert [p.name for p in annotation] == [str(i) for i in range(1, 18) if i not in (9, 11)]
    for path in annotation:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["id"] == int(path.name) and "prediction" not in data
        assert "predictions" not in data["task"] and "annotations" not in data["task"]
    tasks = sorted((DATA / "task_layout" / "storage").iterdir(), key=lambda p: int(p.stem))
    assert [p.name for p in tasks] == [
        f"{i}.json" for i in (1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 16)
    ]
    for path in tasks:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["id"] == int(path.stem)
        assert all(isinstance(p, int) for p in data["predictions"])
    # The update overwrote task 3's file in place: the wrist moved and is marked as changed.
    before = json.loads((DATA / "annotation_layout" / "steps" / "3.before-update").read_text())
    after = json.loads((DATA / "annotation_layout" / "storage" / "3").read_text())
    assert before["result"][0]["origin"] == "prediction"
    assert after["result"][0]["origin"] == "prediction-changed"
    assert after["updated_at"] > before["updated_at"]


def test_reindex_counts_storage_files_apart_from_exports(tmp_path: Path) -> None:
    """A storage file is not an export: reindex says what it read in its own words."""
    folder = _folder(tmp_path, "annotation_layout", "storage_plus_snapshot", frames_field=False)
    storage = sum(1 for _ in (DATA / "annotation_layout" / "storage").iterdir())
    before = check_json(folder)
    out = run_cli("reindex", cwd=folder)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.endswith(
        f": 1 export and {storage} storage files read, 0 refused; the ledger is unchanged"
    ), first
    assert check_json(folder)["frames"] == before["frames"]
