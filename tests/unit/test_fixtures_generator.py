"""The export generator (fixtures/generate.py) and the committed demo it produced, in-process
(that `check` says what the demo's README states: tests/test_fixtures_generator.py).

The demo check reads the JSON files with a small, independent reading of docs/semantics.md
§1-§4 and §7, so a generator bug (a "corrected" frame that the files do not show as corrected)
fails here rather than in a metrics test downstream.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("fixtures_generate", ROOT / "fixtures/generate.py")
assert _spec is not None and _spec.loader is not None
gen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gen  # dataclasses resolve annotations through sys.modules
_spec.loader.exec_module(gen)

LS_NAME = re.compile(r"^project-\d+-at-\d{4}-\d\d-\d\d-\d\d-\d\d-[0-9a-f]{8}\.json$")
PATTERN = re.compile(r"(?P<task_subdir>[^/]+)/(?P<episode>[^/]+)/[^/]+$")
SMALL = dataclasses.replace(gen.Params(), seed=5, frames=400, days=3, frames_per_episode=(5, 12))


def _load(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_bytes())
    assert isinstance(data, list)
    return data


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = gen.generate(SMALL, tmp_path / "a")
    b = gen.generate(SMALL, tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    other = gen.generate(dataclasses.replace(SMALL, seed=6), tmp_path / "c")
    assert other[-1].read_bytes() != a[-1].read_bytes()


def test_snapshots_are_cumulative_and_named_like_label_studio(tmp_path: Path) -> None:
    paths = gen.generate(SMALL, tmp_path)
    assert len(paths) == 3
    assert all(LS_NAME.match(p.name) for p in paths)
    mtimes = [p.stat().st_mtime for p in paths]
    assert mtimes == sorted(mtimes) and len(set(mtimes)) == 3
    previous: dict[int, dict[str, Any]] = {}
    re_reviewed = 0
    for path in paths:
        tasks = {t["id"]: t for t in _load(path)}
        assert set(previous) <= set(tasks), "a later snapshot lost a frame"
        for tid, old in previous.items():
            assert tasks[tid]["updated_at"] >= old["updated_at"]
            assert tasks[tid]["data"] == old["data"]
            re_reviewed += tasks[tid]["updated_at"] > old["updated_at"]
        previous = tasks
    assert re_reviewed > 0, "no frame changed between days"


def test_both_shapes_describe_the_same_tasks(tmp_path: Path) -> None:
    params = dataclasses.replace(SMALL, days=1)
    snap = {t["id"]: t for t in _load(gen.generate(params, tmp_path / "s", "snapshot")[0])}
    comm = {t["id"]: t for t in _load(gen.generate(params, tmp_path / "c", "community")[0])}
    # The default export holds exactly the tasks that have an annotation (cancelled included).
    assert set(comm) == {tid for tid, t in snap.items() if t["annotations"]}
    assert len(comm) < len(snap)
    for tid, c in comm.items():
        s = snap[tid]
        assert c["data"] == s["data"] and c["updated_at"] == s["updated_at"]
        assert c["predictions"] == [p["id"] for p in s["predictions"]]
        assert all(isinstance(p, dict) for p in s["predictions"])
        for ca, sa in zip(c["annotations"], s["annotations"], strict=True):
            assert ca["prediction"] == {}
            assert {k: v for k, v in ca.items() if k != "prediction"} == {
                k: v for k, v in sa.items() if k != "prediction"
            }


def test_the_project_exercises_every_rule(tmp_path: Path) -> None:
    params = dataclasses.replace(gen.Params(), seed=3, frames=3000, days=1)
    tasks = _load(gen.generate(params, tmp_path)[0])
    anns = [a for t in tasks for a in t["annotations"]]
    origins = Counter(r.get("origin") for a in anns for r in a["result"])
    assert {"prediction", "prediction-changed", "manual", None} <= set(origins)
    images = [t["data"].get("image") for t in tasks]
    assert any(i is None for i in images)
    assert any(i and "%2F" in i for i in images) and any(i and "d=episodes/" in i for i in images)
    assert any(i and "greifen_w" in i for i in images)
    assert sum(1 for i in images if i and not PATTERN.search(urllib.parse.unquote(i))) >= 2
    assert any(a["was_cancelled"] for a in anns)
    assert any(a["ground_truth"] for a in anns)
    assert any(a["parent_prediction"] is None and a["result"] for a in anns)
    assert any(not t["annotations"] for t in tasks)  # not yet labeled
    assert any(not t["predictions"] and t["annotations"] for t in tasks)  # from scratch
    assert any(t["drafts"] for t in tasks)
    assert any(len(t["predictions"]) > 1 for t in tasks)  # re-predicted backlog
    assert any(a["updated_at"][:10] != a["created_at"][:10] for a in anns)  # re-reviewed
    releases = {p["model_version"]: p["created_at"] for t in tasks for p in t["predictions"]}
    assert sorted(releases) == list(gen.RELEASES)
    assert all(t["data"]["n_frames"] >= 1 for t in tasks if "n_frames" in t["data"])


def test_keys_match_a_real_label_studio_export() -> None:
    real = ROOT / "tests/data/ls_real/ls_snapshot_export.json"
    if not real.exists():
        pytest.skip("no real Label Studio export recorded (scripts/ls_make_exports.py)")
    ours = [gen.render_task(t, 10**18, "snapshot", SMALL) for t in gen.plan(SMALL).tasks]
    theirs = _load(real)
    task = next(t for t in ours if t and t["annotations"] and t["predictions"])
    ref = next(t for t in theirs if t["annotations"] and t["predictions"])
    draft = next(d for t in ours if t for d in t["drafts"])
    # file_upload is set for tasks imported from an uploaded file, as the generator's are.
    assert [k for k in task if k != "file_upload"] == list(ref)
    assert list(task["annotations"][0]) == list(ref["annotations"][0])
    assert list(task["predictions"][0]) == list(ref["predictions"][0])
    ref_draft = next(d for t in theirs for d in t["drafts"])
    assert list(draft) == list(ref_draft)


def test_size_per_frame(tmp_path: Path) -> None:
    params = dataclasses.replace(gen.Params(), seed=1, frames=2000, days=1)
    snap = gen.generate(params, tmp_path / "s", "snapshot")[0].stat().st_size
    comm_path = gen.generate(params, tmp_path / "c", "community")[0]
    comm = comm_path.stat().st_size / len(_load(comm_path))
    # Documented in fixtures/README.md: ~5.7 KB (snapshot) and ~2.6 KB (community) a frame.
    assert 4800 < snap / 2000 < 6500
    assert 2100 < comm < 3200


# ---------------------------------------------------------------------------------------------
# An independent reading of the demo, to check the generator's intended figures.


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for k in sorted(value) for n in _numbers(value[k])]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def _blank(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | dict | list):
        return value
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return None


def _numeric_changed(ann: list[dict[str, Any]], src: list[dict[str, Any]]) -> bool:
    def groups(result: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
        out: dict[str, list[list[float]]] = {}
        for r in result:
            if r.get("type") == "relation":
                continue
            key = json.dumps(
                [r.get("from_name"), r.get("to_name"), r.get("type"), _blank(r.get("value"))]
            )
            out.setdefault(key, []).append(_numbers(r.get("value")))
        return out

    a, s = groups(ann), groups(src)
    if a.keys() != s.keys():
        return True
    for key in a:
        if len(a[key]) != len(s[key]):
            return True
        for x, y in zip(sorted(a[key]), sorted(s[key]), strict=True):
            if any(abs(p - q) > 0.5 for p, q in zip(x, y, strict=True)):
                return True
    return False


def _read_frame(task: dict[str, Any]) -> dict[str, Any]:
    anns = task["annotations"]
    live = [a for a in anns if not a["was_cancelled"]]
    out: dict[str, Any] = {"done": bool(anns), "reviewed": bool(live), "corrected": False}
    out["release"] = None
    if not live:
        return out
    a = max(live, key=lambda a: (a["ground_truth"], a["updated_at"] or a["created_at"], a["id"]))
    preds = [p for p in task["predictions"] if isinstance(p, dict)]
    parent, inline = a.get("parent_prediction"), a.get("prediction")
    source: dict[str, Any] | None = next((p for p in preds if p["id"] == parent), None)
    usable = isinstance(inline, dict) and "result" in inline
    if source is None and usable and (inline.get("id") in (None, parent) or parent is None):
        source = inline
    if source is None and parent is None and preds:
        source = max(preds, key=lambda p: (p["created_at"], p["id"]))
    if source is None:
        assert parent is None, "the demo's sources are all known"
        return out
    out["release"] = source.get("model_version") or None
    regions = [r for r in a["result"] if r.get("type") != "relation"]
    if any("origin" in r for r in regions):
        ids = {r.get("id") for r in regions}
        out["corrected"] = any(
            r.get("origin") in ("prediction-changed", "manual") for r in regions
        ) or any(r.get("id") not in ids for r in source["result"])
    else:
        out["corrected"] = _numeric_changed(regions, source["result"])
    return out


def _read_demo(exports: Path) -> dict[str, Any]:
    latest: dict[tuple[Any, Any], tuple[str, int, dict[str, Any]]] = {}
    paths = sorted(exports.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for order, path in enumerate(paths):
        for t in _load(path):
            stamps = [t.get("updated_at") or ""]
            stamps += [a.get("updated_at") or a.get("created_at") or "" for a in t["annotations"]]
            key = (t.get("project"), t["id"])
            if key not in latest or (max(stamps), order) >= latest[key][:2]:
                latest[key] = (max(stamps), order, t)
    frames: Counter[str] = Counter()
    episodes: dict[tuple[str, str], dict[str, Any]] = {}
    for _, _, t in latest.values():
        frames["total"] += 1
        f = _read_frame(t)
        image = t["data"].get("image")
        m = PATTERN.search(urllib.parse.unquote(image)) if isinstance(image, str) else None
        if m is None:  # counted in total and unmapped only (§2)
            frames["unmapped"] += 1
            continue
        frames["reviewed"] += f["reviewed"]
        frames["skipped"] += f["done"] and not f["reviewed"]
        frames["corrected"] += f["corrected"]
        ep = episodes.setdefault(
            (m["task_subdir"], m["episode"]), {"done": 0, "n": 0, "corrected": 0, "rel": []}
        )
        ep["done"] += f["done"]
        ep["n"] = max(ep["n"], t["data"].get("n_frames", 0))
        ep["corrected"] += f["corrected"]
        if f["release"]:
            ep["rel"].append(f["release"])
    per_release: dict[str, list[int]] = {}
    harvested = 0
    for ep in episodes.values():
        if ep["done"] >= ep["n"]:
            harvested += 1
            if ep["rel"]:
                counts = Counter(ep["rel"])
                top = max(counts, key=lambda r: (counts[r], r))
                per_release.setdefault(top, []).append(ep["corrected"])
    return {
        "frames": dict(sorted(frames.items())),
        "episodes": {"total": len(episodes), "harvested": harvested},
        "releases": [
            {"model_version": r, "episodes": len(v), "per_episode": sorted(v)}
            for r, v in sorted(per_release.items())
        ],
    }


def test_the_demo_tells_its_story() -> None:
    demo = gen.DEMO_DIR
    intended = json.loads((demo / "intended.json").read_text(encoding="utf-8"))
    read = _read_demo(demo / "exports")
    assert read["frames"] == intended["frames"]
    assert read["episodes"]["harvested"] == intended["episodes"]["harvested"]
    assert read["releases"] == [
        {k: r[k] for k in ("model_version", "episodes", "per_episode")}
        for r in intended["releases"]
    ]
    harvested = intended["episodes"]["harvested_per_task"]
    assert 40 <= intended["episodes"]["harvested"] <= 60 and all(harvested.values())
    prev, new = intended["releases"][-2:]
    assert [r["model_version"] for r in intended["releases"]] == list(gen.RELEASES)
    assert prev["episodes"] >= 10 and new["episodes"] >= 10
    assert new["cpe"] > 1.25 * prev["cpe"] * 2
    assert intended["regression_p_value"] < 0.001
    size = sum(p.stat().st_size for p in demo.rglob("*") if p.is_file())
    assert size < 2.7e6


def test_the_demo_is_what_the_documented_command_writes(tmp_path: Path) -> None:
    gen.regenerate_demo(tmp_path)
    committed = gen.DEMO_DIR
    for sub in ("exports", "eval"):
        ours = sorted(p.name for p in (tmp_path / sub).iterdir())
        assert ours == sorted(p.name for p in (committed / sub).iterdir() if p.is_file())
        for name in ours:
            assert (tmp_path / sub / name).read_bytes() == (committed / sub / name).read_bytes()
    assert (tmp_path / "intended.json").read_bytes() == (committed / "intended.json").read_bytes()
