"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest

from retrain_gate import exports


@pytest.fixture(params=["scanner", "msgspec"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each export read by the compiled scanner, then again with it absent (as where no C
    compiler was there at install): both must give the same figures."""
    if request.param == "msgspec":
        monkeypatch.setattr(exports, "_scan", None)
    elif exports._scan is None:
        pytest.skip("the compiled scanner (retrain_gate._scan) is not built here")
    return str(request.param)
