"""`retrain-gate watch` as a real process in a fresh project folder: the `folder` and `watch`
fixtures (registered for every test module by conftest.py) and `check` beside it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import CLI, wait_for


class Watch:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.out = (folder / "watch.out").open("w+b")
        self.proc = subprocess.Popen(
            [*CLI, "watch"], cwd=folder, stdout=self.out, stderr=subprocess.STDOUT
        )

    def text(self) -> str:
        return (self.folder / "watch.out").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        return time.monotonic() - started


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "exports").mkdir()
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n'
        "[watch]\nsettle_seconds = 0.3\nrescan_seconds = 2\n",
        encoding="utf-8",
    )
    return tmp_path


@pytest.fixture
def watch(folder: Path) -> Iterator[Watch]:
    w = Watch(folder)
    wait_for(lambda: "WAIT" in w.text(), timeout=20)
    yield w
    if w.proc.poll() is None:
        w.stop()


def check(folder: Path) -> dict[str, Any]:
    result = subprocess.run(
        [*CLI, "check", "--json"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]
