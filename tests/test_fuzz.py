"""Fuzzing the export reader: generated Label Studio exports, then broken in every field.

The reader either ingests or refuses cleanly (`ExportRefused`), never raises anything else,
and a refusal never changes the store. The default run is short; `-m slow` runs long.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.store import FrameStore
from tests.readkit import load

JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

origins = st.sampled_from(["prediction", "prediction-changed", "manual", None])


@st.composite
def region(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": draw(st.sampled_from(["a", "b", "c"])),
        "type": draw(st.sampled_from(["keypointlabels", "choices", "relation"])),
        "from_name": "kp",
        "to_name": "image",
        "value": {
            "x": draw(st.floats(0, 100)),
            "y": draw(st.floats(0, 100)),
            "keypointlabels": [draw(st.sampled_from(["thumb", "wrist"]))],
        },
    }
    origin = draw(origins)
    if origin is not None:
        out["origin"] = origin
    return out


stamps = st.sampled_from(
    ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00.5Z", "2026-01-03T00:00:00Z", None]
)


@st.composite
def annotation(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": draw(st.integers(1, 5)),
        "result": draw(st.lists(region(), max_size=3)),
        "was_cancelled": draw(st.booleans()),
        "ground_truth": draw(st.booleans()),
        "created_at": draw(stamps),
        "updated_at": draw(stamps),
        "parent_prediction": draw(st.none() | st.integers(1, 3)),
        "prediction": draw(st.just({}) | st.builds(dict)),
    }


@st.composite
def prediction(draw: st.DrawFn) -> dict[str, Any] | int:
    if draw(st.booleans()):
        return draw(st.integers(1, 3))
    return {
        "id": draw(st.integers(1, 3)),
        "model_version": draw(st.sampled_from(["m1", "m2", "", None])),
        "created_at": draw(stamps),
        "result": draw(st.lists(region(), max_size=3)),
    }


@st.composite
def ls_task(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": draw(st.integers(1, 6)),
        "project": draw(st.none() | st.integers(1, 2)),
        "updated_at": draw(stamps),
        "data": {
            "image": draw(
                st.sampled_from(
                    ["/d/?d=e/pick/ep1/f1.jpg", "/d/?d=e%2Fst%C3%BCck%2Fep2%2Ff.jpg", "x.jpg"]
                )
            ),
            "n_frames": draw(st.none() | st.integers(-2, 5)),
        },
        "annotations": draw(st.lists(annotation(), max_size=3)),
        "predictions": draw(st.lists(prediction(), max_size=3)),
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


@st.composite
def broken_export(draw: st.DrawFn) -> bytes:
    tasks: Any = draw(st.lists(ls_task(), min_size=1, max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(tasks)))
        tasks = _replace(tasks, path, draw(JSON_ANY))
    raw = json.dumps(tasks).encode("utf-8")
    cut = draw(st.none() | st.integers(0, len(raw)))
    if cut is not None and draw(st.integers(0, 4)) == 0:
        raw = raw[:cut]  # truncated mid-write
    return raw


def _check_one(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(raw)
    try:
        load(path, Config())
    except ExportRefused as exc:
        assert str(path) in str(exc)
        assert "could not read this export" not in exc.reason


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(raw=broken_export())
def test_the_reader_ingests_or_refuses(tmp_path: Path, raw: bytes) -> None:
    _check_one(tmp_path, raw)


@pytest.mark.slow
@settings(
    max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=broken_export())
def test_the_reader_ingests_or_refuses_long(tmp_path: Path, raw: bytes) -> None:
    _check_one(tmp_path, raw)


@FUZZ
@given(raw=broken_export())
def test_a_refusal_never_changes_the_store(tmp_path: Path, raw: bytes) -> None:
    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))  # a fresh folder for each example
    state = tmp_path / "state"
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps([{"id": 1, "data": {"image": "e/pick/ep1/f.jpg"}, "annotations": []}]),
        encoding="utf-8",
    )
    store = FrameStore(state, Config())
    store.ingest(good)
    before = store.frames()
    bad = tmp_path / "maybe-bad.json"
    bad.write_bytes(raw)
    os.utime(bad, (2_000_000_000, 2_000_000_000))
    result = store.ingest(bad)
    assert "could not read this export" not in result.reason
    if result.outcome == "refused":
        assert store.frames().equals(before)
        assert FrameStore(state, Config()).frames().equals(before)
