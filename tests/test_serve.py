"""`retrain-gate serve` as a real process on a free loopback port: the page over HTTP, and a
headless Chromium session that shows the live decision and records an acknowledgement in the
ledger under the typed name. Nothing leaves 127.0.0.1 (tests/browser.py)."""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_gate.config import load_config
from retrain_gate.decisions.ledger import Ledger
from retrain_gate.serve import is_loopback
from tests.browser import Browser, find_chromium
from tests.notifykit import Receiver, drop_regression, free_port, project, receiving
from tests.test_notify_watch import Watch
from tests.waiting import wait_for


class Serve:
    def __init__(self, config: Path, *args: str) -> None:
        self.log = config.parent / "serve.out"
        self._out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "retrain_gate", "serve", "--config", str(config), *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
        self._out.close()
        return self.proc.returncode


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8"))
    except OSError:
        return None


receiver = pytest.fixture(receiving)


@pytest.fixture
def served(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[Path, str, str]]:
    """`serve` beside a running `watch` (the writer, which notifies `receiver`)."""
    config = project(tmp_path, [receiver.url], events=["alert_raised", "alert_acknowledged"])
    drop_regression(tmp_path)
    watch = Watch(config)
    watch.wait_text("REGRESSION")
    port = free_port()
    server = Serve(config, "--port", str(port))
    url = f"http://127.0.0.1:{port}/"
    pages: list[str] = []
    wait_for(lambda: bool(pages.append(fetch(url) or "") or pages[-1]), 30, "the page over HTTP")
    yield config, url, pages[-1]
    server.stop()
    watch.stop()


def test_the_page_is_served_on_loopback(served: tuple[Path, str, str]) -> None:
    _config, _url, page = served
    assert "retrain-gate" in page  # the application's name on the start screen
    assert 'data-session-websocket-url="ws://127.0.0.1:' in page


@pytest.mark.skipif(
    find_chromium() is None,
    reason="no chromium on PATH (Debian: apt-get install chromium; CI installs it)",
)
def test_a_browser_session_shows_the_decision_and_records_an_ack(
    served: tuple[Path, str, str], receiver: Receiver
) -> None:
    config_path, url, _page = served
    chromium = find_chromium()
    assert chromium is not None
    browser = Browser(chromium)

    async def drive() -> str:
        async with browser.open(url) as page:
            shown = await page.wait_text("REGRESSION")
            await page.wait_text("following")  # the watch is the writer
            await page.type("a")
            await page.wait_text("Acknowledge the regression alert")
            await asyncio.sleep(0.5)  # the form is drawn before its input has the focus
            await page.type("Kim", pause=0.1)
            await page.wait_text("Kim")  # every key reached the form before it is sent
            await page.ctrl("s")
            await page.wait_text("acknowledged by Kim")
            return shown

    try:
        shown = asyncio.run(asyncio.wait_for(drive(), 120))
    finally:
        browser.close()
    assert "v2 needs 4.2 corrections per episode against 0.9 for v1" in shown
    (entry,) = Ledger(load_config(config_path).paths.state_dir).entries()
    assert (entry.kind, entry.actor) == ("ack", "Kim")
    # The serving process's real user, and that the decision came through the browser.
    assert entry.os_user == pwd.getpwuid(os.getuid()).pw_name
    assert entry.payload["via"] == "browser"
    # The writer (watch) notifies the ack made in the browser, once.
    wait_for(lambda: len(receiver.posts) == 2, what="the ack's POST")
    assert [t.split(": ", 1)[1] for t in receiver.titles()] == [
        "regression alert: v2 worse than v1",
        "alert acknowledged by Kim",
    ]


def test_binding_elsewhere_warns_that_there_is_no_authentication(tmp_path: Path) -> None:
    config = project(tmp_path, [])
    # TEST-NET-1: no machine has it, so nothing listens anywhere; the bind fails at once.
    where = ["--host", "192.0.2.1", "--port", str(free_port())]
    out = subprocess.run(
        [sys.executable, "-m", "retrain_gate", "serve", "--config", str(config), *where],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "WARNING: 192.0.2.1 is reachable from other machines" in out.stderr
    assert "no authentication" in out.stderr and "docs/serve.md" in out.stderr
    assert "retrain-gate: cannot serve on 192.0.2.1:" in out.stderr
    assert "Traceback" not in out.stderr


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
