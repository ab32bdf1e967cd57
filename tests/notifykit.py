"""A real HTTP receiver on 127.0.0.1 for Apprise's `json://` scheme, and a project folder
whose exports raise a statistical regression alert (tests.unit.test_alerts' v1 -> v2)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.lsbuild import write_export
from tests.unit.test_alerts import PREV, WORSE, release_tasks


class Receiver:
    """Records every POST body (JSON). `stop()` closes the port (connection refused), and
    `start()` opens the same port again: a webhook down for a while, then back."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds before it answers (it has taken the message by then)
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        posts, lock, delay = self.posts, self._lock, self.delay

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with lock:
                    posts.append(body)
                time.sleep(delay)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def titles(self) -> list[str]:
        with self._lock:
            return [str(p.get("title", "")) for p in self.posts]

    def count(self, word: str) -> int:
        return sum(word in title for title in self.titles())


def receiving() -> Iterator[Receiver]:
    """The `receiver` fixture of the notification tests: a started receiver."""
    r = Receiver()
    r.start()
    yield r
    r.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project(
    folder: Path, urls: list[str], *, events: list[str] | None = None, extra: str = ""
) -> Path:
    """A project with exports/, state/ and eval.txt; returns the config path."""
    (folder / "exports").mkdir(parents=True, exist_ok=True)
    (folder / "eval.txt").write_text("v1\n", encoding="utf-8")
    notify = f"[notify]\nurls = {json.dumps(urls)}\nretry_seconds = 0.3\n"
    if events is not None:
        notify += f"events = {json.dumps(events)}\n"
    config = folder / "config.toml"
    config.write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\neval_set = "eval.txt"\n'
        "[gates]\ninitial_corpus_episodes = 30\n"
        "[watch]\nsettle_seconds = 0.3\nrescan_seconds = 2\n" + notify + extra,
        encoding="utf-8",
    )
    return config


def drop_regression(folder: Path, name: str = "1-worse.json", mtime: int = 100) -> Path:
    """v1 corrected 0.9 per episode, v2 4.2: the statistical alert statistics:v1->v2."""
    tasks = release_tasks("v1", PREV, "2026-03-01T00:00:00Z")
    tasks += release_tasks("v2", WORSE, "2026-03-01T00:00:00Z")
    tmp = write_export(folder / "staging", name, tasks, mtime=mtime)
    target = folder / "exports" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)  # arrives whole, as a `mv` into the folder
    return target
