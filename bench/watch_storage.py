"""`python -m bench.watch_storage [--files 20000] [--trials 5] [--out DIR]`: how soon `watch`
shows one new annotation file with a per-annotation folder of N files in the store (issue 20:
within settle_seconds + 1 s).

The folder is bench/storage.py's (generated once, hard-linked into a project of its own, with
`settle_seconds = 1`). `retrain-gate watch` runs as a process; once it has ingested every file
and gone quiet, each trial writes one new annotation file (a new frame, as Label Studio writes
it: one write, the current mtime) and times from the end of that write to the `ingested` line
for it. Reported: the catch-up time of the N files, and the median and the maximum over the
trials.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import storage
from bench.harness import PYTHON
from bench.workloads import ROOT

SETTLE = 1.0


class Watch:
    """`retrain-gate watch` as a process, its stdout lines stamped as they arrive."""

    def __init__(self, config: Path) -> None:
        path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])  # this checkout's package
        env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "retrain_gate", "watch", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append((time.perf_counter(), raw.decode("utf-8", "replace")))
                self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return len(self.lines)

    def wait_for(self, text: str, since: int, timeout: float) -> float | None:
        """When the first line from `since` on containing `text` arrived, or None."""
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                for at, line in self.lines[since:]:
                    if text in line:
                        return at
                left = deadline - time.perf_counter()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(left)

    def wait_count(self, text: str, count: int, timeout: float) -> float | None:
        """When the `count`-th line containing `text` arrived, or None."""
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                seen = [at for at, line in self.lines if text in line]
                if len(seen) >= count:
                    return seen[count - 1]
                left = deadline - time.perf_counter()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 1.0))

    def wait_quiet(self, quiet: float, timeout: float) -> None:
        """Until no line has arrived for `quiet` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.cond:
                last = self.lines[-1][0] if self.lines else 0.0
            if time.perf_counter() - last >= quiet:
                return
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def project(root: Path, files: int, out: Path) -> tuple[Path, Path]:
    """A project whose export folder holds hard links to bench/storage.py's folder of `files`."""
    source = out / "storage-work" / f"folder-{files}" / "exports"
    if not (source / str(files)).exists():
        shutil.rmtree(source, ignore_errors=True)
        storage.write_folder(source, files)
    shutil.rmtree(root, ignore_errors=True)
    export_dir = root / "exports"
    export_dir.mkdir(parents=True)
    for path in source.iterdir():
        if path.name.isdigit() and int(path.name) <= files:
            os.link(path, export_dir / path.name)
    config = storage.project(root, export_dir)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f"[watch]\nsettle_seconds = {SETTLE}\n")
    return config, export_dir


def run(files: int, trials: int, out: Path, log: Any = print) -> dict[str, Any]:
    config, export_dir = project(out / "storage-work" / f"watch-{files}", files, out)
    bases = storage.templates()
    watch = Watch(config)
    latencies: list[float] = []
    try:
        started = time.perf_counter()
        if watch.wait_for("watching", 0, 60) is None:
            raise SystemExit("retrain-gate watch did not start")
        caught_up = watch.wait_count("ingested ", files, 1800)
        if caught_up is None:
            raise SystemExit(f"watch did not ingest the {files:,} files within 30 minutes")
        catch_up = caught_up - started
        log(f"caught up with {files:,} files in {catch_up:.1f}s")
        watch.wait_quiet(3.0, 120)
        for trial in range(trials):
            number = files + 1 + trial
            path = export_dir / str(number)
            body = json.dumps(storage.annotation(bases[number % len(bases)], number), indent=2)
            since = watch.mark()
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(body)
            written = time.perf_counter()
            seen = watch.wait_for(f"ingested {path}", since, 60)
            latencies.append(float("inf") if seen is None else seen - written)
            log(f"  trial {trial + 1}: {latencies[-1]:.2f}s")
            watch.wait_quiet(2.0, 30)
    finally:
        watch.stop()
    return {
        "files": files,
        "settle_seconds": SETTLE,
        "catch_up_s": catch_up,
        "latencies_s": latencies,
        "median_s": statistics.median(latencies),
        "max_s": max(latencies),
        "target_s": SETTLE + 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watch_storage", description=__doc__)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    results = run(args.files, args.trials, args.out.resolve(), log=lambda m: print(m, flush=True))
    (args.out / f"watch-storage-{args.files}.json").write_text(json.dumps(results, indent=2))
    print(
        f"watch, {args.files:,} files in the store, settle {SETTLE:g} s: one new annotation file "
        f"shown after {results['median_s']:.2f} s (median of {args.trials}, max "
        f"{results['max_s']:.2f} s; target {results['target_s']:.1f} s); catch-up of the "
        f"{args.files:,} files {results['catch_up_s']:.1f} s"
    )
    return 0 if results["median_s"] <= results["target_s"] else 1


if __name__ == "__main__":
    sys.exit(main())
