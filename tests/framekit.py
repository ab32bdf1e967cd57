"""Hand-built frame tables for metric tests: a few dict rows -> a FRAME_SCHEMA DataFrame.

Only the columns a test cares about need to be given; the rest get neutral defaults, so each
test reads as the handful of facts its arithmetic depends on.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import polars as pl

from retrain_gate.models import FRAME_SCHEMA

_ids = count(1)


def frame(
    task: str | None,
    episode: str | None,
    status: str = "reviewed",
    *,
    corrected: bool = False,
    release: str | None = None,
    created_at: str | None = None,
    episode_frames: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One frame row. `release` given means the frame had a source prediction of it."""
    task_id = next(_ids)
    row: dict[str, Any] = {
        "project": 1,
        "task_id": task_id,
        "stamp": "2024-01-01T00:00:00Z",
        "arrival_mtime_ns": 0,
        "arrival_name": "export.json",
        "path": None if task is None else f"/data/{task}/{episode}/{task_id}.jpg",
        "task_subdir": task,
        "episode": episode,
        "episode_frames": episode_frames,
        "status": status,
        "has_source": status == "reviewed" and release is not None,
        "corrected": corrected,
        "correction_unknown": False,
        "release": release,
        "release_created_at": created_at,
    }
    row.update(extra)
    return row


def episode(
    task: str,
    name: str,
    *,
    frames: int = 1,
    corrected: int = 0,
    release: str | None = None,
    created_at: str | None = None,
    status: str = "reviewed",
) -> list[dict[str, Any]]:
    """`frames` frames of one episode, the first `corrected` of them corrected."""
    return [
        frame(
            task,
            name,
            status,
            corrected=i < corrected,
            release=release,
            created_at=created_at,
        )
        for i in range(frames)
    ]


def frames_table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FRAME_SCHEMA)


def delta_episodes(counts: dict[str, int], **kwargs: Any) -> list[dict[str, Any]]:
    """`counts[task]` harvested one-frame episodes per task."""
    rows: list[dict[str, Any]] = []
    for task, n in counts.items():
        for i in range(n):
            rows += episode(task, f"ep{i}", **kwargs)
    return rows
