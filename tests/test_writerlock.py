"""One writer per state_dir, with a real second process holding the lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import retrain_gate
from retrain_gate.errors import StateError
from retrain_gate.live.writerlock import WriterLock
from tests.waiting import wait_for

HOLDER_SCRIPT = """
import sys, time
from pathlib import Path
from retrain_gate.live.writerlock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
print("held" if lock.try_acquire() else "refused", flush=True)
time.sleep(60)
"""


def _src_dir() -> str:
    return str(Path(retrain_gate.__file__).resolve().parents[1])


def test_second_process_waits_then_takes_over(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": _src_dir()}
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(state)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            lock = WriterLock(state)
            assert lock.try_acquire() is False
            assert not lock.held
            who = lock.holder()
            assert who is not None and who.startswith(f"pid {holder.pid} on ")
            with pytest.raises(StateError, match=f"pid {holder.pid}"), WriterLock(state):
                pass
        finally:
            holder.kill()
            holder.wait(timeout=5)
    # The kernel released the dead writer's flock; the follower takes over on its next try.
    wait_for(lock.try_acquire, what="the takeover")
    assert lock.held
    assert lock.holder() is not None and f"pid {os.getpid()} " in (lock.holder() or "")
    lock.release()
    assert lock.holder() is None


def test_one_writer_within_a_process(tmp_path: Path) -> None:
    first, second = WriterLock(tmp_path), WriterLock(tmp_path)
    assert first.holder() is None  # no lock file yet
    assert first.try_acquire() is True
    assert first.try_acquire() is True  # already ours
    assert second.try_acquire() is False
    assert second.holder() == first.holder()
    first.release()
    first.release()  # idempotent
    assert second.try_acquire() is True
    second.release()


def test_context_manager_releases(tmp_path: Path) -> None:
    with WriterLock(tmp_path / "nested" / "state") as lock:
        assert lock.held
        assert (tmp_path / "nested" / "state" / "writer.lock").exists()
        assert WriterLock(tmp_path / "nested" / "state").try_acquire() is False
    assert not lock.held
    assert WriterLock(tmp_path / "nested" / "state").holder() is None
