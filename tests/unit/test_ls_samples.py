"""Every real Label Studio file in tests/data/ls_samples either ingests or gets a clear refusal.

The files and their licences are listed in tests/data/ls_samples/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from tests.readkit import load

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ls_samples"

# file -> (frames, reviewed, corrected, release) worked out by reading each file, or the refusal.
EXPECTED: dict[str, tuple[int, int, int, str | None] | str] = {
    # 2 tasks, both reviewed from prediction "model 0": task 1 has origin prediction-changed,
    # task 2 adds a manual region: both corrected.
    "lssdk_csv_test.json": (2, 2, 2, "model 0"),
    "lssdk_csv_test2.json": (1, 1, 0, None),
    "lssdk_csv_test_history.json": (1, 1, 0, None),
    "lssdk_data_keypoints.json": (1, 1, 0, None),
    "lssdk_json_min_input_data.json": (1, 1, 0, None),
    "lsconverter_ls-video.json": (1, 1, 0, None),
    "ls_previous_export.json": (1, 1, 0, None),
    "lssdk_csv_test2_result.csv": "CSV export",
    "SOURCES.md": "Markdown",
}


def test_every_sample_is_covered() -> None:
    assert {p.name for p in SAMPLES.iterdir()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str) -> None:
    path = SAMPLES / name
    expected = EXPECTED[name]
    if isinstance(expected, str):
        with pytest.raises(ExportRefused) as caught:
            load(path, Config())
        assert expected in caught.value.reason
        assert 'export the project as "JSON"' in caught.value.reason
        return
    frames = load(path, Config()).frames
    releases = set(frames["release"].drop_nulls())
    assert (
        frames.height,
        int((frames["status"] == "reviewed").sum()),
        int(frames["corrected"].sum()),
        releases.pop() if releases else None,
    ) == expected
