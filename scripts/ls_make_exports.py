#!/usr/bin/env python3
"""Drive a real local Label Studio through its REST API and save its exports of both shapes.

The generator in `fixtures/generate.py` imitates Label Studio; these files are what Label
Studio itself writes, so the parser's tests can check the imitation against the real thing.

Only the standard library is used, so this runs with any Python 3.11 without touching the
project's environment. Label Studio itself lives in its own venv (see scripts/README.md).

    python3 scripts/ls_make_exports.py --url http://127.0.0.1:8089 --token <40 hex> \
        --out tests/data/ls_real

Everything is sent to --url only, which must be a loopback address.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <KeyPointLabels name="kp" toName="image" strokeWidth="2" smart="false">
    <Label value="wrist" background="#ff6b6b"/>
    <Label value="thumb_tip" background="#feca57"/>
    <Label value="index_tip" background="#48dbfb"/>
    <Label value="middle_tip" background="#1dd1a1"/>
    <Label value="ring_tip" background="#5f27cd"/>
    <Label value="pinky_tip" background="#ff9ff3"/>
  </KeyPointLabels>
  <Choices name="grasp" toName="image" choice="single" showInline="true">
    <Choice value="power"/>
    <Choice value="precision"/>
    <Choice value="none"/>
  </Choices>
</View>
"""

KEYPOINTS = ["wrist", "thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip"]
OLD_RELEASE = "hand-kp-2026.10"
NEW_RELEASE = "hand-kp-2026.11"
WIDTH, HEIGHT = 1280, 720

# (task_subdir, episode, frames): 4 task_subdirs incl. a non-ASCII one, as the generator has.
EPISODES = [
    ("pick_cube", "ep_0001", 6),
    ("stack_blocks", "ep_0002", 6),
    ("pour_water", "ep_0003", 6),
    ("greifen_würfel", "ep_0004", 6),
    ("pick_cube", "ep_0005", 4),
]


class LabelStudio:
    def __init__(self, url: str, token: str) -> None:
        host = urllib.parse.urlsplit(url).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise SystemExit(f"refusing to talk to {url}: only a loopback Label Studio is allowed")
        self.url = url.rstrip("/")
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, *, raw: bool = False
    ) -> tuple[Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                content = response.read()
                headers = dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise SystemExit(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        if raw:
            # Exports are kept byte for byte: their formatting is part of what we record.
            return content, headers
        if headers.get("Content-Type", "").startswith("application/json") and content:
            return json.loads(content), headers
        return content, headers


def image_path(subdir: str, episode: str, frame: int, encode: bool) -> str:
    rel = f"episodes/{subdir}/{episode}/frame_{frame:06d}.jpg"
    # Label Studio's local-files URLs appear both plain and percent-encoded in the wild.
    return "/data/local-files/?d=" + (urllib.parse.quote(rel, safe="") if encode else rel)


def prediction_result(rng: random.Random, grasp: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for i, name in enumerate(KEYPOINTS):
        result.append(
            {
                "id": f"kp{rng.randrange(16**6):06x}{i}",
                "type": "keypointlabels",
                "from_name": "kp",
                "to_name": "image",
                "original_width": WIDTH,
                "original_height": HEIGHT,
                "image_rotation": 0,
                "value": {
                    "x": round(rng.uniform(20, 80), 4),
                    "y": round(rng.uniform(20, 80), 4),
                    "width": 0.6,
                    "keypointlabels": [name],
                },
                "score": round(rng.uniform(0.5, 0.99), 4),
            }
        )
    result.append(
        {
            "id": f"gr{rng.randrange(16**6):06x}",
            "type": "choices",
            "from_name": "grasp",
            "to_name": "image",
            "value": {"choices": [grasp]},
        }
    )
    return result


def as_annotation(pred: list[dict[str, Any]], origin: str | None) -> list[dict[str, Any]]:
    """What the editor submits when the labeler accepts the pre-annotation unchanged."""
    out = []
    for region in pred:
        copy = json.loads(json.dumps(region))
        copy.pop("score", None)
        if origin is not None:
            copy["origin"] = origin
        out.append(copy)
    return out


def move(region: dict[str, Any], rng: random.Random, origin: str | None) -> None:
    region["value"]["x"] = region["value"]["x"] + rng.uniform(1.5, 4.0)
    region["value"]["y"] = region["value"]["y"] - rng.uniform(1.5, 4.0)
    if origin is not None:
        region["origin"] = origin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8089")
    parser.add_argument("--token", required=True)
    parser.add_argument("--out", type=Path, default=Path("tests/data/ls_real"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    ls = LabelStudio(args.url, args.token)

    version, _ = ls.call("GET", "/api/version")
    project, _ = ls.call(
        "POST",
        "/api/projects/",
        {"title": "hand-kp retrain-gate sample", "label_config": LABEL_CONFIG},
    )
    pid = project["id"]

    # Tasks, in import batches so that the two releases get distinct created_at ranges.
    old_batch: list[dict[str, Any]] = []
    new_batch: list[dict[str, Any]] = []
    scratch_batch: list[dict[str, Any]] = []
    for e, (subdir, episode, n) in enumerate(EPISODES):
        for k in range(n):
            frame = 10 * k + 3
            task: dict[str, Any] = {
                "data": {
                    "image": image_path(subdir, episode, frame, encode=(k % 3 == 2)),
                    "n_frames": n,
                }
            }
            grasp = rng.choice(["power", "precision"])
            if e == 4 and k < 2:
                scratch_batch.append(task)  # no pre-annotation: labeled from scratch
            elif e < 2:
                pred = {"model_version": OLD_RELEASE, "score": 0.8}
                task["predictions"] = [{**pred, "result": prediction_result(rng, grasp)}]
                old_batch.append(task)
            else:
                pred = {"model_version": NEW_RELEASE, "score": 0.8}
                task["predictions"] = [{**pred, "result": prediction_result(rng, grasp)}]
                new_batch.append(task)
    # Frames that the default episode pattern does not map. (A task without the `image` key is
    # refused by the import: "image" key is expected in task data.)
    scratch_batch.append({"data": {"image": "calibration_board.jpg"}})
    scratch_batch.append({"data": {"image": "https://cdn.example.com/calib_02.jpg"}})

    ls.call("POST", f"/api/projects/{pid}/import", old_batch)
    time.sleep(1.1)
    ls.call("POST", f"/api/projects/{pid}/import", new_batch)
    ls.call("POST", f"/api/projects/{pid}/import", scratch_batch)
    tasks = ls_all_tasks(ls, pid)
    # The backlog gets pre-annotated again by the new model: one task with two predictions,
    # later annotated through the API without naming its parent prediction.
    repredicted = min(t["id"] for t in tasks if "ep_0002" in t["data"]["image"])
    ls.call(
        "POST",
        "/api/predictions/",
        {
            "task": repredicted,
            "model_version": NEW_RELEASE,
            "score": 0.9,
            "result": prediction_result(rng, "power"),
        },
    )
    counts_extra = {"repredicted_task": repredicted}
    by_image = {t["data"]["image"]: t for t in tasks}
    # Label Studio copies the project's current model_version prediction into annotation.prediction
    # when an annotation is created; setting it shows that path in the export.
    ls.call("PATCH", f"/api/projects/{pid}", {"model_version": NEW_RELEASE})

    second_user = make_second_user(ls)
    counts = {"cancelled": 0, "ground_truth": 0, "draft": 0, "api_no_origin": 0}
    plan = []
    for t in sorted(tasks, key=lambda t: t["id"]):
        preds, _ = ls.call("GET", f"/api/predictions/?task={t['id']}")
        plan.append((t, preds))
    revised: int | None = None
    for idx, (task, preds) in enumerate(plan):
        tid = task["id"]
        pred = max(preds, key=lambda p: p["id"]) if preds else None
        if tid == repredicted and pred is not None:
            result = as_annotation(pred["result"], None)
            body = {"result": result, "lead_time": 9.0}  # no parent_prediction, no origin
            ls.call("POST", f"/api/tasks/{tid}/annotations/", body)
            counts["api_no_origin"] += 1
            continue
        body: dict[str, Any]
        kind = idx % 10
        if "episodes" not in task["data"]["image"]:
            result = prediction_result(rng, "none")
            body = {"result": as_annotation(result, "manual"), "lead_time": 12.5}
            ls.call("POST", f"/api/tasks/{tid}/annotations/", body)
            continue
        if pred is None:
            if idx % 2 == 0:
                body = {"result": as_annotation(prediction_result(rng, "power"), "manual")}
                body["lead_time"] = 48.2
                ls.call("POST", f"/api/tasks/{tid}/annotations/", body)
            continue
        presult = pred["result"]
        if kind in (0, 1, 2):  # accepted in the editor
            body = {"result": as_annotation(presult, "prediction"), "parent_prediction": pred["id"]}
        elif kind in (3, 4):  # two points dragged in the editor
            result = as_annotation(presult, "prediction")
            move(result[1], rng, "prediction-changed")
            move(result[3], rng, "prediction-changed")
            body = {"result": result, "parent_prediction": pred["id"]}
        elif kind == 5:  # one point deleted, one added by hand
            result = as_annotation(presult, "prediction")
            del result[5]
            extra = as_annotation(prediction_result(rng, "power")[5:6], "manual")
            extra[0]["id"] = f"man{tid:05d}"
            body = {"result": result + extra, "parent_prediction": pred["id"]}
        elif kind == 6:  # written by a script through the API: no origin at all
            result = as_annotation(presult, None)
            if idx % 20 == 6:
                move(result[2], rng, None)
            body = {"result": result, "parent_prediction": pred["id"]}
            counts["api_no_origin"] += 1
        elif kind == 7:  # skipped in the editor
            body = {"result": [], "was_cancelled": True, "parent_prediction": pred["id"]}
            counts["cancelled"] += 1
        elif kind == 8:  # only a draft so far
            draft = {"result": as_annotation(presult, "prediction"), "lead_time": 3.1}
            ls.call("POST", f"/api/tasks/{tid}/drafts", draft)
            counts["draft"] += 1
            continue
        else:  # not yet labeled
            continue
        body.setdefault("lead_time", round(rng.uniform(5, 90), 3))
        created, _ = ls.call("POST", f"/api/tasks/{tid}/annotations/", body)
        if kind in (0, 1, 2) and revised is None:
            revised = int(created["id"])
        if kind == 4 and second_user is not None:
            # A reviewer's corrected version, marked as ground truth.
            gt = as_annotation(presult, "prediction")
            move(gt[0], rng, "prediction-changed")
            gt_body = {
                "result": gt,
                "ground_truth": True,
                "completed_by": second_user,
                "parent_prediction": pred["id"],
                "lead_time": 20.0,
            }
            ls.call("POST", f"/api/tasks/{tid}/annotations/", gt_body)
            counts["ground_truth"] += 1

    if revised is not None:
        # A re-review: the labeler reopens an accepted frame and drags one point.
        current, _ = ls.call("GET", f"/api/annotations/{revised}/")
        result = current["result"]
        move(result[0], rng, "prediction-changed")
        ls.call("PATCH", f"/api/annotations/{revised}/", {"result": result})
        counts_extra["revised_annotation"] = revised

    args.out.mkdir(parents=True, exist_ok=True)
    # (a) The default export: GET /export, what the "Export -> JSON" button downloads.
    raw, headers = ls.call("GET", f"/api/projects/{pid}/export?exportType=JSON", raw=True)
    default_name = filename_of(headers) or f"project-{pid}-default.json"
    (args.out / "ls_default_export.json").write_bytes(raw)
    # (b) An export snapshot with full prediction and draft objects.
    options = {
        "predictions": {"only_id": False},
        "drafts": {"only_id": False},
        "annotations__completed_by": {"only_id": True},
    }
    raw, snapshot_name = make_snapshot(ls, pid, options)
    snapshot_name = snapshot_name or f"project-{pid}-snapshot.json"
    (args.out / "ls_snapshot_export.json").write_bytes(raw)

    meta = {
        "label_studio": version.get("release"),
        "project": pid,
        "default_export_filename": default_name,
        "snapshot_export_filename": snapshot_name,
        "second_user": second_user,
        "by_image_count": len(by_image),
        **counts,
        **counts_extra,
    }
    (args.out / "make_info.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta, indent=2))
    return 0


def make_snapshot(ls: LabelStudio, pid: int, options: dict[str, Any]) -> tuple[bytes, str | None]:
    """POST /exports/ with these serialization options, wait for it, download it."""
    snapshot, _ = ls.call(
        "POST",
        f"/api/projects/{pid}/exports/",
        {"title": "retrain-gate full snapshot", "serialization_options": options},
    )
    eid = snapshot["id"]
    for _ in range(120):
        info, _ = ls.call("GET", f"/api/projects/{pid}/exports/{eid}")
        if info["status"] in ("completed", "failed"):
            break
        time.sleep(0.5)
    if info["status"] != "completed":
        raise SystemExit(f"snapshot export {eid} ended as {info['status']}")
    download = f"/api/projects/{pid}/exports/{eid}/download?exportType=JSON"
    raw, headers = ls.call("GET", download, raw=True)
    return raw, filename_of(headers)


def ls_all_tasks(ls: LabelStudio, pid: int) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    page = 1
    while True:
        body, _ = ls.call("GET", f"/api/tasks/?project={pid}&page={page}&page_size=100")
        batch = body["tasks"] if isinstance(body, dict) else body
        tasks.extend(batch)
        if len(batch) < 100:
            return tasks
        page += 1


def make_second_user(ls: LabelStudio) -> int | None:
    users, _ = ls.call("GET", "/api/users/")
    for user in users if isinstance(users, list) else []:
        if user.get("email") == "reviewer@example.com":
            return int(user["id"])
    try:
        user, _ = ls.call(
            "POST",
            "/api/users/",
            {"email": "reviewer@example.com", "username": "reviewer", "first_name": "Rev"},
        )
    except SystemExit as exc:
        print(f"no second user ({exc}); ground-truth annotations will be skipped", file=sys.stderr)
        return None
    return int(user["id"])


def filename_of(headers: dict[str, str]) -> str | None:
    disposition = headers.get("Content-Disposition", "")
    if "filename=" not in disposition:
        return None
    return disposition.split("filename=", 1)[1].strip().strip('"')


if __name__ == "__main__":
    sys.exit(main())
