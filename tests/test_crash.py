"""kill -9 at random moments of ingest and of ledger appends, with real processes.

Afterwards the store loads, `check` gives the figures of an uninterrupted run, `ledger verify`
passes, and every command that said it recorded something left its entry. A few iterations
run by default; `-m slow` runs hundreds.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from retrain_gate.config import load_config
from retrain_gate.decisions.ledger import Ledger
from retrain_gate.store import FrameStore
from tests.lsbuild import ann, kp, pred, task, write_export
from tests.waiting import CLI, check_json


def make_project(folder: Path) -> Path:
    for day in range(3):
        tasks = [
            task(
                i,
                f"/d/?d=e/{['pick', 'stack', 'pour'][i % 3]}/ep{i // 4}/f{i}.jpg",
                predictions=[pred(i, [kp(5, 5), kp(7, 7, rid="r2")], version=f"m{day}")],
                annotations=[ann(i, [kp(5 + (i % 5 == 0), 5, origin="prediction")], parent=i)]
                if i < 400 * (day + 1)
                else [],
                updated=f"2026-01-0{day + 1}T00:00:00Z",
            )
            for i in range(1, 1500)
        ]
        write_export(folder / "exports", f"day{day}.json", tasks, mtime=1000 + day)
    (folder / "eval").mkdir()
    (folder / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n'
        "[gates]\ninitial_corpus_episodes = 50\n",
        encoding="utf-8",
    )
    return folder


def kill_at_random(args: list[str], cwd: Path, within: float, rng: random.Random) -> str | None:
    """Run a command and SIGKILL it after a random delay; its stdout if it finished first."""
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, within))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None
    out, _ = proc.communicate()
    return out.decode("utf-8", "replace") if proc.returncode == 0 else None


def ingest_crash_loop(folder: Path, iterations: int) -> None:
    expected = check_json(folder)
    shutil.rmtree(folder / "state")
    started = time.monotonic()
    check_json(folder)
    duration = time.monotonic() - started
    config = load_config(folder / "config.toml")
    rng = random.Random(7)
    for _ in range(iterations):
        kill_at_random([*CLI, "check"], folder, duration * 1.1, rng)
        FrameStore(config.paths.state_dir, config).frames()  # loads (or rebuilds), never raises
        if rng.random() < 0.3:
            assert check_json(folder) == expected
    assert check_json(folder) == expected


def ledger_crash_loop(folder: Path, iterations: int) -> None:
    rng = random.Random(11)
    recorded: list[str] = []
    started = time.monotonic()
    subprocess.run(
        [*CLI, "report-regression", "--by", "warmup", "--note", "n-warm"],
        cwd=folder,
        capture_output=True,
        check=True,
    )
    duration = time.monotonic() - started
    recorded.append("n-warm")
    for i in range(iterations):
        note = f"n{i}"
        out = kill_at_random(
            [*CLI, "report-regression", "--by", "Kim", "--note", note],
            folder,
            duration * 1.2,
            rng,
        )
        if out is not None and "recorded #" in out:
            recorded.append(note)
    verify = subprocess.run([*CLI, "ledger", "verify"], cwd=folder, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    notes = {e.note for e in Ledger(load_config(folder / "config.toml").paths.state_dir).entries()}
    assert set(recorded) <= notes


def test_kill_during_ingest(tmp_path: Path) -> None:
    ingest_crash_loop(make_project(tmp_path), iterations=6)


def test_kill_during_ledger_appends(tmp_path: Path) -> None:
    ledger_crash_loop(make_project(tmp_path), iterations=6)


@pytest.mark.slow
def test_kill_during_ingest_many(tmp_path: Path) -> None:
    ingest_crash_loop(make_project(tmp_path), iterations=200)


@pytest.mark.slow
def test_kill_during_ledger_appends_many(tmp_path: Path) -> None:
    ledger_crash_loop(make_project(tmp_path), iterations=200)
