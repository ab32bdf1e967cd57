"""`retrain-gate serve` as a real process on a free loopback port: the page over HTTP, a
headless Chromium session that shows the live decision and records an acknowledgement in the
ledger under the typed name, and what is refused: a foreign Origin, a foreign Host (DNS
rebinding), a request without the secret, a busy port. Nothing leaves 127.0.0.1
(tests/browser.py)."""

from __future__ import annotations

import asyncio
import http.client
import http.cookiejar
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from retrain_gate.config import load_config
from retrain_gate.decisions.ledger import Ledger
from retrain_gate.serve import Guard, hostname_of, is_loopback, origin_of
from tests.browser import Browser, find_chromium, plain
from tests.notifykit import Receiver, drop_regression, free_port, project, receiving
from tests.test_notify_watch import Watch
from tests.waiting import CLI, wait_for


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

    def link(self) -> str:
        """The link `serve` printed, once it is listening."""
        found: list[str] = []

        def printed() -> bool:
            found[:] = re.findall(r"open (http://127\.0\.0\.1:\d+/\?token=[\w-]+) ", self.text())
            return bool(found) or self.proc.poll() is not None

        wait_for(printed, 30, "the link from serve")
        assert found, self.text()
        return found[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
        self._out.close()
        return self.proc.returncode


def fetch(url: str) -> str | None:
    """The page as a browser gets it: the link, its redirect, and the cookie it sets."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    try:
        with opener.open(url, timeout=5) as response:
            assert "token" not in response.geturl()  # the address kept no secret
            return str(response.read().decode("utf-8"))
    except OSError:
        return None


def secret_of(link: str) -> str:
    return link.split("?token=", 1)[1]


def ask(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, str]:
    """One raw GET, with the headers a script (or a rebound page) chooses, Host included."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


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
    url = server.link()
    assert url.startswith(f"http://127.0.0.1:{port}/?token=")
    pages: list[str] = []
    wait_for(lambda: bool(pages.append(fetch(url) or "") or pages[-1]), 30, "the page over HTTP")
    yield config, url, pages[-1]
    # The printed link is the only place the secret appears.
    assert server.text().count(secret_of(url)) == 1, server.text()
    assert "Traceback" not in server.text()
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


def test_binding_elsewhere_warns_that_the_link_travels_in_clear(tmp_path: Path) -> None:
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
    assert "WARNING: 192.0.2.1 is reachable from other machines over plain HTTP" in out.stderr
    assert "reverse proxy with TLS" in out.stderr and "docs/serve.md" in out.stderr
    assert "retrain-gate: cannot serve on 192.0.2.1:" in out.stderr
    assert "no address 192.0.2.1" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""  # no link: nothing listens


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


async def ack_over_a_raw_websocket(url: str, headers: dict[str, str]) -> str:
    """What the page's script does, done by any other script: open the session's websocket
    with chosen headers and acknowledge the alert as "Kim". Returns what the session showed."""
    received: list[str] = []

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers, max_msg_size=0) as ws,
    ):

        async def until(text: str) -> None:
            async with asyncio.timeout(60):
                while text not in plain("".join(received)):
                    message = await ws.receive()
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received.append(message.data.decode("utf-8", "replace"))
                    elif message.type == aiohttp.WSMsgType.TEXT:
                        received.append(message.data)
                    else:
                        raise AssertionError(f"the session ended: {message}")

        await until("REGRESSION")
        await until("following")  # the watch is the writer
        await ws.send_json(["stdin", "a"])
        await until("Acknowledge the regression alert")
        await asyncio.sleep(0.5)  # the form is drawn before its input has the focus
        for char in "Kim":
            await ws.send_json(["stdin", char])
            await asyncio.sleep(0.1)
        await until("Kim")
        await ws.send_json(["stdin", "\x13"])  # ctrl+s
        await until("acknowledged by Kim")
    return plain("".join(received))


def test_a_foreign_origin_cannot_open_a_session(served: tuple[Path, str, str]) -> None:
    """Issue 22.1: a page on another site, in the operator's browser, opened the session and
    recorded a decision. Even holding the secret, a foreign Origin is refused before a session
    starts, and nothing is recorded; the same script from the served origin records the ack,
    so the refusal is the Origin's doing."""
    config_path, url, _page = served
    port = int(url.split(":")[2].split("/")[0])
    cookie = f"retrain-gate-serve-{port}={secret_of(url)}"
    ws_url = f"ws://127.0.0.1:{port}/ws?width=120&height=40"
    state = load_config(config_path).paths.state_dir

    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{port + 1}"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            asyncio.run(ack_over_a_raw_websocket(ws_url, {"Origin": origin, "Cookie": cookie}))
        assert refused.value.status == 403
    assert Ledger(state).entries() == []
    status, _headers, body = ask(port, "/ws", {"Origin": "http://evil.example", "Cookie": cookie})
    assert status == 403
    assert body == (
        "403 refused: a websocket from http://evil.example: only the page this server serves "
        "may open one\n"
    )

    served_origin = {"Origin": f"http://127.0.0.1:{port}", "Cookie": cookie}
    asyncio.run(ack_over_a_raw_websocket(ws_url, served_origin))
    (entry,) = Ledger(state).entries()
    assert (entry.kind, entry.actor) == ("ack", "Kim")


def test_a_foreign_host_is_refused(served: tuple[Path, str, str]) -> None:
    """DNS rebinding: attacker.example resolved to 127.0.0.1, so the page and its websocket
    reach the port under the attacker's name, with the attacker's origin."""
    config_path, url, _page = served
    port = int(url.split(":")[2].split("/")[0])
    rebound = {"Host": f"attacker.example:{port}"}
    cookie = f"retrain-gate-serve-{port}={secret_of(url)}"

    status, _headers, body = ask(port, f"/?token={secret_of(url)}", rebound)
    assert status == 403
    assert body.startswith("403 refused: Host attacker.example:")
    assert "(127.0.0.1)" in body
    status, _headers, _body = ask(port, "/static/js/textual.js", {**rebound, "Cookie": cookie})
    assert status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        asyncio.run(
            ack_over_a_raw_websocket(
                f"ws://127.0.0.1:{port}/ws",
                {**rebound, "Origin": f"http://attacker.example:{port}", "Cookie": cookie},
            )
        )
    assert refused.value.status == 403
    assert Ledger(load_config(config_path).paths.state_dir).entries() == []
    # The served name, on the same requests, is let in.
    assert ask(port, f"/?token={secret_of(url)}")[0] == 303


def test_without_the_secret_nothing_is_served(tmp_path: Path) -> None:
    config = project(tmp_path, [])
    port = free_port()
    server = Serve(config, "--port", str(port))
    try:
        link = server.link()
        secret = secret_of(link)
        cookie = f"retrain-gate-serve-{port}"
        origin = {"Origin": f"http://127.0.0.1:{port}"}

        # Another local user, or a process that only knows the port.
        status, _headers, body = ask(port, "/")
        assert (status, body) == (
            403,
            "403 refused: no secret: open the link `retrain-gate serve` printed "
            "(it ends in ?token=...)\n",
        )
        assert ask(port, "/static/js/textual.js")[0] == 403
        assert ask(port, "/ws", origin)[0] == 403
        # A guess, or the link of an earlier start.
        for wrong in (secret[:-1], secret + "x", "", "a" * len(secret)):
            status, _headers, body = ask(port, f"/?token={wrong}")
            assert status == 403
            assert ("secret is wrong" if wrong else "no secret") in body, (wrong, body)
            assert ask(port, "/ws", {**origin, "Cookie": f"{cookie}={wrong}"})[0] == 403

        # The link: the secret moves to a cookie only this origin's pages send, and the
        # address the browser shows drops it (other query parameters are kept).
        status, headers, _body = ask(port, f"/?fontsize=14&token={secret}")
        assert status == 303
        assert headers["Location"] == "./?fontsize=14"
        set_cookie = headers["Set-Cookie"]
        assert set_cookie.startswith(f"{cookie}={secret};")
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        assert "Path=/" in set_cookie and "Secure" not in set_cookie  # plain http
        status, headers, page = ask(port, "/", {"Cookie": f"{cookie}={secret}"})
        assert status == 200 and "retrain-gate" in page
        assert secret not in page
        assert headers["Referrer-Policy"] == "no-referrer"
        assert ask(port, "/static/js/textual.js", {"Cookie": f"{cookie}={secret}"})[0] == 200
        # 11 refused so far; a page retrying in a loop gets its 403s, and the log stops at 20.
        for _ in range(15):
            assert ask(port, "/")[0] == 403
    finally:
        assert server.stop() == 0
    out = server.text()
    assert out.count(secret) == 1, out  # in the link, and in no log line
    assert "refused GET / from 127.0.0.1: no secret" in out
    assert out.count("refused GET ") == 20
    assert out.count("further refused requests are not shown") == 1
    assert "Traceback" not in out


def test_behind_a_proxy_the_public_name_is_served(tmp_path: Path) -> None:
    """`--public-url`: the link names the proxy; the proxy's Host (nginx's `$host`, without
    a port) and its origin are let in, the cookie is Secure; other names still are not."""
    config = project(tmp_path, [])
    port = free_port()
    server = Serve(config, "--port", str(port), "--public-url", "https://gate.example.internal/")
    try:
        wait_for(lambda: "?token=" in server.text(), 30, "the link")
        (link,) = re.findall(r"open (\S+) ", server.text())
        assert link.startswith("https://gate.example.internal/?token=")
        secret = secret_of(link)
        proxied = {"Host": "gate.example.internal"}
        status, headers, _body = ask(port, f"/?token={secret}", proxied)
        assert status == 303 and "Secure" in headers["Set-Cookie"]
        cookie = {"Cookie": f"retrain-gate-serve-{port}={secret}"}
        status, _headers, page = ask(port, "/", {**proxied, **cookie})
        assert status == 200
        assert 'data-session-websocket-url="wss://gate.example.internal/ws"' in page
        assert ask(port, "/", cookie)[0] == 200  # on the serving machine itself
        assert ask(port, "/", {"Host": "gate.example.com", **cookie})[0] == 403
        origin = {"Origin": "http://gate.example.internal", **proxied, **cookie}
        assert ask(port, "/ws", origin)[0] == 403  # not https: another origin
    finally:
        assert server.stop() == 0


def test_a_busy_port_is_one_line_and_no_banner(tmp_path: Path) -> None:
    """Issue 21.8: `Serving ... Press Ctrl+C to quit` was printed before the bind failed."""
    config = project(tmp_path, [])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [*CLI, "serve", "--config", str(config), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        f"retrain-gate: cannot serve on 127.0.0.1:{port}: port {port} is already in use "
        "(another retrain-gate serve?); choose another with --port, or stop what listens there"
    ]


def test_what_counts_as_the_served_origin_and_host() -> None:
    assert origin_of("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert origin_of("HTTPS://Gate.Example.Internal") == "https://gate.example.internal:443"
    assert origin_of("http://[::1]:8000/x") == "http://[::1]:8000"
    assert origin_of("null") is None and origin_of("file:///etc") is None
    assert origin_of("http://127.0.0.1:99999") is None
    assert hostname_of("127.0.0.1:8000") == "127.0.0.1"
    assert hostname_of("Gate.Example.Internal") == "gate.example.internal"
    assert hostname_of("[::1]:8000") == "::1"
    assert hostname_of("evil@127.0.0.1") is None and hostname_of("127.0.0.1/x") is None
    assert hostname_of("127.0.0.1:port") is None

    guard = Guard(
        secret="s3cret",
        urls=("https://gate.example.internal", "http://127.0.0.1:8000"),
        cookie="c",
    )

    def why(host: str | None, origin: str | None, *, ws: bool = True) -> str | None:
        return guard.refusal(host=host, origin=origin, websocket=ws, token=None, cookie="s3cret")

    assert why("gate.example.internal", "https://gate.example.internal:443") is None
    assert why("127.0.0.1:8000", "http://127.0.0.1:8000") is None
    assert why("127.0.0.1:8000", None, ws=False) is None  # a plain GET from the address bar
    assert "a websocket without an Origin" in (why("127.0.0.1:8000", None) or "")
    assert "from http://127.0.0.1:8001" in (why("127.0.0.1:8000", "http://127.0.0.1:8001") or "")
    assert "a request from" in (why("127.0.0.1:8000", "http://evil.example", ws=False) or "")
    assert "Host localhost:8000" in (why("localhost:8000", "http://127.0.0.1:8000") or "")
    assert "a request without a Host header (" in (why(None, "http://127.0.0.1:8000") or "")
    ok = {"host": "127.0.0.1:8000", "origin": None, "websocket": False}
    assert guard.refusal(**ok, token="s3cret", cookie=None) is None
    assert (
        guard.refusal(**ok, token="wrong", cookie="s3cret") is None
    )  # an old link, a fresh cookie
    assert "wrong" in (guard.refusal(**ok, token="s3cre", cookie=None) or "")
    assert "no secret" in (guard.refusal(**ok, token=None, cookie=None) or "")
