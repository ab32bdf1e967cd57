"""The straightforward way: `json.load` and Python loops over dicts.

An independent implementation of the gate semantics (docs/semantics.md, §1-§5
and §7) that computes the `check --json` figures of a state folder with an empty ledger. It
is the speed baseline of the harness and an independent cross-check of the engine: nothing
here comes from `retrain_gate` except, optionally, the `Config` it is given.

Only usable exports are handled (a refusal is the engine's business); with an empty ledger
nothing was ever approved, so the corpus is `[gates] initial_corpus_episodes`.
"""

from __future__ import annotations

import json
import math
import os
import re
import urllib.parse
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

_CHANGED = ("prediction-changed", "manual")


def _exact(value: float) -> Fraction:
    return Fraction(repr(value))  # the decimal the config file holds (0.1 is 1/10)


# ---------------------------------------------------------------- §1 one version per frame


def _ann_stamp(ann: dict[str, Any]) -> str:
    return ann.get("updated_at") or ann.get("created_at") or ""


def _annotations(task: dict[str, Any]) -> list[dict[str, Any]]:
    return task.get("annotations") or task.get("completions") or []


def _task_stamp(task: dict[str, Any]) -> str:
    stamps = [task.get("updated_at") or ""] + [_ann_stamp(a) for a in _annotations(task)]
    return max(stamps)


def latest_versions(paths: list[Path]) -> dict[tuple[Any, Any], dict[str, Any]]:
    """Every frame's kept version over `paths`: greatest stamp, ties to the later arrival."""
    ordered = sorted(paths, key=lambda p: (os.stat(p).st_mtime_ns, p.name))
    kept: dict[tuple[Any, Any], tuple[str, dict[str, Any]]] = {}
    for path in ordered:
        with open(path, "rb") as handle:
            data = json.load(handle)
        tasks = data if isinstance(data, list) else [data]
        for task in tasks:
            key = (task.get("project"), task["id"])
            stamp = _task_stamp(task)
            old = kept.get(key)
            if old is None or stamp >= old[0]:  # in arrival order: a tie goes to the later one
                kept[key] = (stamp, task)
    return {key: task for key, (_stamp, task) in kept.items()}


# ---------------------------------------------------------------- §3 per frame


def _chosen(annotations: list[dict[str, Any]]) -> dict[str, Any] | None:
    best = None
    best_key: tuple[Any, ...] = ()
    for ann in annotations:
        if ann.get("was_cancelled"):
            continue
        ann_id = ann.get("id")
        key = (
            bool(ann.get("ground_truth")),
            _ann_stamp(ann),
            ann_id if isinstance(ann_id, int) and not isinstance(ann_id, bool) else -1,
        )
        if best is None or key > best_key:
            best, best_key = ann, key
    return best


_UNKNOWN = object()  # a source whose content is not in the export


def _source(ann: dict[str, Any] | None, predictions: list[Any]) -> tuple[Any, Any, Any] | None:
    """(result or _UNKNOWN, model_version, created_at) of the source prediction, or None."""
    objects = [p for p in predictions if isinstance(p, dict)]
    parent = ann.get("parent_prediction") if ann is not None else None
    if parent is not None:
        for p in objects:
            if p.get("id") == parent:
                return p.get("result") or [], p.get("model_version"), p.get("created_at")
    inline = ann.get("prediction") if ann is not None else None
    if isinstance(inline, dict) and inline.get("result") is not None:
        inline_id = inline.get("id")
        if inline_id is None or parent is None or inline_id == parent:
            return inline["result"], inline.get("model_version"), inline.get("created_at")
    if parent is not None:
        return _UNKNOWN, None, None
    if not objects:
        return None

    def newest(p: dict[str, Any]) -> tuple[str, int]:
        created = p.get("created_at")
        pid = p.get("id")
        return (
            created if isinstance(created, str) else "",
            pid if isinstance(pid, int) and not isinstance(pid, bool) else -1,
        )

    latest = max(objects, key=newest)
    return latest.get("result") or [], latest.get("model_version"), latest.get("created_at")


def _plain(value: Any) -> Any:
    """Something hashable for a value that may be a list or an object."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _blank(value: Any, numbers: list[float]) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        numbers.append(float(value))
        return "<n>"
    if isinstance(value, dict):
        return tuple((k, _blank(value[k], numbers)) for k in sorted(value))
    return tuple(_blank(item, numbers) for item in value)


def _groups(result: list[dict[str, Any]]) -> dict[Any, list[list[float]]]:
    groups: dict[Any, list[list[float]]] = {}
    for region in result:
        numbers: list[float] = []
        shape = _blank(region.get("value"), numbers)
        key = (
            _plain(region.get("from_name")),
            _plain(region.get("to_name")),
            _plain(region.get("type")),
            shape,
        )
        groups.setdefault(key, []).append(numbers)
    return groups


def _moved(mine: list[dict[str, Any]], theirs: list[dict[str, Any]], tolerance: float) -> bool:
    a, b = _groups(mine), _groups(theirs)
    if set(a) != set(b):
        return True
    for key in a:
        left, right = sorted(a[key]), sorted(b[key])
        if len(left) != len(right):
            return True
        for x, y in zip(left, right, strict=True):
            if len(x) != len(y):
                return True
            for u, v in zip(x, y, strict=True):
                if abs(u - v) > tolerance:
                    return True
    return False


def _corrected(ann: dict[str, Any], result: Any, tolerance: float) -> bool | None:
    """True corrected, False not, None unknown (§3)."""
    regions = [r for r in ann.get("result") or [] if r.get("type") != "relation"]
    origins = [r.get("origin") for r in regions if r.get("origin") is not None]
    if origins:
        if any(o in _CHANGED for o in origins):
            return True
        if result is _UNKNOWN:
            return False
        mine = {_plain(r.get("id")) for r in regions}
        for region in result:
            if region.get("type") != "relation" and _plain(region.get("id")) not in mine:
                return True
        return False
    if result is _UNKNOWN:
        return None
    theirs = [r for r in result if r.get("type") != "relation"]
    return _moved(regions, theirs, tolerance)


# ---------------------------------------------------------------- §7 Mann-Whitney


def _mann_whitney_greater(new: list[int], prev: list[int]) -> float:
    n1, n2 = len(new), len(prev)
    values = sorted([(v, 0) for v in new] + [(v, 1) for v in prev])
    n = n1 + n2
    rank_sum = 0.0
    ties = 0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[j + 1][0] == values[i][0]:
            j += 1
        rank = (i + j + 2) / 2
        for k in range(i, j + 1):
            if values[k][1] == 0:
                rank_sum += rank
        size = j - i + 1
        ties += size**3 - size
        i = j + 1
    u = rank_sum - n1 * (n1 + 1) / 2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    return min(1.0, max(0.0, 0.5 * math.erfc(z / math.sqrt(2))))


# ---------------------------------------------------------------- the figures


def figures(paths: list[Path], config: Any) -> dict[str, Any]:
    """The `check --json` figures of ingesting `paths` into an empty state folder."""
    field = config.episodes.field
    frames_field = config.episodes.frames_field
    pattern = re.compile(config.episodes.pattern)
    tolerance = config.corrections.tolerance
    gates = config.gates

    counts = Counter({"reviewed": 0, "skipped": 0, "corrected": 0, "correction_unknown": 0})
    total = unmapped = 0
    # episode -> [frames, done, declared, corrected, Counter(release)]
    episodes: dict[tuple[str, str], list[Any]] = {}
    first_seen: dict[str, str | None] = {}

    for task in latest_versions(paths).values():
        total += 1
        data = task.get("data") or {}
        path = data.get(field)
        match = None
        if isinstance(path, str):
            match = pattern.search(urllib.parse.unquote(path))
        subdir = match.group("task_subdir") if match else None
        name = match.group("episode") if match else None
        if subdir is None or name is None:
            unmapped += 1
            continue
        annotations = _annotations(task)
        chosen = _chosen(annotations)
        done = chosen is not None or bool(annotations)
        if chosen is not None:
            counts["reviewed"] += 1
        elif annotations:
            counts["skipped"] += 1
        source = _source(chosen, task.get("predictions") or [])
        corrected = False
        release = None
        if source is not None:
            result, version, created = source
            if chosen is not None:
                verdict = _corrected(chosen, result, tolerance)
                corrected = verdict is True
                counts["corrected"] += corrected
                counts["correction_unknown"] += verdict is None
            if isinstance(version, str) and version:
                release = version
                created = created if isinstance(created, str) else None
                if release not in first_seen:
                    first_seen[release] = created
                elif created is not None:
                    old = first_seen[release]
                    first_seen[release] = created if old is None else min(old, created)
        ep = episodes.setdefault((subdir, name), [0, 0, None, 0, Counter()])
        ep[0] += 1
        ep[1] += done
        declared = data.get(frames_field) if frames_field else None
        if type(declared) is int and declared > 0:
            ep[2] = declared if ep[2] is None else max(ep[2], declared)
        ep[3] += corrected
        if release is not None:
            ep[4][release] += 1

    # §7 release order: earliest created_at, none last, then name
    order = sorted(first_seen, key=lambda r: (first_seen[r] is None, first_seen[r] or "", r))
    rank = {release: i for i, release in enumerate(order)}

    # §4 harvested, delta (nothing approved: every harvested episode is in the delta)
    harvested: dict[tuple[str, str], bool] = {}
    for key, (n, done, declared, _c, _r) in episodes.items():
        harvested[key] = done >= declared if declared is not None else done == n
    delta = sum(harvested.values())
    corpus = gates.initial_corpus_episodes
    if corpus == 0:
        needed = gates.min_first_train_episodes
        fraction = None
    else:
        needed = math.ceil(_exact(gates.min_delta_fraction) * corpus)
        fraction = delta / corpus

    # §5 spread
    if gates.tasks is not None:
        tasks = list(dict.fromkeys(gates.tasks))
    else:
        tasks = sorted({key[0] for key in episodes})  # unharvested or in the delta: all of them
    task_counts = {task: 0 for task in tasks}
    for key, h in harvested.items():
        if h and key[0] in task_counts:
            task_counts[key[0]] += 1
    values = list(task_counts.values())
    if len(values) < 2 or sum(values) == 0:
        gini = Fraction(0)
    else:
        pairs = sum(abs(x - y) for x in values for y in values)
        gini = Fraction(pairs, 2 * len(values) * sum(values))  # 2 n² mean = 2 n sum
    top_share = Fraction(max(values), delta) if values and delta else Fraction(0)

    # §7 releases over harvested episodes
    per_release: dict[str, list[int]] = {release: [] for release in order}
    for key, (_n, _d, _decl, corrected_frames, releases) in episodes.items():
        if not harvested[key] or not releases:
            continue
        top = max(releases, key=lambda r: (releases[r], rank[r]))
        per_release[top].append(corrected_frames)
    rows = [
        {
            "model_version": release,
            "episodes": len(per_release[release]),
            "corrected_frames": sum(per_release[release]),
            "cpe": sum(per_release[release]) / len(per_release[release])
            if per_release[release]
            else None,
        }
        for release in order
    ]
    regression: dict[str, Any] = {"active": False, "previous": None, "current": None}
    regression["p_value"] = None
    if rows:
        regression["current"] = rows[-1]["model_version"]
    if len(rows) >= 2:
        prev, cur = rows[-2], rows[-1]
        regression["previous"] = prev["model_version"]
        rc = config.regression
        if min(prev["episodes"], cur["episodes"]) >= rc.min_episodes:
            p = _mann_whitney_greater(
                per_release[cur["model_version"]], per_release[prev["model_version"]]
            )
            worse = Fraction(cur["corrected_frames"], cur["episodes"]) > Fraction(
                prev["corrected_frames"], prev["episodes"]
            ) * (1 + _exact(rc.tolerance))
            regression["p_value"] = p
            regression["active"] = worse and p < rc.alpha
    return {
        "corpus_episodes": corpus,
        "delta_episodes": delta,
        "needed_episodes": needed,
        "delta_fraction": fraction,
        "task_counts": task_counts,
        "task_gini": float(gini),
        "top_task_share": float(top_share),
        "releases": rows,
        "regression": regression,
        "frames": {"total": total, "unmapped": unmapped, **counts},
        "episodes": {"total": len(episodes), "harvested": delta},
    }


# The keys of `figures`, as `check --json` names them: what the harness compares.
def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The subset of a `check --json` document (or of `figures`) that the baseline computes."""
    regression = report["regression"]
    return {
        "corpus_episodes": report["corpus_episodes"],
        "delta_episodes": report["delta_episodes"],
        "needed_episodes": report["needed_episodes"],
        "delta_fraction": report["delta_fraction"],
        "task_counts": dict(report["task_counts"]),
        "task_gini": report["task_gini"],
        "top_task_share": report["top_task_share"],
        "releases": [
            {k: r[k] for k in ("model_version", "episodes", "corrected_frames", "cpe")}
            for r in report["releases"]
        ],
        "regression": {
            "active": regression["active"],
            "previous": regression["previous"],
            "current": regression["current"],
            "p_value": regression["p_value"],
        },
        "frames": {
            k: report["frames"][k]
            for k in ("total", "reviewed", "skipped", "corrected", "unmapped", "correction_unknown")
        },
        "episodes": {k: report["episodes"][k] for k in ("total", "harvested")},
    }


def differences(engine: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Where two comparable documents disagree; p-values within 1e-9 relative agree."""
    a, b = comparable(engine), comparable(baseline)
    pa, pb = a["regression"].pop("p_value"), b["regression"].pop("p_value")
    found = [f"{key}: engine {a[key]!r} != baseline {b[key]!r}" for key in a if a[key] != b[key]]
    if (pa is None) != (pb is None) or (
        pa is not None and pb is not None and not math.isclose(pa, pb, rel_tol=1e-9, abs_tol=1e-15)
    ):
        found.append(f"regression.p_value: engine {pa!r} != baseline {pb!r}")
    return found


def main() -> None:  # pragma: no cover - a manual aid: python -m bench.baseline CONFIG
    import sys

    from retrain_gate.config import load_config

    config = load_config(Path(sys.argv[1]))
    exports = sorted(p for p in Path(config.paths.export_dir).rglob("*.json"))
    print(json.dumps(figures(exports, config), indent=2, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    main()
