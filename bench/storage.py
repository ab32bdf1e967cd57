"""`python -m bench.storage [--files N ...] [--runs R] [--out DIR]`: target storage at size.

A per-annotation folder of N annotation files as Label Studio's target storage writes them
(the recorded files in tests/data/ls_storage/annotation_layout/storage as templates, fresh
annotation, task and prediction ids, episodes of 50 frames) and one export holding the same
tasks. Measured, each as a process (`check --json`, wall and peak RSS, median of R runs):

- cold `check` of each folder size, and of the one export of the largest size's tasks;
- with the largest folder in the store: a no-op `check`, and a `check` that finds one new
  annotation file (a new frame).

The folder's figures are compared with the export's (they hold the same tasks): the run exits
1 when they differ. Ratios, not absolute times, are what to compare across machines.

`--against SRC` (another version's `src`, e.g. `git archive REV src | tar -x -C /tmp/before`)
also runs that version's cold `check` of the largest folder and of the export, in the same
turns, and reports this version's time over its (median of the runs' ratios).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.harness import PYTHON, run_process
from bench.workloads import ROOT

TEMPLATES = ROOT / "tests" / "data" / "ls_storage" / "annotation_layout" / "storage"
EPISODE = 50  # frames an episode


def templates() -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(TEMPLATES.iterdir(), key=lambda p: int(p.name))
    ]


def annotation(base: dict[str, Any], number: int) -> dict[str, Any]:
    """Template `base` as annotation `number` of task `number` (fresh ids throughout)."""
    body = copy.deepcopy(base)
    body["id"] = number
    if body.get("parent_prediction") is not None:
        body["parent_prediction"] = number
    task = body["task"]
    task["id"] = number
    task["inner_id"] = number
    subdir = ("pick_cube", "stack_blocks", "pour_water")[number // EPISODE % 3]
    episode = f"ep_{number // EPISODE:05d}"
    task["data"] = {
        "image": f"/data/local-files/?d=episodes/{subdir}/{episode}/frame_{number:06d}.jpg",
        "n_frames": EPISODE,
    }
    return body


def write_folder(folder: Path, files: int, first: int = 1) -> None:
    """`files` annotation files numbered from `first`, mtimes one second apart."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = templates()
    for number in range(first, first + files):
        path = folder / str(number)
        path.write_text(json.dumps(annotation(bases[number % len(bases)], number), indent=2))
        os.utime(path, (1_700_000_000 + number, 1_700_000_000 + number))


def write_export(path: Path, files: int) -> None:
    """One export of the same tasks: each task with its annotation, as an export holds it."""
    bases = templates()
    tasks = []
    for number in range(1, files + 1):
        body = annotation(bases[number % len(bases)], number)
        task = body.pop("task")
        task["annotations"] = [body]
        task["predictions"] = []
        tasks.append(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks))
    os.utime(path, (1_700_000_000, 1_700_000_000))


def project(root: Path, export_dir: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "eval").mkdir(exist_ok=True)
    # one file: an empty eval set's gate names its path, which differs between projects
    (root / "eval" / "set.txt").write_text("eval v1\n", encoding="utf-8")
    config = root / "config.toml"
    config.write_text(
        "[paths]\n"
        f"export_dir = {json.dumps(str(export_dir))}\n"
        f"state_dir = {json.dumps(str(root / 'state'))}\n"
        f"eval_set = {json.dumps(str(root / 'eval'))}\n"
        "[episodes]\n"
        'frames_field = "n_frames"\n'
        "[gates]\n"
        "initial_corpus_episodes = 20\n",
        encoding="utf-8",
    )
    return config


def check(config: Path, src: Path | None = None) -> tuple[float, int, dict[str, Any]]:
    argv = [PYTHON, "-m", "retrain_gate", "check", "--json", "--config", str(config)]
    proc = run_process(argv, src=src)
    if proc.returncode not in (0, 1):  # 1: the gate says wait; 2: an error
        raise SystemExit(f"check failed ({proc.returncode}) on {config}")
    return proc.wall, proc.rss, json.loads(proc.stdout)


def cold(
    configs: dict[str, Path],
    runs: int,
    log: Any = print,
    sources: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """A cold `check` of each workload, `runs` times, in turns (one of each, then again), so
    that a load which drifts during the run falls on every workload alike. `sources`: the
    package source a workload runs (default this checkout's)."""
    walls: dict[str, list[float]] = {name: [] for name in configs}
    rss: dict[str, list[int]] = {name: [] for name in configs}
    figures: dict[str, dict[str, Any]] = {}
    for run_index in range(runs):
        for name, config in configs.items():
            shutil.rmtree(config.parent / "state", ignore_errors=True)
            wall, peak, figures[name] = check(config, (sources or {}).get(name))
            walls[name].append(wall)
            rss[name].append(peak)
            log(f"  run {run_index + 1}: cold check of {name} {wall:.2f}s")
    return {
        name: {
            "wall_s": statistics.median(walls[name]),
            "walls": walls[name],
            "rss_mb": max(rss[name]) / 2**20,
            "figures": figures[name],
        }
        for name in configs
    }


# What names files, paths or times: the rest of check's JSON are the figures.
NOT_FIGURES = {"refused_files", "ignored_files", "eval", "last_approval_at"}


def comparable(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures of check's JSON: all but what names files, paths or times."""
    return {key: value for key, value in figures.items() if key not in NOT_FIGURES}


def run(
    sizes: list[int], runs: int, out: Path, log: Any = print, against: Path | None = None
) -> dict[str, Any]:
    work = out / "storage-work"
    largest = max(sizes)
    results: dict[str, Any] = {"sizes": sizes, "runs": runs}
    configs: dict[str, Path] = {}
    for files in sorted(sizes):
        folder = work / f"folder-{files}" / "exports"
        if not (folder / str(files)).exists():
            log(f"writing {files:,} annotation files")
            shutil.rmtree(folder, ignore_errors=True)
            write_folder(folder, files)
        configs[f"files-{files}"] = project(work / f"folder-{files}", folder)
    export_dir = work / f"export-{largest}" / "exports"
    if not (export_dir / "export.json").exists():
        write_export(export_dir / "export.json", largest)
    configs[f"export-{largest}"] = project(work / f"export-{largest}", export_dir)
    sources: dict[str, Path] = {}
    if against is not None:
        for name, base in ((f"files-{largest}", "folder"), (f"export-{largest}", "export")):
            exports = work / f"{base}-{largest}" / "exports"
            configs[f"{name}-against"] = project(work / f"{base}-{largest}-against", exports)
            sources[f"{name}-against"] = against
    results["cold"] = cold(configs, runs, log, sources)

    # the largest folder in the store: a no-op check, then one new annotation file per run
    folder_config = project(work / f"folder-{largest}", work / f"folder-{largest}" / "exports")
    check(folder_config)
    noop, one_new = [], []
    for run_index in range(runs):  # in turns, as the cold checks
        noop.append(check(folder_config)[0])
        write_folder(work / f"folder-{largest}" / "exports", 1, first=largest + 1 + run_index)
        one_new.append(check(folder_config)[0])
        log(f"  run {run_index + 1}: no-op {noop[-1]:.2f}s, one new file {one_new[-1]:.2f}s")
    for extra in range(runs):  # the folder stays the generated one for the next run
        (work / f"folder-{largest}" / "exports" / str(largest + 1 + extra)).unlink()
    results["noop_s"] = statistics.median(noop)
    results["one_new_s"] = statistics.median(one_new)

    smallest = min(sizes)
    big = results["cold"][f"files-{largest}"]
    export = results["cold"][f"export-{largest}"]
    results["ratios"] = {
        f"files-{largest} / export-{largest}": big["wall_s"] / export["wall_s"],
        f"files-{largest} / files-{smallest}": big["wall_s"]
        / results["cold"][f"files-{smallest}"]["wall_s"],
        "one new file - no-op (s)": results["one_new_s"] - results["noop_s"],
    }
    # Linear means a flat time per file: each size's against the smallest's.
    results["per_file_ms"] = {
        f"files-{n}": 1000 * results["cold"][f"files-{n}"]["wall_s"] / n for n in sorted(sizes)
    }
    if against is not None:
        for name in (f"files-{largest}", f"export-{largest}"):
            mine, theirs = results["cold"][name], results["cold"][f"{name}-against"]
            results["ratios"][f"{name} / the same, against"] = statistics.median(
                a / b for a, b in zip(mine["walls"], theirs["walls"], strict=True)
            )
    results["figures_agree"] = comparable(big["figures"]) == comparable(export["figures"])
    for entry in results["cold"].values():
        entry.pop("figures")
    return results


def report_md(results: dict[str, Any]) -> str:
    lines = ["| workload | cold check (s) | peak RSS (MB) |", "| --- | --- | --- |"]
    for name, entry in results["cold"].items():
        lines.append(f"| {name} | {entry['wall_s']:.2f} | {entry['rss_mb']:.0f} |")
    lines += [
        "",
        f"no-op check with {max(results['sizes']):,} files in the store: "
        f"{results['noop_s']:.2f} s; one new annotation file: {results['one_new_s']:.2f} s",
        "",
        "| ratio | value |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {value:.2f} |" for name, value in results["ratios"].items()]
    lines += ["", "| folder | ms a file (cold check / files) |", "| --- | --- |"]
    lines += [f"| {name} | {ms:.3f} |" for name, ms in results["per_file_ms"].items()]
    lines.append("")
    lines.append(f"figures of the folder = figures of the export: {results['figures_agree']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument("--files", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--against", type=Path, help="another version's src folder")
    args = parser.parse_args(argv)
    if len(args.files) < 2 or args.runs < 1:
        parser.error("give at least two --files sizes and --runs >= 1")
    results = run(
        args.files,
        args.runs,
        args.out.resolve(),
        log=lambda m: print(m, flush=True),
        against=args.against.resolve() if args.against else None,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    name = "-".join(str(n) for n in sorted(args.files))
    (args.out / f"storage-{name}.json").write_text(json.dumps(results, indent=2))
    print(report_md(results))
    if not results["figures_agree"]:
        print("FIGURES DIFFER between the folder and the export", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
