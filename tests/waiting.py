"""Helpers shared by the tests that run real processes and real threads.

Waits poll a condition against a deadline (never a fixed sleep); the CLI runs as a real
subprocess, as a user or a pipeline would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll until `condition` holds. The default deadline is generous: it only bounds a
    failing run, and a loaded CI machine settles files and threads slowly."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# The CLI of the code under test, whatever is (or is not) on PATH: a venv's python that was
# never activated runs its own retrain_gate.
CLI = [sys.executable, "-m", "retrain_gate"]


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def check_json(cwd: Path, timeout: float = 120) -> dict[str, Any]:
    """`retrain-gate check --json` in `cwd`: it must succeed, without a traceback."""
    out = run_cli("check", "--json", cwd=cwd, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]
