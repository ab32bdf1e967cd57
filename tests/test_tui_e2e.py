"""The real `retrain-gate tui` in a real terminal (tmux): an export dropped in shows up.

Runs on a private tmux server (its own socket) so no session of the person running the
tests is touched; the server is killed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_tui_actions import four_episodes, make_config

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        done = subprocess.run(
            # -f /dev/null: the person's tmux.conf (default-size, hooks) must not change the test
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "tui")

    def wait_for(self, *texts: str, timeout: float = 40) -> str:
        """The first screen holding every one of `texts`.

        One capture must hold them all: the app paints in several passes (the watcher's
        state reaches the header a moment after the first report), so a capture taken
        between two passes is not a failure, only a reason to look again.
        """
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts!r} did not all appear; the screen was:\n{screen}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(f"retrain-gate-test-{os.getpid()}")
    yield session
    session.run("kill-server")


def test_tui_in_tmux_updates_when_an_export_lands(tmp_path: Path, tmux: Tmux) -> None:
    config = make_config(tmp_path)
    config.paths.export_dir.mkdir()
    command = [
        sys.executable,
        "-m",
        "retrain_gate",
        "tui",
        "--config",
        str(tmp_path / "config.toml"),
    ]
    tmux.run(
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "120",
        "-y",
        "40",
        "-e",
        "TERM=xterm-256color",
        " ".join(command),
    )
    before = tmux.wait_for("0 of 1 episode ", "WAIT", "watching exports (")
    assert "watching exports (live)" in before or "watching exports (polling)" in before

    four_episodes(config.paths.export_dir)
    # "ingested": the activity log names the file
    after = tmux.wait_for("4 episodes, 1 needed", "last ingest", "ingested", timeout=30)
    assert "4 episodes, 1 needed" in after

    tmux.run("send-keys", "-t", "tui", "q")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "tui" in tmux.run("list-sessions"):
        time.sleep(0.2)
