"""A bucket of 5k objects on a local S3 server (moto, 127.0.0.1): poll times, and proof that a
poll which finds nothing new downloads nothing (issue 20, "Performance").

    python -m bench.bucket [--objects 5000] [--runs 5] [--out bench/out]

The objects are Label Studio per-annotation files: the recorded ones in
tests/data/ls_storage/annotation_layout/storage under fresh annotation ids (each a new
frame), ~1.5 KB each. Measured, each as the median of `--runs`:

- cold poll: `BucketMirror.sync()` into an empty mirror (list + download every object);
- no-change poll: `sync()` again (list only); its download count must be 0;
- one new object: `sync()` after one `put` (downloads exactly 1);
- cold `check` / no-change `check`: `python -m retrain_gate check --json` as a process, with
  the bucket as `export_dir` (sync + ingest), on an empty state folder and then again.

Exits 1 when a no-change poll downloaded anything, or when a mirror's figures differ from
those of the same files read as a folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.storage import comparable

ROOT = Path(__file__).resolve().parents[1]
STORAGE = ROOT / "tests" / "data" / "ls_storage" / "annotation_layout" / "storage"
BUCKET = "bench"
PREFIX = "ls/storage"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_", "AZURE_"))}
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
        # the checks run this checkout's package, not an installed one
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    )
    return env


def _objects(count: int) -> dict[str, bytes]:
    originals = [p.read_bytes() for p in sorted(STORAGE.iterdir())]
    out: dict[str, bytes] = {}
    for n in range(count):
        record = json.loads(originals[n % len(originals)])
        new_id = 100_000 + n
        record["id"] = new_id
        record["task"]["id"] = new_id
        image = record["task"]["data"]["image"]
        record["task"]["data"]["image"] = image.replace("/frame_", f"/frame_b{new_id}_")
        out[str(new_id)] = json.dumps(record).encode()
    return out


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _check(cwd: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "retrain_gate", "check", "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"check failed: {out.stderr[-500:]}")
    return seconds, json.loads(out.stdout)


def _project(folder: Path, export_dir: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eval").mkdir(exist_ok=True)
    # one file: an empty eval set's gate names its path, which differs between projects
    (folder / "eval" / "set.txt").write_text("eval v1\n", encoding="utf-8")
    (folder / "config.toml").write_text(
        f'[paths]\nexport_dir = "{export_dir}"\nstate_dir = "state"\neval_set = "eval"\n',
        encoding="utf-8",
    )
    return folder


def run(count: int, runs: int, out_dir: Path, *, checks: bool = True, polls: bool = True) -> int:
    import obstore
    from obstore.store import from_url

    from retrain_gate.sources.bucket import BucketMirror
    from retrain_gate.sources.url import parse_bucket_url

    port = _free_port()
    env = _env(port)
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = Path(tempfile.mkdtemp(prefix="bench-bucket-"))
    figures: dict[str, Any] = {"objects": count, "runs": runs}
    failed = False
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(
                    urllib.request.Request(f"http://127.0.0.1:{port}/{BUCKET}", method="PUT"),
                    timeout=2,
                ).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("moto's server did not start") from None
                time.sleep(0.2)
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        url = f"s3://{BUCKET}/{PREFIX}"
        store = from_url(url)
        objects = _objects(count)
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: obstore.put(store, item[0], item[1]), objects.items()))
        figures["upload_seconds"] = time.perf_counter() - started

        bucket = parse_bucket_url(url)
        cold, idle, one, listing = [], [], [], []
        idle_downloads: list[int] = []
        for n in range(runs if polls else 0):
            mirror_dir = work / f"mirror-{n}" / "bucket" / "mirror"
            mirror = BucketMirror(bucket, mirror_dir)
            t = time.perf_counter()
            result = mirror.sync()
            cold.append(time.perf_counter() - t)
            if len(result.downloaded) != count:
                print(f"cold poll downloaded {len(result.downloaded)} of {count}")
                failed = True
            t = time.perf_counter()
            again = BucketMirror(bucket, mirror_dir).sync()  # a new process's first poll
            idle.append(time.perf_counter() - t)
            idle_downloads.append(len(again.downloaded))
            t = time.perf_counter()
            mirror.list_objects()  # the server's share of a no-change poll
            listing.append(time.perf_counter() - t)
            obstore.put(store, f"new-{n}", objects[next(iter(objects))])
            t = time.perf_counter()
            added = mirror.sync()
            one.append(time.perf_counter() - t)
            if added.downloaded != [f"new-{n}"]:
                print(f"one new object: downloaded {added.downloaded}")
                failed = True
            obstore.delete(store, f"new-{n}")
            shutil.rmtree(work / f"mirror-{n}")
        figures["cold_poll_seconds"] = _median(cold)
        figures["no_change_poll_seconds"] = _median(idle)
        figures["no_change_poll_downloads"] = max(idle_downloads, default=0)
        figures["one_new_object_poll_seconds"] = _median(one)
        figures["listing_alone_seconds"] = _median(listing)
        if any(idle_downloads):
            print(f"a no-change poll downloaded {idle_downloads}")
            failed = True

        cold_check: list[float] = []
        idle_check: list[float] = []
        report: dict[str, Any] = {}
        for n in range(runs if checks else 0):
            project = _project(work / f"project-{n}", url)
            seconds, report = _check(project, env)
            cold_check.append(seconds)
            idle_check.append(_check(project, env)[0])
            shutil.rmtree(project)
        figures["cold_check_seconds"] = _median(cold_check)
        figures["no_change_check_seconds"] = _median(idle_check)

        folder = _project(work / "as-folder", "exports")
        (folder / "exports").mkdir()
        for key, data in objects.items() if checks else ():
            (folder / "exports" / key).write_bytes(data)
        seconds = float("nan")
        if checks:
            seconds, as_folder = _check(folder, env)
            figures["cold_check_folder_seconds"] = seconds
            same = comparable(report) == comparable(as_folder)
            figures["figures_equal_the_folder"] = same
            figures["differing_figures"] = sorted(
                key
                for key in comparable(report).keys() | comparable(as_folder).keys()
                if report.get(key) != as_folder.get(key)
            )
            failed = failed or not same
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"results-bucket-{count}.json").write_text(
        json.dumps(figures, indent=2), encoding="utf-8"
    )
    rows = [
        ("objects", f"{count:,}"),
        ("cold poll (list + download all)", f"{figures['cold_poll_seconds']:.2f} s"),
        ("no-change poll (list only)", f"{figures['no_change_poll_seconds']:.3f} s"),
        ("of which the listing alone", f"{figures['listing_alone_seconds']:.3f} s"),
        ("downloads in a no-change poll", str(figures["no_change_poll_downloads"])),
        ("poll with one new object", f"{figures['one_new_object_poll_seconds']:.3f} s"),
    ]
    if checks:
        rows += [
            ("cold `check` (sync + ingest), process", f"{figures['cold_check_seconds']:.2f} s"),
            ("no-change `check`, process", f"{figures['no_change_check_seconds']:.2f} s"),
            ("cold `check` of the same files as a folder", f"{seconds:.2f} s"),
            ("figures equal the folder's", str(figures["figures_equal_the_folder"])),
        ]
    print("| figure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bucket")
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--polls-only", action="store_true", help="skip the `check` processes")
    parser.add_argument(
        "--checks-only",
        action="store_true",
        help="skip the in-process polls: only the checks and the bucket-vs-folder figures",
    )
    args = parser.parse_args()
    if args.polls_only and args.checks_only:
        parser.error("--polls-only and --checks-only exclude each other")
    sys.exit(
        run(
            args.objects,
            args.runs,
            args.out,
            checks=not args.polls_only,
            polls=not args.checks_only,
        )
    )


if __name__ == "__main__":
    main()
