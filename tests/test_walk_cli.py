"""From the newcomer walkthrough of round 2: what the CLI says is what the user wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import run


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?P<task_subdir>[^/]+)/(?P<episode>[^/]+)/\1",  # a back-reference
        r"(?P<task_subdir>\w+)/(?<=x)(?P<episode>\d+)/",  # look-behind, with classes
    ],
)
def test_a_refused_pattern_is_quoted_as_written(tmp_path: Path, pattern: str) -> None:
    # Written as a TOML literal string, as docs/sources.md shows: every backslash is one.
    (tmp_path / "config.toml").write_text(f"[episodes]\npattern = '{pattern}'\n", encoding="utf-8")
    result = run("check", cwd=tmp_path)
    assert result.returncode == 2
    # the value quoted back can be searched for in the file (repr doubled each backslash)
    assert f"(got '{pattern}')" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
