"""Tiny builders for hand-written Label Studio tasks: only the keys a test is about.

They write the same JSON shapes Label Studio does (see tests/data/ls_samples); each test states
the answer it expects, worked out by hand from the semantics.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def kp(
    x: float, y: float, *, rid: str = "r1", origin: str | None = None, label: str = "thumb"
) -> dict[str, Any]:
    region: dict[str, Any] = {
        "id": rid,
        "type": "keypointlabels",
        "from_name": "kp",
        "to_name": "image",
        "original_width": 640,
        "original_height": 480,
        "value": {"x": x, "y": y, "width": 0.6, "keypointlabels": [label]},
    }
    if origin is not None:
        region["origin"] = origin
    return region


def pred(
    pid: int, result: list[dict[str, Any]], *, version: str = "m1", created: str = "2026-01-01"
) -> dict[str, Any]:
    return {"id": pid, "model_version": version, "created_at": created, "result": result}


def ann(
    aid: int,
    result: list[dict[str, Any]] | None = None,
    *,
    updated: str | None = "2026-02-01T00:00:00Z",
    created: str = "2026-02-01T00:00:00Z",
    cancelled: bool = False,
    ground_truth: bool = False,
    parent: int | None = None,
    inline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": aid,
        "result": result if result is not None else [],
        "was_cancelled": cancelled,
        "ground_truth": ground_truth,
        "created_at": created,
        "parent_prediction": parent,
        "prediction": inline if inline is not None else {},
        "completed_by": 1,
    }
    if updated is not None:
        out["updated_at"] = updated
    return out


def task(
    tid: int,
    image: Any = "/data/local-files/?d=ep/pick/ep1/f1.jpg",
    *,
    annotations: list[dict[str, Any]] | None = None,
    predictions: list[Any] | None = None,
    updated: str = "2026-01-01T00:00:00Z",
    project: int | None = 1,
    **data: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": tid,
        "data": {"image": image, **data} if image is not None else dict(data),
        "annotations": annotations or [],
        "predictions": predictions or [],
        "updated_at": updated,
        "drafts": [],
        "meta": {},
    }
    if project is not None:
        out["project"] = project
    return out


def write_export(
    folder: Path, name: str, tasks: list[dict[str, Any]] | dict[str, Any], *, mtime: int
) -> Path:
    """Write an export and set its mtime (arrival order) to `mtime` seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(tasks), encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path
