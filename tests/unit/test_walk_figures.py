"""From the newcomer walkthrough of round 2: the eval panel at the dashboard's widths."""

from __future__ import annotations

import pytest

from retrain_gate.config import Config
from retrain_gate.text import NOT_APPLICABLE
from retrain_gate.tui import figures
from retrain_gate.tui.screens import HELP
from tests.test_tui_snapshots import WAIT

HASH = "36989d10" + "0" * 56


def pinned_by(name: str) -> str:
    ev = WAIT.eval.model_copy(
        update={
            "status": "pinned",
            "pinned_hash": HASH,
            "current_hash": HASH,
            "pinned_by": name,
            "pinned_at": "2026-12-07T04:04:31.963672Z",
        }
    )
    return figures.eval_panel(WAIT.model_copy(update={"eval": ev}), Config(), 56).plain


def test_a_short_name_keeps_the_pin_on_one_line() -> None:
    # 56 columns: the eval panel's inside at 120x40
    first = pinned_by("Ana Ruiz").splitlines()[0]
    assert first == "✓ pinned  36989d10  by Ana Ruiz, 2026-12-07 04:04"


@pytest.mark.parametrize("name", ["Ana Ruiz-Fernández de Castro", "x" * 60])
def test_a_long_name_goes_under_the_hash_and_no_line_overflows(name: str) -> None:
    lines = pinned_by(name).splitlines()
    assert lines[0] == "✓ pinned  36989d10"
    # under the hash, as `current` is: wrapped by the panel, the time fell to column 0
    assert lines[1].startswith(" " * 10 + "by " + name[:20])
    assert all(len(line) <= 56 for line in lines), lines
    assert lines[1].endswith(", 2026-12-07 04:04")  # a long name is cut, never the time
    assert lines[2].strip() == "current 36989d10 (the same)"


def test_the_help_names_the_not_applicable_state_the_panel_shows() -> None:
    # With one release the quality panel says "not applicable yet"; the help defined only
    # "insufficient data", so a newcomer found no word for what the panel said.
    rows = dict(row for _, section in HELP for row in section)
    assert '"not applicable yet"' in rows["regression"]
    assert NOT_APPLICABLE == "not applicable yet"
