"""Headless Chromium driven over the DevTools protocol, for `retrain-gate serve`'s test.

Only 127.0.0.1 is reachable from the browser (`--host-resolver-rules`): the page textual-serve
renders asks for a web font, and nothing may leave the machine. The terminal in the page
draws on a canvas, so what the session shows is read from what the browser received on the
session's websocket (the app's terminal output), recorded by a script that runs before the
page's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]

RECORD_SOCKETS = """
window.__received = [];
const Native = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
  socket.addEventListener("message", (event) => {
    const data = event.data;
    window.__received.push(
      typeof data === "string" ? data : new TextDecoder().decode(new Uint8Array(data))
    );
  });
  return socket;
};
window.WebSocket.prototype = Native.prototype;
Object.assign(window.WebSocket, Native);
"""

_ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[A-Za-z~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b.")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def plain(text: str) -> str:
    """Terminal output without its escape sequences."""
    return _ANSI.sub("", text)


class Page:
    """One page over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> Any:
        number = next(self._ids)
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.receive_str(timeout=30))
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def received(self) -> str:
        """What the page's websockets received so far, escape sequences removed."""
        return plain(str(await self.evaluate("(window.__received || []).join('')") or ""))

    async def wait_text(self, until: str, *, count: int = 1, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self.received()
            if text.count(until) >= count:
                return text
            await asyncio.sleep(0.2)
        raise AssertionError(f"the page never showed {until!r}; it showed {text[-2000:]!r}")

    async def type(self, text: str, *, pause: float = 0.0) -> None:
        """Keys typed into the terminal (it reads them from its focused text area); `pause`
        between keys, as a person types, for an app that is still settling (a loaded CI
        machine dropped the keys typed into a form that had just opened)."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        for char in text:
            await self.call("Input.dispatchKeyEvent", type="keyDown", key=char, text=char)
            await self.call("Input.dispatchKeyEvent", type="keyUp", key=char)
            if pause:
                await asyncio.sleep(pause)

    async def ctrl(self, letter: str) -> None:
        code = ord(letter.upper())
        for kind in ("keyDown", "keyUp"):
            await self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=letter,
                code=f"Key{letter.upper()}",
                windowsVirtualKeyCode=code,
                modifiers=2,  # Ctrl
            )


class Browser:
    """One headless Chromium with its own throw-away profile."""

    def __init__(self, executable: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="rg-chromium-"))
        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def devtools_port(self, timeout: float = 30) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"chromium exited with {self.proc.returncode}")
            try:
                return int(active.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        raise AssertionError("chromium did not open its DevTools port")

    @contextlib.asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[Page]:
        """`url` in the blank page, recording what its websockets receive."""
        port = self.devtools_port()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            target = next(t for t in targets if t.get("type") == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                await page.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SOCKETS)
                await page.call("Page.navigate", url=url)
                yield page

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)
