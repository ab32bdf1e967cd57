"""A full disk and a read-only state folder, on a real small file system (tmpfs).

The state folder is a 2 MB tmpfs mounted for the test (skipped where mounting is not allowed).
Filling it makes the next state write or ledger append fail with ENOSPC for real; remounting it
read-only makes every write fail with EROFS. Afterwards the state loads, `ledger verify` passes,
nothing half-written is left, and once there is room again the next command gives the right
figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_gate.config import load_config
from retrain_gate.decisions.ledger import Ledger
from retrain_gate.store import FrameStore
from tests.lsbuild import ann, kp, task
from tests.test_reliability import figures, project
from tests.waiting import CLI, check_json, run_cli


def _mount(target: Path, options: str) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A project whose state folder is a fresh 2 MB tmpfs."""
    root = project(tmp_path / "p", with_bad=False)
    state = root / "state"
    state.mkdir()
    if os.geteuid() != 0 or not _mount(state, "size=2m,mode=0755"):
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        yield root
    finally:
        # Whatever happened, leave no mount behind (lazy: a process may still hold a file).
        subprocess.run(["umount", "-l", str(state)], capture_output=True, check=False)


# written in this order: the prediction index, the pending frames, storage frames, frames
FRAME_TABLES = ("predictions.parquet", "pending.parquet", "storage.parquet", "frames.parquet")


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=folder)


def fill(state: Path) -> Path:
    """Fill the file system of `state` to the last byte; returns the filler to delete."""
    filler = state / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(chunk)
    st = os.statvfs(state)
    assert st.f_bavail == 0, "the file system is not full"
    return filler


def snapshot(state: Path) -> dict[str, bytes]:
    return {name: (state / name).read_bytes() for name in ("frames.parquet", "ingested.json")}


def leftovers(state: Path) -> list[str]:
    return [p.name for p in state.iterdir() if p.name.endswith(".tmp")]


def assert_state_loads(folder: Path) -> None:
    config = load_config(folder / "config.toml")
    store = FrameStore(config.paths.state_dir, config, persist=False)
    assert store.frames().height > 0
    assert any(rec.outcome == "ingested" for rec in store.registry().values())


def more_tasks(first: int) -> bytes:
    return json.dumps(
        [
            task(first + i, f"/d/?d=e/{s}/ep{first + i}/f.jpg", annotations=[ann(i, [kp(2, 2)])])
            for i, s in enumerate(["pick", "stack", "pour"])
        ]
    ).encode()


# ---------------------------------------------------------------- full disk


def test_full_disk_while_recording_a_refusal(folder: Path) -> None:
    state = folder / "state"
    clean = check_json(folder)
    before = snapshot(state)
    filler = fill(state)
    (folder / "exports" / "empty.json").write_bytes(b"")  # its refusal is a registry write

    out = run(folder, "check")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{state / 'ingested.json'}: cannot write the state (No space left" in out.stderr
    assert snapshot(state) == before  # the previous state is intact ...
    assert leftovers(state) == []  # ... and nothing half-written remains
    assert_state_loads(folder)

    filler.unlink()
    after = check_json(folder)
    assert figures(after) == figures(clean)
    assert "empty" in after["refused_files"][str(folder / "exports" / "empty.json")]


def test_full_disk_while_saving_frames(folder: Path) -> None:
    state = folder / "state"
    check_json(folder)
    before = snapshot(state)
    filler = fill(state)
    (folder / "exports" / "more.json").write_bytes(more_tasks(100))  # new frames: a parquet write

    out = run(folder, "check")
    try:
        assert out.returncode == 2, out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        # the first table of the frame store that no longer fits is named
        assert any(str(state / n) in out.stderr for n in FRAME_TABLES), out.stderr
        assert "No space left" in out.stderr
        assert snapshot(state) == before
        assert leftovers(state) == []
        assert_state_loads(folder)
    finally:
        for name in leftovers(state):  # so the next check has room
            (state / name).unlink()
        filler.unlink()
    after = check_json(folder)
    assert after["frames"]["total"] == 3 + 2 + 3  # good.json, the two accepted, more.json


def test_full_disk_during_a_ledger_append(folder: Path) -> None:
    state = folder / "state"
    check_json(folder)
    filler = fill(state)

    out = run(folder, "report-regression", "--by", "Kim", "--note", "worse")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"cannot write to the ledger {state / 'ledger.jsonl'}: No space left" in out.stderr
    assert "Nothing was recorded" in out.stderr
    verify = run(folder, "ledger", "verify")
    assert verify.returncode == 0, verify.stderr
    assert "0 entries" in verify.stdout or "no entries" in verify.stdout
    assert Ledger(state).entries() == []
    assert leftovers(state) == []

    filler.unlink()
    again = run(folder, "report-regression", "--by", "Kim", "--note", "worse")
    assert again.returncode == 0, again.stderr
    assert [e.kind for e in Ledger(state).entries()] == ["report"]
    assert run(folder, "ledger", "verify").returncode == 0


class Watch:
    """`retrain-gate watch` on the project, its output in watch.out."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "watch.out"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([*CLI, "watch"], cwd=folder, stdout=out, stderr=out)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, count: int = 1, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while self.text().count(text) < count:
            assert time.monotonic() < deadline, f"{text!r} x{count} never appeared:\n{self.text()}"
            assert self.proc.poll() is None, self.text()
            time.sleep(0.05)
        return self.text()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def watch(folder: Path) -> Iterator[Watch]:
    w = Watch(folder)
    try:
        w.wait_for("ingested ", count=3)  # the catch-up of good.json and the two accepted ones
        registry = folder / "state" / "ingested.json"
        deadline = time.monotonic() + 30
        # ingests are saved by the next housekeeping tick: wait for it before filling the disk
        while not registry.exists() or len(json.loads(registry.read_text())["files"]) < 3:
            assert time.monotonic() < deadline, w.text()
            time.sleep(0.05)
        yield w
    finally:
        w.stop()


def test_full_disk_under_watch_refusal(folder: Path, watch: Watch) -> None:
    state, exports = folder / "state", folder / "exports"
    filler = fill(state)
    (exports / "empty.json").write_bytes(b"")
    watch.wait_for(f"{state / 'ingested.json'}: cannot write the state (No space left")
    assert watch.proc.poll() is None

    filler.unlink()
    (exports / "late.json").write_bytes(more_tasks(200))
    shown = watch.wait_for("late.json: 3 frames")
    assert watch.proc.poll() is None
    assert "Traceback" not in shown
    watch.stop()
    assert leftovers(state) == []
    after = check_json(folder)
    assert after["frames"]["total"] == 3 + 2 + 3
    assert "empty" in after["refused_files"][str(exports / "empty.json")]


def test_full_disk_under_watch_frames(folder: Path, watch: Watch) -> None:
    state, exports = folder / "state", folder / "exports"
    filler = fill(state)
    (exports / "more.json").write_bytes(more_tasks(100))
    shown = watch.wait_for("No space left")
    try:
        assert watch.proc.poll() is None
        assert any(str(state / n) in shown for n in FRAME_TABLES), shown
        assert "Traceback" not in shown
        assert leftovers(state) == []
    finally:
        for name in leftovers(state):
            (state / name).unlink()
        filler.unlink()
    (exports / "late.json").write_bytes(more_tasks(200))
    watch.wait_for("late.json: 3 frames")
    watch.stop()
    after = check_json(folder)
    assert after["frames"]["total"] == 3 + 2 + 3 + 3  # nothing of more.json was lost


# ---------------------------------------------------------------- read-only state folder


def remount_read_only(state: Path) -> None:
    done = subprocess.run(
        ["mount", "-o", "remount,ro", str(state)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip("cannot remount the tmpfs read-only")


def test_read_only_state_folder(folder: Path) -> None:
    state, exports = folder / "state", folder / "exports"
    clean = check_json(folder)
    before = snapshot(state)
    remount_read_only(state)
    (exports / "more.json").write_bytes(more_tasks(100))

    # check computes in memory: the figures include the new file, nothing is written
    now = check_json(folder)
    assert now["frames"]["total"] == clean["frames"]["total"] + 3
    text = run(folder, "check")
    assert text.returncode == 0 and "Traceback" not in text.stderr
    assert snapshot(state) == before

    approve = run(folder, "approve", "--by", "Kim", "--override", "--note", "demo")
    assert approve.returncode == 2
    assert "Traceback" not in approve.stderr
    # A decision takes the ledger's lock before it checks anything or writes the manifest
    # (issue 22.10), so it fails there, like every other decision.
    assert f"the ledger {state / 'ledger.jsonl'}: Read-only file system" in approve.stderr
    assert "Nothing was recorded" in approve.stderr

    report = run(folder, "report-regression", "--by", "Kim", "--note", "worse")
    assert report.returncode == 2
    assert f"the ledger {state / 'ledger.jsonl'}: Read-only file system" in report.stderr
    assert "make" in report.stderr and "writable" in report.stderr

    verify = run(folder, "ledger", "verify")
    assert verify.returncode == 0 and "Traceback" not in verify.stderr
    listing = run(folder, "ledger")
    assert listing.returncode == 0 and "empty" in listing.stdout


def test_watch_on_a_read_only_state_folder_keeps_watching(folder: Path) -> None:
    state, exports = folder / "state", folder / "exports"
    check_json(folder)
    remount_read_only(state)
    watch = Watch(folder)
    try:
        watch.wait_for("figures kept in memory")
        (exports / "more.json").write_bytes(more_tasks(100))
        watch.wait_for("more.json: 3 frames")
        time.sleep(2.5)  # a few housekeeping rounds: the lock is retried quietly
        shown = watch.text()
        assert watch.proc.poll() is None
        assert "housekeeping failed" not in shown
        assert "following" not in shown  # nobody else is the writer: it must not wait for one
        assert shown.count("cannot open the writer lock") == 1
        assert "Traceback" not in shown

        # Writable again: it takes over and saves what it had only in memory.
        subprocess.run(["mount", "-o", "remount,rw", str(state)], check=True)
        watch.wait_for("writable again")
        deadline = time.monotonic() + 20
        config = load_config(folder / "config.toml")
        while (
            str(exports / "more.json") not in FrameStore(config.paths.state_dir, config).registry()
        ):
            assert time.monotonic() < deadline, watch.text()
            time.sleep(0.1)
    finally:
        watch.stop()
