"""The measurements. Every timed figure is the median of `runs` runs; the baseline (stdlib json +
loops, tests/independent.py) and `orjson.loads` are measured in the same run, as processes, and
each figure is also reported as a ratio to them.

Processes are measured with `os.wait4`, which gives the wall time and the peak RSS of that one
child (not the running maximum `RUSAGE_CHILDREN` would give), from a small launcher process
(`run_process`).
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import workloads
from tests.independent import differences

PYTHON = sys.executable


@dataclass(frozen=True)
class TuiSize:
    """The dashboard's stages (bench/tui.py): key latency while a snapshot export of
    `latency_frames` frames is ingested, and `soak_files` filtered exports (`soak_tasks` tasks
    each) of a `soak_frames`-frame project landing after a full community export of it."""

    latency_frames: int
    soak_frames: int
    soak_files: int = 200
    soak_tasks: int = 300
    checkpoint: int = 20
    idle_pairs: int = 40


@dataclass(frozen=True)
class Size:
    """What one `--size` measures. `big` and `small` are the frames of the snapshot-shape and
    community-shape exports of ~180 MB and ~20 MB (5.7 KB and 2.5 KB a frame)."""

    big: dict[str, int]
    small: dict[str, int]
    recompute_frames: int
    history: tuple[int, ...]
    filtered_tasks: int
    watch: bool = True
    tui: TuiSize | None = None
    hostile_regions: int = 32000


SIZES = {
    # CI smoke: correctness of the figures, a few seconds.
    "tiny": Size(
        big={"snapshot": 300, "community": 500},
        small={"snapshot": 120, "community": 200},
        recompute_frames=500,
        history=(1, 3),
        filtered_tasks=20,
        watch=False,
        hostile_regions=2000,
    ),
    # ~20 MB files only: a few minutes.
    "small": Size(
        big={"snapshot": 3500, "community": 8000},
        small={"snapshot": 3500, "community": 8000},
        recompute_frames=10000,
        history=(1, 10),
        filtered_tasks=200,
        tui=TuiSize(latency_frames=3500, soak_frames=8000),
    ),
    # The sizes: ~180 MB and ~20 MB files, 90k frames for the recompute.
    "full": Size(
        big={"snapshot": 32000, "community": 72000},
        small={"snapshot": 3500, "community": 8000},
        recompute_frames=90000,
        history=(1, 10, 100),
        filtered_tasks=300,
        tui=TuiSize(latency_frames=32000, soak_frames=90000),
    ),
}


# ---------------------------------------------------------------- processes


@dataclass(frozen=True)
class Proc:
    wall: float
    rss: int  # peak resident set size, bytes
    returncode: int
    stdout: bytes


# Starts `argv`, waits for it and writes "wall_seconds maxrss_kb exit_code" to the file named
# first. Linux carries the high-water RSS of the process that execs into the new program's
# ru_maxrss, so a command started straight from this (by then large) process would report at
# least this process's peak; started from this small launcher, it reports its own.
_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_pid, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_process(argv: list[str], *, cwd: Path | None = None, src: Path | None = None) -> Proc:
    """Run `argv`; its wall time and its own peak RSS (ru_maxrss of exactly this child,
    started from a small launcher: see _LAUNCHER). `src`: the package's source tree to run
    (default this checkout's; bench/versus.py passes another version's)."""
    # This checkout's package first: an installed retrain-gate may be another version.
    path = os.pathsep.join([str(src or workloads.ROOT / "src"), str(workloads.ROOT)])
    env = dict(os.environ, PYTHONPATH=path)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report"
        launcher = [sys.executable, "-c", _LAUNCHER, str(report), *argv]
        subprocess.run(launcher, stdout=out, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
        wall, maxrss_kb, returncode = report.read_text().split()
        out.seek(0)
        stdout = out.read()
    return Proc(float(wall), int(maxrss_kb) * 1024, int(returncode), stdout)


def median(values: list[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------- figures


@dataclass
class Results:
    size: str
    runs: int
    machine: dict[str, Any] = field(default_factory=dict)
    cold: list[dict[str, Any]] = field(default_factory=list)
    noop: dict[str, Any] = field(default_factory=dict)
    recompute: list[dict[str, Any]] = field(default_factory=list)
    watch: dict[str, Any] = field(default_factory=dict)
    tui: dict[str, Any] = field(default_factory=dict)
    agree: list[dict[str, Any]] = field(default_factory=list)
    hostile: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def machine() -> dict[str, Any]:
    import msgspec
    import orjson
    import polars

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "polars": polars.__version__,
        "msgspec": msgspec.__version__,
        "orjson": orjson.__version__,
    }


def check_argv(config: Path, *extra: str) -> list[str]:
    return [PYTHON, "-m", "retrain_gate", "check", "--config", str(config), *extra]


def cold_check(
    work: Path, export: workloads.Export, runs: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """`retrain-gate check --json` on one export with an empty state folder, against the
    stdlib baseline and `orjson.loads` of the same bytes, each as a process."""
    setup = workloads.project(work / "cold" / export.name, [export.path])
    check: list[Proc] = []
    base: list[Proc] = []
    loads: list[Proc] = []
    loads_nogc: list[Proc] = []
    floor: list[Proc] = []
    problems: list[str] = []
    for run in range(runs):
        if setup.state_dir.exists():
            shutil.rmtree(setup.state_dir)
        check.append(run_process(check_argv(setup.config, "--json")))
        base.append(run_process([PYTHON, "-m", "tests.independent", str(setup.config)]))
        loads.append(run_process([PYTHON, "-c", _LOADS, str(export.path)]))
        nogc = "import gc; gc.disable()\n" + _LOADS
        loads_nogc.append(run_process([PYTHON, "-c", nogc, str(export.path)]))
        floor.append(run_process([PYTHON, "-c", _FLOOR, str(export.path)]))
        if run == 0:
            engine_doc = json.loads(check[-1].stdout)
            baseline_doc = json.loads(base[-1].stdout)
            problems = differences(engine_doc, baseline_doc)
        log(
            f"  cold {export.name} run {run + 1}: check {check[-1].wall:.2f}s "
            f"baseline {base[-1].wall:.2f}s orjson {loads[-1].wall:.2f}s"
        )
    assert all(p.returncode == 0 for p in check + base + loads), "a process failed"
    size = export.size
    c, b, o, og, f = (
        median([p.wall for p in ps]) for ps in (check, base, loads, loads_nogc, floor)
    )
    rss = median([p.rss for p in check])
    return {
        "export": export.name,
        "shape": export.shape,
        "frames": export.frames,
        "bytes": size,
        "check_s": c,
        "baseline_s": b,
        "orjson_s": o,
        "orjson_nogc_s": og,
        "speedup_vs_baseline": b / c,
        "speedup_vs_orjson": o / c,
        "floor_s": f,
        "floor_vs_baseline": b / f,
        "check_rss": rss,
        "baseline_rss": median([p.rss for p in base]),
        "orjson_rss": median([p.rss for p in loads]),
        "rss_over_size": rss / size,
        "figures_agree": not problems,
        "problems": problems,
        "setup": setup,
    }


_READ_TIME = """
import sys, time
from pathlib import Path
from retrain_gate.config import Config
from retrain_gate.labelstudio.export import parse_export, read_file
path, config = Path(sys.argv[1]), Config()
start = time.perf_counter()
raw, mtime_ns = read_file(path, config)
parse_export(raw, path, config, mtime_ns=mtime_ns)
print(time.perf_counter() - start)
"""


def hostile(work: Path, regions: int, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    """A single crafted task (`regions` keypoints, every one through the geometric comparison)
    against an export of ordinary tasks of about the same size: a cold `check` of each, as
    processes, and the read alone of the crafted task at 1/4, 1/2 and 1x its regions (time
    linear in the size doubles per doubling; quadratic would quadruple)."""
    crafted = workloads.hostile(work, regions)
    frames = max(50, crafted.stat().st_size // 2500)  # community exports: ~2.5 KB a frame
    ordinary = workloads.export(work, "community", frames)
    walls: dict[str, list[float]] = {"hostile": [], "ordinary": []}
    for run in range(runs):
        for name, path in (("hostile", crafted), ("ordinary", ordinary.path)):
            setup = workloads.project(work / f"{name}-check", [path])
            proc = run_process(check_argv(setup.config, "--json"))
            assert proc.returncode == 0, f"check of the {name} export failed"
            walls[name].append(proc.wall)
        log(
            f"  hostile run {run + 1}: crafted {walls['hostile'][-1]:.2f}s, "
            f"ordinary {walls['ordinary'][-1]:.2f}s"
        )
    scaling = {}
    for n in (regions // 4, regions // 2, regions):
        path = workloads.hostile(work, n)
        times = [
            float(run_process([PYTHON, "-c", _READ_TIME, str(path)]).stdout) for _ in range(runs)
        ]
        scaling[str(n)] = median(times)
    h, o = median(walls["hostile"]), median(walls["ordinary"])
    counts = sorted(scaling, key=int)
    return {
        "regions": regions,
        "hostile_bytes": crafted.stat().st_size,
        "ordinary_bytes": ordinary.size,
        "hostile_check_s": h,
        "ordinary_check_s": o,
        "ratio": h / o,
        "target_ratio": 2.0,
        "read_s_by_regions": scaling,
        "growth_per_doubling": [scaling[b] / scaling[a] for a, b in itertools.pairwise(counts)],
    }


_LOADS = "import orjson, sys\nwith open(sys.argv[1], 'rb') as f: orjson.loads(f.read())\n"

# The part of a cold check no plain reader can skip: the imports `check` needs, reading the
# file, and one typed msgspec decode of every task (no rules, no tables, no state). Its ratio
# to the baseline is the most any reader built on these libraries could reach.
_FLOOR = """
import sys
import msgspec
import retrain_gate.cli, retrain_gate.engine, retrain_gate.loader, retrain_gate.store
from retrain_gate.config import Config
from retrain_gate.labelstudio.format import task_type
config = Config()
tasks = list[task_type(config.episodes.field, "n_frames")]
with open(sys.argv[1], "rb") as f:
    msgspec.json.decode(f.read(), type=tasks)
"""


def noop_check(setup: workloads.Setup, runs: int) -> dict[str, Any]:
    """`retrain-gate check` with nothing new to ingest (the state already holds the export)."""
    run_process(check_argv(setup.config))  # the state is complete after this one
    procs = [run_process(check_argv(setup.config)) for _ in range(max(runs, 5))]
    startup = [run_process([PYTHON, "-c", "pass"]) for _ in range(max(runs, 5))]
    return {
        "check_s": median([p.wall for p in procs]),
        "python_startup_s": median([p.wall for p in startup]),
        "rss": median([p.rss for p in procs]),
    }


def recompute(
    work: Path, size: Size, runs: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """`Engine.evaluate()` right after an approval (a ledger append, no new file), at
    `recompute_frames` frames, with 1, 10, 100 exports ingested and an approval after each."""
    from retrain_gate.config import load_config
    from retrain_gate.decisions.actions import approve
    from retrain_gate.engine import Engine

    big = workloads.export(work, "community", size.recompute_frames)
    extra = workloads.filtered_exports(
        work, size.recompute_frames, max(size.history) - 1, size.filtered_tasks
    )
    setup = workloads.project(work / "recompute", [])
    engine = Engine(load_config(setup.config))
    files = [big.path, *extra]
    out = []
    ingested = 0
    for level in size.history:
        while ingested < level:
            engine.ingest(files[ingested])
            ingested += 1
            approve(engine, by="bench", note="bench history", override=True)
        times = []
        for _ in range(runs):
            approve(engine, by="bench", note="bench recompute", override=True)
            start = time.perf_counter()
            engine.evaluate()
            times.append(time.perf_counter() - start)
        frames = engine.store.frames().height
        entries = len(engine.ledger.entries())
        out.append(
            {
                "exports_ingested": level,
                "frames": frames,
                "ledger_entries": entries,
                "evaluate_s": median(times),
                "evaluate_max_s": max(times),
            }
        )
        log(
            f"  recompute with {level} exports, {frames} frames, {entries} ledger entries: "
            f"{median(times) * 1000:.1f} ms"
        )
    return out


def watch_latency(
    work: Path, export: workloads.Export, runs: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """From the moment a ~20 MB export is fully written into the watched folder to the
    `ingested ...` line of `retrain-gate watch`."""
    setup = workloads.project(work / "watch", [])
    settle = 1.0
    lines: list[tuple[float, str]] = []
    cond = threading.Condition()
    # this checkout's package, as run_process runs it (ROOT alone would import the installed one)
    path = os.pathsep.join([str(workloads.ROOT / "src"), str(workloads.ROOT)])
    env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [PYTHON, "-m", "retrain_gate", "watch", "--config", str(setup.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with cond:
                lines.append((time.perf_counter(), raw.decode("utf-8", "replace")))
                cond.notify_all()

    def wait_for(text: str, since: int, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        with cond:
            while True:
                for at, line in lines[since:]:
                    if text in line:
                        return at
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                cond.wait(left)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    latencies = []
    try:
        if wait_for("writer", 0, 30) is None and wait_for("WAIT", 0, 30) is None:
            raise RuntimeError("retrain-gate watch did not start")
        time.sleep(1.0)
        data = export.path.read_bytes()
        for run in range(runs):
            name = f"landed-{run + 1}.json"
            with cond:
                mark = len(lines)
            with open(setup.export_dir / name, "wb") as handle:
                handle.write(data + b" " * (run + 1))  # new content: not a duplicate
            written = time.perf_counter()
            seen = wait_for(f"ingested {setup.export_dir / name}", mark, 60)
            latency = (seen - written) if seen is not None else float("inf")
            latencies.append(latency)
            log(f"  watch run {run + 1}: {latency:.2f}s")
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "export": export.name,
        "bytes": export.size,
        "settle_seconds": settle,
        "latency_s": median(latencies),
        "target_s": settle + 1.5,
    }


def _child(argv: list[str], what: str) -> tuple[dict[str, Any], Proc]:
    proc = run_process([PYTHON, "-m", "bench.tui", *argv])
    if proc.returncode != 0:
        raise RuntimeError(f"bench.tui {what} failed (exit {proc.returncode})")
    return json.loads(proc.stdout), proc


def tui_latency(work: Path, tui: TuiSize, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Key latency of the live dashboard, idle and while a snapshot export is ingested (each
    run a fresh process and state folder; samples pooled over the runs): bench/tui.py."""
    from bench.tui import summary

    export = workloads.export(work, "snapshot", tui.latency_frames)
    docs = []
    for run in range(runs):
        setup = workloads.project(work / "tui-latency", [], settle_seconds=0.5)
        argv = ["latency", str(setup.config), str(export.path)]
        doc, _proc = _child([*argv, "--idle-pairs", str(tui.idle_pairs)], "latency")
        docs.append(doc)
        log(
            f"  tui latency run {run + 1}: idle median {summary(doc['idle'])['median_ms']:.0f} ms, "
            f"during ingest median {summary(doc['during'])['median_ms']:.0f} ms "
            f"max {summary(doc['during'])['max_ms']:.0f} ms, "
            f"longest UI stall {doc['ingest_loop_stall_max_ms']:.0f} ms ({doc['ingest_s']:.2f} s)"
        )
    idle = summary([x for d in docs for x in d["idle"]])
    during = summary([x for d in docs for x in d["during"]])
    worst = max(docs, key=lambda d: d["ingest_loop_stall_max_ms"])
    return {
        "export": export.name,
        "bytes": export.size,
        "runs": runs,
        "idle": idle,
        "during": during,
        "after": summary([x for d in docs for x in d["after"]]),
        "ratio_median": during["median_ms"] / idle["median_ms"],
        "ratio_p95": during["p95_ms"] / idle["p95_ms"],
        "ratio_max": during["max_ms"] / idle["max_ms"],
        "ingest_s": median([d["ingest_s"] for d in docs]),
        "loop_stall_idle_max_ms": max(d["idle_loop_stall_max_ms"] for d in docs),
        "loop_stall_ingest_max_ms": worst["ingest_loop_stall_max_ms"],
        "worst_run_stages": worst["stages"],
        "worst_run_stalls": worst["ingest_stalls"],
        "target_ms": 100,
    }


def tui_soak(work: Path, tui: TuiSize, log: Callable[[str], None]) -> dict[str, Any]:
    """`soak_files` exports landing every 0.1-0.3 s with the dashboard open: RSS after the
    `checkpoint`-th and after the last, and the sizes of what could grow: bench/tui.py."""
    base = workloads.export(work, "community", tui.soak_frames)
    files = workloads.filtered_exports(work, tui.soak_frames, tui.soak_files, tui.soak_tasks)
    setup = workloads.project(work / "tui-soak", [], settle_seconds=0.5)
    argv = ["soak", str(setup.config), "--base", str(base.path), *map(str, files)]
    doc, proc = _child([*argv, "--checkpoint", str(tui.checkpoint)], "soak")
    doc["peak_rss"] = proc.rss
    doc["base_bytes"] = base.size
    log(
        f"  tui soak: RSS after {tui.checkpoint} {_mb(doc['rss_checkpoint'])}, after "
        f"{doc['files']} {_mb(doc['rss_last'])} ({doc['rss_growth'] * 100:+.1f}%), "
        f"log {doc['log_lines']} lines of {doc['log_max_lines']}"
    )
    return doc


def run_tui(size: Size, runs: int, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    if size.tui is None:
        return {"measured": False}
    return {
        "measured": True,
        "latency": tui_latency(work, size.tui, runs, log),
        "soak": tui_soak(work, size.tui, log),
    }


# ---------------------------------------------------------------- the whole run


def run(
    size_name: str,
    runs: int,
    out: Path,
    log: Callable[[str], None] = print,
    *,
    only: str = "all",
) -> Results:
    size = SIZES[size_name]
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    results = Results(size_name, runs, machine())
    log(f"machine: {results.machine}")
    if only == "tui":
        results.tui = run_tui(size, runs, work, log)
        return results
    if only == "cold":  # and the no-op check after the big snapshot's, as the full run does
        for shape, frames in size.big.items():
            exp = workloads.export(work, shape, frames)
            log(f"workload {exp.name}: {exp.size / 1e6:.1f} MB")
            results.cold.append(cold_check(work, exp, runs, log))
        snapshot = next(
            c for c in results.cold if c["export"] == f"snapshot-{size.big['snapshot']}"
        )
        results.noop = noop_check(snapshot["setup"], runs)
        log(f"  no-op check: {results.noop['check_s']:.3f}s")
        for c in results.cold:
            c.pop("setup")
        return results

    exports = []
    for group in (size.small, size.big):
        for shape, frames in group.items():
            exp = workloads.export(work, shape, frames)
            if exp not in exports:
                exports.append(exp)
                log(f"workload {exp.name}: {exp.size / 1e6:.1f} MB")

    cold = []
    for exp in exports:
        cold.append(cold_check(work, exp, runs, log))
    big_snapshot = next(c for c in cold if c["export"] == f"snapshot-{size.big['snapshot']}")
    results.noop = noop_check(big_snapshot["setup"], runs)
    log(f"  no-op check: {results.noop['check_s']:.3f}s")
    for c in cold:
        c.pop("setup")
    results.cold = cold

    results.recompute = recompute(work, size, runs, log)
    results.hostile = hostile(work, size.hostile_regions, runs, log)

    if size.watch:
        small = workloads.export(work, "snapshot", size.small["snapshot"])
        results.watch = watch_latency(work, small, runs, log)
    results.tui = run_tui(size, runs, work, log)
    return results


def write(results: Results, out: Path, *, suffix: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"results-{results.size}{suffix}.json"
    path.write_text(json.dumps(results.as_dict(), indent=2) + "\n", encoding="utf-8")
    (out / f"results-{results.size}{suffix}.md").write_text(report_md(results), encoding="utf-8")
    return path


def _mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10e6 else f"{n / 1e6:.1f} MB"


def report_md(r: Results) -> str:
    lines = [f"# bench results ({r.size}, median of {r.runs} runs)", ""]
    lines += [f"machine: {r.machine}", ""]
    lines += [
        "| export | size | check | baseline | x baseline | floor | floor x baseline "
        "| orjson.loads | x orjson | peak RSS | RSS / size | figures |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in r.cold:
        lines.append(
            f"| {c['export']} | {_mb(c['bytes'])} | {c['check_s']:.2f} s "
            f"| {c['baseline_s']:.2f} s | {c['speedup_vs_baseline']:.1f}x "
            f"| {c['floor_s']:.2f} s | {c['floor_vs_baseline']:.1f}x "
            f"| {c['orjson_s']:.2f} s (no gc {c['orjson_nogc_s']:.2f} s) | "
            f"{c['speedup_vs_orjson']:.1f}x | {_mb(c['check_rss'])} | {c['rss_over_size']:.2f} | "
            f"{'agree' if c['figures_agree'] else 'DIFFER'} |"
        )
    h = r.hostile
    if h:
        lines += [
            "",
            f"crafted task ({h['regions']:,} regions, {_mb(h['hostile_bytes'])}): cold check "
            f"{h['hostile_check_s']:.2f} s against {h['ordinary_check_s']:.2f} s for "
            f"{_mb(h['ordinary_bytes'])} of ordinary tasks: {h['ratio']:.2f}x (target <= 2x); "
            "read alone by regions "
            + ", ".join(f"{k}: {v * 1000:.0f} ms" for k, v in h["read_s_by_regions"].items())
            + " (growth per doubling "
            + ", ".join(f"{g:.1f}x" for g in h["growth_per_doubling"])
            + ")",
        ]
    n = r.noop
    if n:
        lines += [
            "",
            f"no-op check: {n['check_s']:.3f} s "
            f"(bare python startup {n['python_startup_s']:.3f} s)",
        ]
    if r.recompute:
        lines += ["", "| exports ingested | frames | ledger entries | evaluate() |"]
        lines += ["| --- | --- | --- | --- |"]
        for x in r.recompute:
            lines.append(
                f"| {x['exports_ingested']} | {x['frames']} | {x['ledger_entries']} "
                f"| {x['evaluate_s'] * 1000:.1f} ms |"
            )
    if r.watch:
        w = r.watch
        lines += [
            "",
            f"watch: {w['export']} ({_mb(w['bytes'])}) shows up after {w['latency_s']:.2f} s "
            f"(target {w['target_s']:.1f} s)",
        ]
    if r.tui.get("measured"):
        lines += ["", *tui_md(r.tui)]
    elif r.tui:
        lines += ["", "tui: not measured at this size (`--size small` or `full`)"]
    return "\n".join(lines) + "\n"


def tui_md(tui: dict[str, Any]) -> list[str]:
    lat, soak = tui["latency"], tui["soak"]
    lines = [
        f"TUI key latency (`?` then `escape`, to the screen update showing it), "
        f"{lat['export']} ({_mb(lat['bytes'])}), {lat['runs']} runs pooled:",
        "",
        "| phase | samples | median | p95 | max |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ("idle", "during", "after"):
        x = lat[name]
        if x["n"]:
            lines.append(
                f"| {name} | {x['n']} | {x['median_ms']:.0f} ms | {x['p95_ms']:.0f} ms "
                f"| {x['max_ms']:.0f} ms |"
            )
    lines += [
        "",
        f"ratio during ingest / idle: median {lat['ratio_median']:.2f}x, "
        f"p95 {lat['ratio_p95']:.2f}x, max {lat['ratio_max']:.2f}x; "
        f"longest UI-thread stall idle {lat['loop_stall_idle_max_ms']:.0f} ms, "
        f"during ingest {lat['loop_stall_ingest_max_ms']:.0f} ms (ingest {lat['ingest_s']:.2f} s)",
        "",
        *_stall_note(lat["worst_run_stalls"]),
        "",
        "| stage (worst run) | seconds | longest UI stall |",
        "| --- | --- | --- |",
    ]
    for st in lat["worst_run_stages"]:
        lines.append(
            f"| {st['stage']} | {st['seconds']:.2f} s | {st['max_loop_stall_ms']:.0f} ms |"
        )
    first = soak["points"][str(soak["checkpoint"])]
    last = soak["points"][str(soak["files"])]
    lines += [
        "",
        f"soak: {soak['files']} exports ({_mb(soak['bytes_each'])} each, one every "
        f"{soak['gap_s'][0]}-{soak['gap_s'][1]} s) after {soak['base']} "
        f"({_mb(soak['base_bytes'])}), {soak['wall_s']:.0f} s:",
        "",
        "| after | RSS | log lines | registry | watcher handed | gc objects | threads |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, p in (("base", soak["points"]["start"]), (soak["checkpoint"], first)):
        lines.append(_soak_row(str(label), p))
    lines.append(_soak_row(str(soak["files"]), last))
    lines += [
        "",
        f"RSS growth {soak['checkpoint']}th -> {soak['files']}th: "
        f"{soak['rss_growth'] * 100:+.1f}% (target <= 15%); peak RSS {_mb(soak['peak_rss'])}; "
        f"activity log {soak['log_lines']} lines for {soak['log_writes']} writes "
        f"(max_lines {soak['log_max_lines']}; {soak['log_cap_lines']} after "
        f"{soak['log_cap_writes']} more writes)",
    ]
    return lines


def _stall_note(stalls: list[dict[str, Any]]) -> list[str]:
    if not stalls:
        return []
    top = stalls[0]
    return [
        f"longest stall of the worst run: {top['stall_ms']:.0f} ms in stage "
        f"'{top['stage']}', of which {top['ui_cpu_ms']:.0f} ms the UI thread's own CPU "
        "(the rest it waited, for the GIL)",
    ]


def _soak_row(label: str, p: dict[str, Any]) -> str:
    return (
        f"| {label} | {_mb(p['rss'])} | {p['log_lines']} | {p['registry_records']} "
        f"| {p.get('watcher_handed', '-')} | {p['gc_objects']} | {p['threads']} |"
    )
