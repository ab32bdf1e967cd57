#!/usr/bin/env python3
"""Record a real Label Studio local-files *target storage* folder, with a snapshot beside it.

Label Studio writes a target ("export") storage file on every annotation save: one file per
annotation named by its id without an extension (the default), or one `<task id>.json` per task
when the server runs with FUTURE_SAVE_TASK_TO_STORAGE=true. This script drives a local server
through a fixed, written-down sequence of labeling actions (see ACTIONS below and account.json)
and copies what the server wrote, byte for byte, next to a full snapshot export and the default
Community export of the same project.

    python3 scripts/ls_make_storage.py --url http://127.0.0.1:8391 --token <40 hex> \
        --storage-dir /abs/path/under/LOCAL_FILES_DOCUMENT_ROOT --out tests/data/ls_storage/x

Standard library only; everything goes to --url, which must be a loopback address (the
LabelStudio client of ls_make_exports.py refuses anything else).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ls_make_exports import (
    LABEL_CONFIG,
    NEW_RELEASE,
    OLD_RELEASE,
    LabelStudio,
    as_annotation,
    filename_of,
    image_path,
    ls_all_tasks,
    make_second_user,
    make_snapshot,
    move,
    prediction_result,
)

# (task_subdir, episode, frames, release of the imported predictions or None)
EPISODES = [
    ("pick_cube", "ep_0001", 4, OLD_RELEASE),
    ("stack_blocks", "ep_0002", 4, NEW_RELEASE),
    ("pour_water", "ep_0003", 4, NEW_RELEASE),
    ("pick_cube", "ep_0004", 3, None),
]

# What happens to each task, by its position (1-based) in import order; the fresh data dir
# makes that position the task id. Kept in step with account.json by hand.
ACTIONS = {
    1: "accepted",
    2: "corrected",
    3: "accepted-then-updated",
    4: "cancelled",
    5: "accepted",
    6: "api-no-origin-moved",
    7: "accepted+reviewer-ground-truth-corrected",
    8: "accepted-then-deleted",
    9: "accepted+reviewer-accepted-deleted-after-sync",
    10: "region-deleted-and-manual",
    11: "api-no-origin-unchanged",
    12: "cancelled",
    13: "scratch",
    14: "scratch",
    15: "draft-only",
    16: "scratch-unmapped",
}


def wait_a_moment() -> None:
    # Distinct created_at/updated_at per step, so "latest wins" has one answer everywhere.
    time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8391")
    parser.add_argument("--token", required=True)
    parser.add_argument("--storage-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    ls = LabelStudio(args.url, args.token)
    storage_dir = args.storage_dir.resolve()
    storage_dir.mkdir(parents=True, exist_ok=True)
    if any(storage_dir.iterdir()):
        raise SystemExit(f"{storage_dir} is not empty: give a fresh storage folder")

    version, _ = ls.call("GET", "/api/version")
    project, _ = ls.call(
        "POST",
        "/api/projects/",
        {"title": "hand-kp target storage sample", "label_config": LABEL_CONFIG},
    )
    pid = project["id"]
    # The storage exists before any annotation, so every save below writes its file.
    storage, _ = ls.call(
        "POST",
        "/api/storages/export/localfiles",
        {
            "project": pid,
            "title": "retrain-gate target storage",
            "path": str(storage_dir),
            "can_delete_objects": True,
        },
    )

    batches: dict[str | None, list[dict[str, Any]]] = {OLD_RELEASE: [], NEW_RELEASE: [], None: []}
    for subdir, episode, n, release in EPISODES:
        for k in range(n):
            task: dict[str, Any] = {
                "data": {
                    "image": image_path(subdir, episode, 10 * k + 3, encode=(k % 3 == 2)),
                    "n_frames": n,
                }
            }
            if release is not None:
                grasp = rng.choice(["power", "precision"])
                task["predictions"] = [
                    {
                        "model_version": release,
                        "score": 0.8,
                        "result": prediction_result(rng, grasp),
                    }
                ]
            batches[release].append(task)
    batches[None].append({"data": {"image": "calibration_board.jpg"}})
    # Separate imports, a second apart: the two releases get distinct created_at ranges.
    ls.call("POST", f"/api/projects/{pid}/import", batches[OLD_RELEASE])
    time.sleep(1.1)
    ls.call("POST", f"/api/projects/{pid}/import", batches[NEW_RELEASE])
    ls.call("POST", f"/api/projects/{pid}/import", batches[None])
    tasks = sorted(ls_all_tasks(ls, pid), key=lambda t: t["id"])
    if [t["id"] for t in tasks] != list(range(1, len(ACTIONS) + 1)):
        raise SystemExit("task ids are not 1..16: start the server with a fresh --data-dir")
    reviewer = make_second_user(ls)
    if reviewer is None:
        raise SystemExit("the second annotator is part of the recording: cannot create a user")

    def annotate(tid: int, body: dict[str, Any]) -> int:
        body.setdefault("lead_time", round(rng.uniform(5, 90), 3))
        created, _ = ls.call("POST", f"/api/tasks/{tid}/annotations/", body)
        wait_a_moment()
        return int(created["id"])

    ids: dict[str, int] = {}
    steps = args.out / "steps"
    for task in tasks:
        tid = task["id"]
        action = ACTIONS[tid]
        preds, _ = ls.call("GET", f"/api/predictions/?task={tid}")
        pred = preds[0] if preds else None
        if action.startswith("scratch"):
            result = as_annotation(prediction_result(rng, "none"), "manual")
            annotate(tid, {"result": result})
            continue
        if action == "draft-only":
            result = as_annotation(prediction_result(rng, "power"), "manual")
            ls.call("POST", f"/api/tasks/{tid}/drafts", {"result": result, "lead_time": 3.1})
            continue
        assert pred is not None, tid
        presult, parent = pred["result"], pred["id"]
        if action.startswith("accepted"):
            accepted = as_annotation(presult, "prediction")
            ids[f"t{tid}"] = annotate(tid, {"result": accepted, "parent_prediction": parent})
        elif action == "corrected":
            result = as_annotation(presult, "prediction")
            move(result[1], rng, "prediction-changed")
            move(result[3], rng, "prediction-changed")
            annotate(tid, {"result": result, "parent_prediction": parent})
        elif action == "cancelled":
            annotate(tid, {"result": [], "was_cancelled": True, "parent_prediction": parent})
        elif action.startswith("api-no-origin"):
            result = as_annotation(presult, None)
            if action.endswith("moved"):
                move(result[2], rng, None)
            annotate(tid, {"result": result, "parent_prediction": parent})
        elif action == "region-deleted-and-manual":
            result = as_annotation(presult, "prediction")
            del result[5]
            extra = as_annotation(prediction_result(rng, "power")[5:6], "manual")
            extra[0]["id"] = f"man{tid:05d}"
            annotate(tid, {"result": result + extra, "parent_prediction": parent})
        if action == "accepted+reviewer-ground-truth-corrected":
            gt = as_annotation(presult, "prediction")
            move(gt[0], rng, "prediction-changed")
            body = {"result": gt, "ground_truth": True, "completed_by": reviewer}
            ids[f"t{tid}_reviewer"] = annotate(tid, {**body, "parent_prediction": parent})
        if action == "accepted+reviewer-accepted-deleted-after-sync":
            body = {"result": as_annotation(presult, "prediction"), "completed_by": reviewer}
            ids[f"t{tid}_reviewer"] = annotate(tid, {**body, "parent_prediction": parent})

    # A re-review: the file of task 3's annotation is overwritten in place. The file as it was
    # before is kept under steps/ to show what changed.
    keep_before = sorted(storage_dir.iterdir())
    steps.mkdir(parents=True, exist_ok=True)
    for path in keep_before:
        if path.name in (str(ids["t3"]), "3.json"):
            shutil.copyfile(path, steps / f"{path.name}.before-update")
    current, _ = ls.call("GET", f"/api/annotations/{ids['t3']}/")
    result = current["result"]
    move(result[0], rng, "prediction-changed")
    ls.call("PATCH", f"/api/annotations/{ids['t3']}/", {"result": result})
    wait_a_moment()
    # Deleted while the storage may delete objects: its file goes away.
    ls.call("DELETE", f"/api/annotations/{ids['t8']}/")
    wait_a_moment()
    # "Sync" rewrites every annotation's file.
    ls.call("POST", f"/api/storages/export/localfiles/{storage['id']}/sync")
    for _ in range(120):
        info, _ = ls.call("GET", f"/api/storages/export/localfiles/{storage['id']}")
        if info.get("status") in ("completed", "failed"):
            break
        time.sleep(0.5)
    if info.get("status") != "completed":
        raise SystemExit(f"storage sync ended as {info.get('status')}")
    # After the sync, the reviewer's copy on task 9 is deleted: in the task layout Label Studio
    # removes the whole <task id>.json although the task keeps an annotation.
    ls.call("DELETE", f"/api/annotations/{ids['t9_reviewer']}/")

    args.out.mkdir(parents=True, exist_ok=True)
    out_storage = args.out / "storage"
    out_storage.mkdir(exist_ok=True)
    for path in sorted(storage_dir.iterdir()):
        shutil.copyfile(path, out_storage / path.name)

    raw, headers = ls.call("GET", f"/api/projects/{pid}/export?exportType=JSON", raw=True)
    default_name = filename_of(headers)
    (args.out / "default_export.json").write_bytes(raw)
    options = {"predictions": {"only_id": False}, "annotations__completed_by": {"only_id": True}}
    raw, snapshot_name = make_snapshot(ls, pid, options)
    (args.out / "snapshot.json").write_bytes(raw)

    meta = {
        "label_studio": version.get("release"),
        "project": pid,
        "storage_files": sorted(p.name for p in out_storage.iterdir()),
        "default_export_filename": default_name,
        "snapshot_export_filename": snapshot_name,
        "annotation_ids": ids,
        "reviewer_user": reviewer,
    }
    (args.out / "make_info.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
