"""The dashboard's figures: key latency while a ~180 MB export is ingested, and the soak.

Each measurement runs as its own process (`python -m bench.tui latency|soak ...`, started by
bench/harness.py), so the RSS is the dashboard's alone and nothing the harness did before
(polars' thread pools, decoded workloads) is in it. The child prints one JSON document.

What "key latency" is here: the real app (`make_app(config)`, live, its GateService, watcher and
writer lock on a temporary project folder) runs headless under `App.run_test`. A key is sent the
way a terminal driver sends it (`driver.send_message(events.Key(...))`, which is what
`Pilot.press` does), and the sample ends at the first screen update (`App._display`, called
after the compositor has rendered the update) that shows the expected screen: `?` pushes the
help screen, `escape` pops it. This is the app's own message processing and compositor in
process; the terminal write of a real driver (escape sequences to a tty) is not included.

`Pilot.press` itself is not timed: after sending the key it calls `wait_for_idle`, which waits
until the *process* stops using CPU (up to 1 s). While an ingest runs on the service's thread
the process never idles, so `pilot.press` would measure Pilot's heuristic, not the app.

An asyncio task also records the event loop's lag (a 5 ms sleep that overshoots = the UI
thread could not run): its longest stalls are attributed to the ingest's stages, which are
timed by wrapping the service's `_on_changes` and `_progress` in a subclass (src is unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual.screen import Screen

from retrain_gate.config import Config, load_config
from retrain_gate.live.events import Listener
from retrain_gate.live.service import GateService
from retrain_gate.tui.app import ACTIVITY_LINES, RetrainGateApp, make_app
from retrain_gate.tui.screens import HelpScreen

SIZE = (120, 40)
now = time.perf_counter


def vm_rss() -> int:
    """Resident set size of this process now, bytes (VmRSS of /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class TimedService(GateService):
    """The real service, with its ingest and progress calls timestamped (perf_counter)."""

    def __init__(self, config: Config, on_update: Listener) -> None:
        super().__init__(config, on_update)
        self.timeline: list[tuple[float, str]] = []  # (at, mark), appended by service threads
        self.ingests: list[tuple[float, float, float, str]] = []  # (start, ingested, end, name)
        self.ingested = 0
        self._stages_seen: set[str] = set()

    def _on_changes(self, ready: list[Path], removed: list[Path]) -> None:
        start = now()
        self.timeline.append((start, "ready"))
        self._stages_seen = set()
        ingest_end = [start]
        real_apply = self.engine.apply

        def apply(batch: Any, progress: Any = None, *args: Any, **options: Any) -> Any:
            try:
                return real_apply(batch, progress, *args, **options)
            finally:
                ingest_end[0] = now()
                self.timeline.append((ingest_end[0], "ingested"))

        self.engine.apply = apply  # type: ignore[method-assign]
        try:
            super()._on_changes(ready, removed)
        finally:
            del self.engine.apply
            end = now()
            self.timeline.append((end, "published"))
            for path in ready:
                self.ingests.append((start, ingest_end[0], end, path.name))
            self.ingested += len(ready)

    def _progress(self, stage: str, done: int, total: int) -> None:
        if stage not in self._stages_seen:  # the first call of each stage starts it
            self._stages_seen.add(stage)
            self.timeline.append((now(), stage))
        super()._progress(stage, done, total)


# ------------------------------------------------------------------ helpers


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "median_ms": statistics.median(values) * 1000,
        "p95_ms": p95 * 1000,
        "max_ms": ordered[-1] * 1000,
    }


class Probe:
    """Samples the event loop's lag: how late a 5 ms sleep wakes up (the UI thread was busy)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (woke at, lag seconds)
        self.cpu: list[float] = []  # the UI thread's own CPU seconds during each sample
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before, cpu = now(), time.thread_time()
            await asyncio.sleep(0.005)
            woke = now()
            self.samples.append((woke, max(0.0, woke - before - 0.005)))
            self.cpu.append(time.thread_time() - cpu)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def stalls(
        self, start: float, end: float, windows: list[tuple[str, float, float]], top: int = 5
    ) -> list[dict[str, Any]]:
        """The longest lags between `start` and `end`: when (relative to `start`), how long,
        how much of it the UI thread spent on its own CPU (the rest it waited: for the GIL),
        and in which stage of the ingest it fell."""
        picked = [
            (lag, at, cpu)
            for (at, lag), cpu in zip(self.samples, self.cpu, strict=True)
            if start <= at <= end + 0.5
        ]
        out = []
        for lag, at, cpu in sorted(picked, reverse=True)[:top]:
            middle = at - (lag + 0.005) / 2
            stage = next((label for label, s, e in windows if s <= middle <= e), "-")
            out.append(
                {
                    "at_s": at - start,
                    "stall_ms": lag * 1000,
                    "ui_cpu_ms": cpu * 1000,
                    "stage": stage,
                }
            )
        return out

    def lags(self, start: float, end: float) -> list[float]:
        return [lag for at, lag in self.samples if start <= at - lag <= end or start <= at <= end]


class Keys:
    """Sends a key as a terminal driver would and times it to the screen update showing it."""

    def __init__(self, app: RetrainGateApp) -> None:
        self.app = app
        # (at, screen's class): holding the screens themselves kept every help screen ever
        # shown alive, and the app's full collections grew with them over a run.
        self.displays: list[tuple[float, type[Screen[Any]]]] = []
        real_display = app._display

        def display(screen: Screen[Any], renderable: Any) -> None:
            real_display(screen, renderable)
            if renderable is not None:
                self.displays.append((now(), type(screen)))

        app._display = display  # type: ignore[method-assign]

    async def press(
        self, key: str, char: str | None, shown: Callable[[type[Screen[Any]]], bool]
    ) -> float:
        """Seconds from sending `key` to the first screen update of a screen `shown` accepts."""
        driver = self.app._driver
        assert driver is not None
        mark = len(self.displays)
        sent = now()
        event = events.Key(key, char)
        event.set_sender(self.app)
        driver.send_message(event)
        deadline = sent + 30
        while True:
            for at, screen in self.displays[mark:]:
                if shown(screen):
                    return at - sent
            mark = len(self.displays)
            if now() > deadline:
                raise RuntimeError(f"the app did not answer {key!r} within 30 s")
            await asyncio.sleep(0.001)

    async def sample(self) -> list[tuple[float, float]]:
        """One `?` (help opens) and one `escape` (it closes): [(sent at, latency), ...]."""
        out = []
        at = now()
        out.append((at, await self.press("question_mark", "?", _is_help)))
        at = now()
        out.append((at, await self.press("escape", None, _is_dashboard)))
        return out


def _is_help(screen: type[Screen[Any]]) -> bool:
    return issubclass(screen, HelpScreen)


def _is_dashboard(screen: type[Screen[Any]]) -> bool:
    return not issubclass(screen, HelpScreen)


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = now() + timeout
    while not condition():
        if now() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class GcTimes:
    """Every garbage collection in the process: (start, end, generation, thread name). A
    collection holds the GIL throughout, in whichever thread triggered it."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, float, int, str]] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = now()
        else:
            name = threading.current_thread().name
            self.runs.append((self._start, now(), info["generation"], name))

    def longest(self, start: float, end: float, top: int = 5) -> list[dict[str, Any]]:
        inside = [r for r in self.runs if start <= r[0] <= end]
        inside.sort(key=lambda r: r[0] - r[1])
        return [
            {"at_s": s - start, "ms": (e - s) * 1000, "generation": g, "thread": t}
            for s, e, g, t in inside[:top]
        ]


# ------------------------------------------------------------------ latency


STAGES = (
    ("ready", "read the file"),
    ("hashing", "msgspec decode (GIL held)"),
    ("reading tasks", "per-frame loop (Python)"),
    ("merging", "merge + parquet write"),
    ("ingested", "evaluate + report"),
)


def stage_windows(timeline: list[tuple[float, str]]) -> list[tuple[str, float, float]]:
    """The ingest's stages as (label, start, end) from the service's timeline."""
    marks = sorted(timeline)
    out = []
    for i, (at, mark) in enumerate(marks):
        label = dict(STAGES).get(mark)
        if label is None or i + 1 >= len(marks):
            continue
        out.append((label, at, marks[i + 1][0]))
    return out


async def latency(
    config_path: Path, export: Path, idle_pairs: int, gc_trace: bool = False
) -> dict[str, Any]:
    """Idle samples, then drop `export` into the watched folder (a hard link: the file is
    complete when it appears) and sample until the ingest and its report are done."""
    config = load_config(config_path)
    app = make_app(config, service_factory=TimedService)
    collections = GcTimes()
    if gc_trace:  # a diagnostic: the callback is Python, so it lets the UI in mid-decode
        gc.callbacks.append(collections)
    async with app.run_test(size=SIZE) as pilot:
        service = app.service
        assert isinstance(service, TimedService)
        await wait_until(lambda: app.report is not None, 60, "the first report")
        await pilot.pause(0.5)
        gc_objects = len(gc.get_objects())
        keys = Keys(app)
        probe = Probe()
        probe.start()
        idle: list[tuple[float, float]] = []
        idle_start = now()
        for _ in range(idle_pairs):
            idle += await keys.sample()
            await asyncio.sleep(0.02)
        idle_end = now()

        target = config.paths.export_dir / export.name
        dropped = now()
        os.link(export, target)
        busy: list[tuple[float, float]] = []
        while service.ingested == 0 or now() < service.ingests[0][2] + 0.5:
            busy += await keys.sample()
            await asyncio.sleep(0.01)
            if now() - dropped > 300:
                raise RuntimeError("the ingest did not finish within 300 s")
        await pilot.pause(0.2)
        probe.stop()
        start, ingested, end, _name = service.ingests[0]
        frames = service.engine.store.frames().height
        log_lines = len(app.query_one("#activity").lines)  # type: ignore[attr-defined]

    during = [lat for at, lat in busy if at <= end and at + lat >= start]
    after = [lat for at, lat in busy if at > end]
    idle_lags = probe.lags(idle_start, idle_end)
    windows = stage_windows(service.timeline)
    stages = []
    for label, s, e in windows:
        lags = [lag for at, lag in probe.samples if s <= at - lag / 2 <= e]
        stages.append(
            {"stage": label, "seconds": e - s, "max_loop_stall_ms": max(lags, default=0) * 1000}
        )
    return {
        "export": export.name,
        "bytes": export.stat().st_size,
        "switch_interval_s": sys.getswitchinterval(),
        "ingest_s": ingested - start,
        "ingest_and_report_s": end - start,
        "settle_wait_s": start - dropped,
        "idle": [lat for _, lat in idle],
        "during": during,
        "after": after,
        "idle_loop_stall_max_ms": max(idle_lags, default=0) * 1000,
        "ingest_loop_stall_max_ms": max(probe.lags(start, end), default=0) * 1000,
        "stages": stages,
        "idle_stalls": probe.stalls(idle_start, idle_end, []),
        "ingest_stalls": probe.stalls(start, end, windows),
        "gc_objects_idle": gc_objects,
        "gc_thresholds": gc.get_threshold(),
        "idle_gc": collections.longest(idle_start, idle_end),
        "ingest_gc": collections.longest(start, end + 0.5),
        "frames_in_store": frames,
        "log_lines": log_lines,
    }


# ------------------------------------------------------------------ soak


def reachable_sizes(app: RetrainGateApp) -> dict[str, int]:
    """Sizes of everything that could grow with the number of exports, as far as reachable."""
    from textual.widgets import RichLog

    service = app.service
    assert service is not None
    log = app.query_one("#activity", RichLog)
    engine = service.engine
    store = engine.store
    watcher = service._watcher
    out = {
        "log_lines": len(log.lines),
        "screen_stack": len(app.screen_stack),
        "notifications": len(app._notifications),
        "workers": len(app.workers),
        "message_queue": app._message_queue.qsize(),
        "service_seen": len(service._seen),
        "registry_records": len(store.registry()),
        "store_frames": store.frames().height,
        "threads": threading.active_count(),
        "gc_objects": len(gc.get_objects()),
    }
    if watcher is not None:
        for name in ("_hints", "_tracks", "_handed", "_specials"):
            value = getattr(watcher, name, None)
            if isinstance(value, (dict, set, list)):
                out[f"watcher{name}"] = len(value)
    return out


async def soak(
    config_path: Path,
    base: Path | None,
    files: list[Path],
    checkpoint: int,
    gap: tuple[float, float],
    seed: int,
) -> dict[str, Any]:
    """Land `files` in the watched folder one every `gap` seconds with the dashboard open;
    RSS and the sizes above after the `checkpoint`-th and after the last, each read once the
    app is quiet again (every landed file ingested, the report and its figures drawn)."""
    config = load_config(config_path)
    app = make_app(config, service_factory=TimedService)
    rng = random.Random(seed)
    writes = 0
    real_log_line = app.log_line

    def counted(*args: Any, **kwargs: Any) -> None:
        nonlocal writes
        writes += 1
        real_log_line(*args, **kwargs)

    app.log_line = counted  # type: ignore[method-assign]
    export_dir = config.paths.export_dir
    series: list[dict[str, Any]] = []
    points: dict[str, dict[str, Any]] = {}
    started = now()
    async with app.run_test(size=SIZE) as pilot:
        service = app.service
        assert isinstance(service, TimedService)
        await wait_until(lambda: app.report is not None, 60, "the first report")
        expected = 0
        if base is not None:
            os.link(base, export_dir / base.name)
            expected = 1
            await wait_until(lambda: service.ingested >= 1, 600, "the base export")

        async def quiet(count: int) -> None:
            await wait_until(lambda: service.ingested >= count, 120 + 2 * count, "the ingests")
            await pilot.pause(1.5)  # the report, the outlook worker, the panels

        await quiet(expected)
        points["start"] = {"rss": vm_rss(), **reachable_sizes(app)}
        for index, source in enumerate(files, start=1):
            # Written in place, as a browser or `cp` does: the watcher sees it grow and settle.
            await asyncio.to_thread(shutil.copyfile, source, export_dir / source.name)
            expected += 1
            if index == checkpoint or index == len(files):
                await quiet(expected)
                points[str(index)] = {"rss": vm_rss(), **reachable_sizes(app)}
            else:
                await asyncio.sleep(rng.uniform(*gap))
            if index % 10 == 0:
                series.append({"landed": index, "ingested": service.ingested, "rss": vm_rss()})
        log = app.query_one("#activity")
        total_lines = len(log.lines)  # type: ignore[attr-defined]
        refused = [r for r in service.engine.store.registry().values() if r.outcome != "ingested"]
        # One line an export does not reach the cap in 200 exports: check the cap itself, with
        # the app's own writes, as a days-long session would reach it.
        landed_writes = writes
        more = ACTIVITY_LINES + 100
        for k in range(more):
            app.log_line(f"bench: filler line {k + 1} of {more}")
        await pilot.pause(0.2)
        cap_lines = len(log.lines)  # type: ignore[attr-defined]
    first, last = points[str(checkpoint)], points[str(len(files))]
    return {
        "files": len(files),
        "base": base.name if base else None,
        "bytes_each": statistics.median(p.stat().st_size for p in files),
        "gap_s": list(gap),
        "wall_s": now() - started,
        "checkpoint": checkpoint,
        "points": points,
        "series": series,
        "rss_checkpoint": first["rss"],
        "rss_last": last["rss"],
        "rss_growth": last["rss"] / first["rss"] - 1,
        "log_lines": total_lines,
        "log_writes": landed_writes,
        "log_max_lines": ACTIVITY_LINES,
        "log_cap_writes": more,
        "log_cap_lines": cap_lines,
        "not_ingested": len(refused),
        "ingest_s_median": statistics.median(e - s for s, _i, e, _n in service.ingests),
    }


# ------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tui")
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("config", type=Path)
    lat.add_argument("export", type=Path)
    lat.add_argument("--idle-pairs", type=int, default=40)
    lat.add_argument(
        "--gc-trace", action="store_true", help="time every GC (perturbs the GIL hand-off)"
    )
    lat.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval for this run (an experiment; the default is 0.005 s)",
    )
    so = sub.add_parser("soak")
    so.add_argument("config", type=Path)
    so.add_argument("files", type=Path, nargs="+")
    so.add_argument("--base", type=Path)
    so.add_argument("--checkpoint", type=int, default=20)
    so.add_argument("--gap", type=float, nargs=2, default=(0.1, 0.3))
    so.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.what == "latency":
        if args.switch_interval:
            sys.setswitchinterval(args.switch_interval)
        doc = asyncio.run(latency(args.config, args.export, args.idle_pairs, args.gc_trace))
    else:
        doc = asyncio.run(
            soak(args.config, args.base, args.files, args.checkpoint, tuple(args.gap), args.seed)
        )
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
