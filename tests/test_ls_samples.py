"""Every real Label Studio file in ../shared/ls-samples either ingests or gets a clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.labelstudio.export import read_export

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "ls-samples"

# file -> (frames, reviewed, corrected, release) worked out by reading each file, or the refusal.
EXPECTED: dict[str, tuple[int, int, int, str | None] | str] = {
    # 2 tasks, both reviewed from prediction "model 0": task 1 has origin prediction-changed,
    # task 2 adds a manual region: both corrected.
    "lssdk_csv_test.json": (2, 2, 2, "model 0"),
    "lssdk_csv_test2.json": (1, 1, 0, None),
    "lssdk_csv_test_history.json": (1, 1, 0, None),
    "lssdk_data_keypoints.json": (1, 1, 0, None),
    "lssdk_json_min_input_data.json": (1, 1, 0, None),
    "gusalbukrk_polygon_exported.json": (32, 32, 0, None),
    "optimizasean_data.json": (1, 1, 0, None),
    "lsconverter_ls-video.json": (1, 1, 0, None),
    "ls_previous_export.json": (1, 1, 0, None),
    "gusalbukrk_magicwand_exported.json": "JSON_MIN",
    "sintsun_project-2-at-2025-09-26-03-32-af369579.json": "JSON_MIN",
    "lssdk_csv_test2_result.csv": "CSV export",
    "SOURCES.md": "Markdown",
}


def test_every_sample_is_covered() -> None:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/ls-samples is not beside this checkout")
    assert {p.name for p in SAMPLES.iterdir()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str) -> None:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip("../shared/ls-samples is not beside this checkout")
    expected = EXPECTED[name]
    if isinstance(expected, str):
        with pytest.raises(ExportRefused) as caught:
            read_export(path, Config())
        assert expected in caught.value.reason
        assert 'export the project as "JSON"' in caught.value.reason
        return
    frames = read_export(path, Config()).frames
    releases = set(frames["release"].drop_nulls())
    assert (
        frames.height,
        int((frames["status"] == "reviewed").sum()),
        int(frames["corrected"].sum()),
        releases.pop() if releases else None,
    ) == expected
