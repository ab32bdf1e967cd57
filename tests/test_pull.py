"""`retrain-gate pull` against a real Label Studio started here on 127.0.0.1.

The server is found on PATH, in $LABEL_STUDIO_BIN or in /tmp/lsvenv (its own venv: it pins
its own Django and friends); without one these tests are skipped and say so. CI installs it.
Outcomes Label Studio cannot be made to produce on demand (a failed or never-finishing
snapshot, a download cut short) are served by a small HTTP server speaking the same API.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.lsbuild import kp
from tests.waiting import CLI, check_json

TOKEN = "0123456789abcdef0123456789abcdef01234567"
WRONG_TOKEN = "fedcba9876543210fedcba9876543210fedcba98"
OLD, NEW = "hand-kp-2026.10", "hand-kp-2026.11"
LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <KeyPointLabels name="kp" toName="image">
    <Label value="wrist"/><Label value="thumb_tip"/>
  </KeyPointLabels>
</View>"""
STARTUP_SECONDS = 240  # first start runs every migration; a loaded 2-core CI box is slow
pytestmark = pytest.mark.timeout(600)


def _label_studio_bin() -> str | None:
    for candidate in (
        os.environ.get("LABEL_STUDIO_BIN"),
        shutil.which("label-studio"),
        "/tmp/lsvenv/bin/label-studio",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, method: str, path: str, body: Any = None, token: str = TOKEN) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", f"Token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        content = response.read()
    return json.loads(content) if content[:1] in (b"{", b"[") else content


@dataclass
class Server:
    url: str
    project: int
    log: Path


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = _label_studio_bin()
    if binary is None:
        pytest.skip(
            "label-studio is not installed: put it on PATH, set LABEL_STUDIO_BIN, or "
            "`python3 -m venv /tmp/lsvenv && /tmp/lsvenv/bin/pip install 'label-studio==1.23.*'`"
        )
    root = tmp_path_factory.mktemp("label-studio")
    port = _free_port()
    env = {
        **os.environ,
        # No traffic leaves the machine: no error reporting, analytics or version checks.
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
        "FEATURE_FLAGS_OFFLINE": "true",
        "LABEL_STUDIO_USERNAME": "admin@example.com",
        "LABEL_STUDIO_PASSWORD": "retrain-gate-test",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
    }
    log = root / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *(binary, "start", "--internal-host", "127.0.0.1", "--port", str(port)),
                *("--no-browser", "--enable-legacy-api-token", "--data-dir", str(root / "data")),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group: `label-studio start` runs the server in a child process.
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                _call(url, "GET", "/api/projects/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    pytest.fail(f"Label Studio did not start on {url}:\n{tail}")
                time.sleep(1)
        yield Server(url, _make_project(url), log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)


def _make_project(url: str) -> int:
    """Six frames of two episodes, worked out by hand in test_pull_equals_export_by_hand."""
    project = _call(url, "POST", "/api/projects/", {"title": "pull", "label_config": LABEL_CONFIG})
    pid = int(project["id"])

    def task(episode: str, frame: int, release: str | None) -> dict[str, Any]:
        image = f"/data/local-files/?d=episodes/pick_cube/{episode}/frame_{frame:03d}.jpg"
        item: dict[str, Any] = {"data": {"image": image}}
        if release:
            result = [kp(30, 40, label="wrist", rid="w"), kp(50, 60, label="thumb_tip", rid="t")]
            item["predictions"] = [{"model_version": release, "result": result}]
        return item

    _call(url, "POST", f"/api/projects/{pid}/import", [task("ep_1", i, OLD) for i in range(3)])
    time.sleep(1.1)  # the two releases get distinct created_at
    second = [task("ep_2", 0, NEW), task("ep_2", 1, NEW), task("ep_2", 2, None)]
    _call(url, "POST", f"/api/projects/{pid}/import", second)
    tasks = _call(url, "GET", f"/api/tasks/?project={pid}&page_size=100")
    tasks = sorted(tasks["tasks"] if isinstance(tasks, dict) else tasks, key=lambda t: t["id"])
    for index, item in enumerate(tasks):
        preds = _call(url, "GET", f"/api/predictions/?task={item['id']}")
        parent = preds[0]["id"] if preds else None
        accepted = [dict(r, origin="prediction") for r in preds[0]["result"]] if preds else []
        body: dict[str, Any]
        if index in (0, 3):  # accepted as predicted
            body = {"result": accepted, "parent_prediction": parent}
        elif index == 1:  # the wrist dragged in the editor: corrected
            moved = [dict(accepted[0], origin="prediction-changed"), accepted[1]]
            moved[0]["value"] = dict(moved[0]["value"], x=36.0)
            body = {"result": moved, "parent_prediction": parent}
        elif index == 2:  # skipped
            body = {"result": [], "was_cancelled": True, "parent_prediction": parent}
        elif index == 4:  # through the API, no origin, thumb moved by 3 %: corrected
            plain = [kp(30, 40, label="wrist", rid="w"), kp(53, 60, label="thumb_tip", rid="t")]
            body = {"result": plain, "parent_prediction": parent}
        else:  # no prediction: labeled from scratch
            body = {"result": [kp(10, 10, label="wrist", rid="m", origin="manual")]}
        _call(url, "POST", f"/api/tasks/{item['id']}/annotations/", body)
    return pid


def _folder(
    tmp_path: Path, url: str, project: int, limits: dict[str, Any] | None = None, **extra: Any
) -> Path:
    (tmp_path / "exports").mkdir(parents=True, exist_ok=True)
    (tmp_path / "eval").mkdir()
    lines = [
        *(["[limits]"] if limits else []),
        *(f"{key} = {json.dumps(value)}" for key, value in (limits or {}).items()),
        "[paths]",
        'export_dir = "exports"',
        'state_dir = "state"',
        'eval_set = "eval"',
        "[labelstudio]",
        f'url = "{url}"',
        f"project = {project}",
        *(f"{key} = {json.dumps(value)}" for key, value in extra.items()),
    ]
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n")
    return tmp_path


def _pull(
    cwd: Path, token: str | None = TOKEN, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABEL_STUDIO_API_KEY"}
    if token is not None:
        env["LABEL_STUDIO_API_KEY"] = token
    return subprocess.run(
        [*CLI, "pull"], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _refused(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr
    for token in (TOKEN, WRONG_TOKEN):
        assert token not in out.stderr + out.stdout


def _export_by_hand(server: Server, folder: Path) -> Path:
    """What a person gets from Label Studio's export API with full predictions."""
    options = {"serialization_options": {"predictions": {"only_id": False}}}
    created = _call(server.url, "POST", f"/api/projects/{server.project}/exports/", options)
    base = f"/api/projects/{server.project}/exports/{created['id']}"
    deadline = time.monotonic() + 120
    while _call(server.url, "GET", base)["status"] != "completed":
        assert time.monotonic() < deadline, "the hand-made export never completed"
        time.sleep(0.5)
    raw = _call(server.url, "GET", base + "/download?exportType=JSON")
    target = folder / "exports" / "by_hand.json"
    target.write_bytes(raw if isinstance(raw, bytes) else json.dumps(raw).encode())
    return target


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("frames", "episodes", "releases", "delta_episodes", "task_counts", "reason")
    return {key: report[key] for key in keys}


def test_pull_equals_export_by_hand(label_studio: Server, tmp_path: Path) -> None:
    pulled_dir = _folder(tmp_path / "pulled", label_studio.url, label_studio.project)
    out = _pull(pulled_dir)
    assert out.returncode == 0, out.stderr
    files = sorted(p.name for p in (pulled_dir / "exports").iterdir())
    assert ".retrain-gate-pulled" in files
    files.remove(".retrain-gate-pulled")
    # Label Studio's own name for a snapshot, and nothing else (no temporary left over).
    assert len(files) == 1 and files[0].startswith(f"project-{label_studio.project}-at-"), files
    assert files[0].endswith(".json")
    assert "snapshot" in out.stderr and TOKEN not in out.stderr + out.stdout
    pulled = check_json(pulled_dir)

    hand_dir = _folder(tmp_path / "hand", label_studio.url, label_studio.project)
    _export_by_hand(label_studio, hand_dir)
    assert _figures(pulled) == _figures(check_json(hand_dir))

    # By hand from the project: 6 frames; task 3 skipped; tasks 2 (dragged) and 5 (moved 3 %
    # through the API) corrected; both episodes have every frame done.
    assert pulled["frames"] == {
        "total": 6,
        "reviewed": 5,
        "skipped": 1,
        "corrected": 2,
        "unmapped": 0,
        "correction_unknown": 0,
        "release_unknown": 0,  # a full snapshot names every source's release
    }
    assert pulled["episodes"] == {"total": 2, "harvested": 2}
    assert [
        (r["model_version"], r["episodes"], r["corrected_frames"]) for r in pulled["releases"]
    ] == [
        (OLD, 1, 1),
        (NEW, 1, 1),
    ]
    # The pull removed its snapshot from the server; the hand-made one is still listed.
    listed = _call(label_studio.url, "GET", f"/api/projects/{label_studio.project}/exports/")
    assert [e["title"] for e in listed].count("retrain-gate pull") == 0


def test_older_pulled_snapshots_are_removed_and_others_kept(
    label_studio: Server, tmp_path: Path
) -> None:
    url = label_studio.url
    project = _call(url, "POST", "/api/projects/", {"title": "keep", "label_config": LABEL_CONFIG})
    pid = int(project["id"])
    folder = _folder(tmp_path, url, pid, pull_keep=2)
    mine = folder / "exports" / "by_hand.json"
    mine.write_text("[]")
    pulled = []
    for n in range(3):
        # A new task each time: a changed project gets a new snapshot name from Label Studio.
        image = f"/data/local-files/?d=episodes/pick_cube/ep_9/frame_{n:03d}.jpg"
        _call(url, "POST", f"/api/projects/{pid}/import", [{"data": {"image": image}}])
        out = _pull(folder)
        assert out.returncode == 0, out.stderr
        pulled.append(out.stdout.split()[1].rstrip(";"))
    assert len(set(pulled)) == 3, pulled
    names = sorted(p.name for p in (folder / "exports").iterdir() if not p.name.startswith("."))
    assert names == sorted(["by_hand.json", *(Path(p).name for p in pulled[1:])])
    # `<sha256>  <name>` a line: rotation removes only files whose bytes pull recorded
    record = [line.split() for line in (folder / "exports" / ".retrain-gate-pulled").open()]
    assert [name for _, name in record] == [Path(p).name for p in pulled[1:]]
    exports = folder / "exports"
    assert [h for h, _ in record] == [
        hashlib.sha256((exports / name).read_bytes()).hexdigest() for _, name in record
    ]


def _nothing_written(folder: Path) -> None:
    assert list((folder / "exports").iterdir()) == []


def test_wrong_token_is_refused(label_studio: Server, tmp_path: Path) -> None:
    folder = _folder(tmp_path, label_studio.url, label_studio.project)
    _refused(_pull(folder, token=WRONG_TOKEN), "HTTP 401", "[labelstudio] token_env")
    _nothing_written(folder)


def test_unknown_project_is_named(label_studio: Server, tmp_path: Path) -> None:
    folder = _folder(tmp_path, label_studio.url, 9999)
    _refused(_pull(folder), "no project 9999", "[labelstudio] project")
    _nothing_written(folder)


def test_server_down_names_the_url(label_studio: Server, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    folder = _folder(tmp_path, down, label_studio.project)
    _refused(_pull(folder), f"cannot reach Label Studio at {down}", "[labelstudio] url")
    _nothing_written(folder)


def test_missing_token_variable_names_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "http://127.0.0.1:9", 1, token_env="MY_LS_TOKEN")
    _refused(_pull(folder, token=None), "MY_LS_TOKEN", "[labelstudio] token_env")
    _nothing_written(folder)


def test_unset_url_and_project_are_named(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "config.toml").write_text('[paths]\nexport_dir = "exports"\n')
    _refused(_pull(tmp_path), "[labelstudio] url is not set")
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\n[labelstudio]\nurl = "http://127.0.0.1:9"\n'
    )
    _refused(_pull(tmp_path), "[labelstudio] project is not set")


def test_a_token_pasted_into_token_env_is_not_echoed(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "http://127.0.0.1:9", 1, token_env=TOKEN)
    _refused(_pull(folder), "labelstudio.token_env", "not the token itself")


# ------------------------------------------------------------------ outcomes served on demand


class _Imitation(BaseHTTPRequestHandler):
    """Label Studio's export API, answering with the outcome the test asks for."""

    outcome = "completed"

    def log_message(self, *args: object) -> None:
        del args

    def _json(self, body: Any, code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/api/version"):
            self._json({"release": "1.23.2"})
        elif "/download" in self.path:
            # Promises more than it sends, then hangs up: a download cut short.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Disposition", 'attachment; filename="project-1-at-x.json"')
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b'[{"id": 1, "data": {}}')
            self.wfile.flush()
            self.close_connection = True
        else:
            self._json({"id": 5, "status": self.outcome})

    def do_POST(self) -> None:
        self._json({"id": 5, "status": "created"}, 201)

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.end_headers()


H = TypeVar("H", bound=BaseHTTPRequestHandler)


def _serving(base: type[H]) -> Iterator[type[H]]:
    """A fresh subclass of `base` (its class attributes are the test's to set) served on
    127.0.0.1 for the length of one test, its address as `.url`."""
    handler = type("Handler", (base,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def imitation() -> Iterator[type[_Imitation]]:
    yield from _serving(_Imitation)


def test_failed_snapshot_is_reported(imitation: Any, tmp_path: Path) -> None:
    imitation.outcome = "failed"
    folder = _folder(tmp_path, imitation.url, 1)
    _refused(_pull(folder), "snapshot 5 of project 1 failed")
    _nothing_written(folder)


def test_snapshot_that_never_finishes_times_out(imitation: Any, tmp_path: Path) -> None:
    imitation.outcome = "in_progress"
    folder = _folder(tmp_path, imitation.url, 1, pull_timeout_seconds=1.5)
    started = time.monotonic()
    out = _pull(folder, timeout=60)
    _refused(out, "pull_timeout_seconds")
    # Which step meets the deadline depends on the machine's load: polling the unfinished
    # snapshot, or a request on the way to it. Either way the deadline is named.
    assert "not ready after 2 s" in out.stderr or "did not finish within 1.5 s" in out.stderr
    assert time.monotonic() - started < 30
    _nothing_written(folder)


def test_download_cut_short_leaves_nothing(imitation: Any, tmp_path: Path) -> None:
    imitation.outcome = "completed"
    folder = _folder(tmp_path, imitation.url, 1)
    _refused(_pull(folder), "the download of snapshot 5 broke off", "pull again")
    _nothing_written(folder)


def test_no_label_studio_without_the_sdk_import_in_check() -> None:
    # `check` and the dashboard never pay for label-studio-sdk's import.
    code = (
        "import sys, retrain_gate.cli, retrain_gate.engine\n"
        "print('label_studio_sdk' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_a_url_without_scheme_is_named(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "localhost:8080", 1)
    _refused(_pull(folder), "labelstudio.url", "http://localhost:8080")
    _nothing_written(folder)


def test_pull_snapshot_is_a_plain_function_with_progress(
    label_studio: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What watch and the dashboard call from a worker thread: a path back, progress as text.
    from retrain_gate.config import load_config
    from retrain_gate.labelstudio.pull import pull_snapshot

    folder = _folder(tmp_path, label_studio.url, label_studio.project)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    said: list[str] = []
    path = pull_snapshot(load_config(folder / "config.toml"), said.append)
    assert path.parent == folder / "exports" and path.is_file()
    assert json.loads(path.read_bytes())[0]["project"] == label_studio.project
    assert said[0].startswith("asking Label Studio at") and said[-1] == f"saved {path.name}"
    assert not any(TOKEN in line for line in said)


# ---------------------------------------------------------------- pulls inside watch and the TUI


def test_watch_pulls_on_its_schedule_and_reads_the_snapshot(
    label_studio: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pull_minutes = 0.02 (1.2 s): the writer pulls at start and on that schedule; each
    snapshot lands in the export folder and is read like any export."""
    from tests.waiting import wait_for
    from tests.watchkit import Watch

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    folder = _folder(tmp_path, label_studio.url, label_studio.project, pull_minutes=0.02)
    watch = Watch(folder)
    try:
        wait_for(lambda: "pulled project-" in watch.text(), timeout=120, what="a pull")
        wait_for(lambda: "6 frames, 6 new" in watch.text(), timeout=60, what="its ingest")
        assert TOKEN not in watch.text() and "Traceback" not in watch.text()
    finally:
        watch.stop()
    assert "scheduled pull" in watch.text()


def _press_u(folder: Path, *until: str, timeout: float = 15, frames: int | None = None) -> Any:
    """The dashboard on `folder`: press u, wait until the activity log says each of `until`
    (and, with `frames`, until a report counts that many: it follows the ingest line)."""
    import asyncio

    from retrain_gate.config import load_config
    from retrain_gate.tui.app import make_app
    from tests.test_tui_actions import SIZE, started
    from tests.test_tui_actions import wait_for as wait_for_app
    from tests.test_tui_dashboard import activity_text

    app = make_app(load_config(folder / "config.toml"))

    async def drive() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app, delta=0)
            await pilot.press("u")
            for text in until:
                await wait_for_app(pilot, lambda t=text: t in activity_text(app), timeout)
            if frames is not None:
                await wait_for_app(
                    pilot,
                    lambda: app.report is not None and app.report.frames.total == frames,
                    timeout,
                )

    asyncio.run(drive())
    return app


def test_the_dashboard_pulls_on_a_key(
    label_studio: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    folder = _folder(tmp_path, label_studio.url, label_studio.project)
    app = _press_u(folder, "pulling a snapshot", "6 frames, 6 new", timeout=120, frames=6)
    assert app.report.frames.reviewed == 5  # the project's, as test_pull_equals_export_by_hand


def test_the_dashboard_says_how_to_set_up_a_pull(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\neval_set = "eval"\n'
    )
    _press_u(tmp_path, "set [labelstudio] url")


# ------------------------------------------------------------------- a hostile server (issue 22)


class _Hostile(_Imitation):
    """A completed snapshot whose download is whatever the test sets: the body, the file name
    the server chooses, a Content-Length (None: none, the body ends when the connection
    closes), a drip (seconds between bytes), or an endless body."""

    body = b'[{"id": 1, "data": {}}]'
    filename = "project-1-at-x.json"
    length: int | None = -1  # -1: the true length
    drip = 0.0
    endless = False
    hang = False  # answer nothing at all, ever

    def do_GET(self) -> None:
        if self.hang:
            time.sleep(120)
            return
        if "/download" not in self.path:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Disposition", f'attachment; filename="{self.filename}"')
        length = len(self.body) if self.length == -1 else self.length
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client hung up: what the test wants
            if self.endless:
                while True:
                    self.wfile.write(b" " * 65536)
            elif self.drip:
                for byte in self.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(self.drip)
            else:
                self.wfile.write(self.body)


@pytest.fixture
def hostile() -> Iterator[type[_Hostile]]:
    yield from _serving(_Hostile)


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "exports").iterdir() if not p.name.startswith("."))


def _pull_here(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """pull_snapshot in this process (so the test knows the pid in the temporary names)."""
    from retrain_gate.config import load_config
    from retrain_gate.labelstudio.pull import pull_snapshot

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    said: list[str] = []
    return pull_snapshot(load_config(folder / "config.toml"), said.append), said


def test_planted_links_are_not_written_through(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 22.3: the old temporaries had predictable names and were opened without O_EXCL.
    folder = _folder(tmp_path, hostile.url, 1)
    exports = folder / "exports"
    victims = [tmp_path / "victim-record", tmp_path / "victim-part"]
    for victim in victims:
        victim.write_text("precious")
    pid = os.getpid()
    (exports / f".retrain-gate-pulled.{pid}.tmp").symlink_to(victims[0])
    (exports / f".project-1-at-x.json.{pid}.part").symlink_to(victims[1])
    path, _ = _pull_here(folder, monkeypatch)
    assert [v.read_text() for v in victims] == ["precious", "precious"]
    assert path.read_bytes() == hostile.body and not path.is_symlink()
    record = exports / ".retrain-gate-pulled"
    assert not record.is_symlink() and record.read_text().split()[1] == "project-1-at-x.json"


def test_a_record_that_is_a_link_is_refused(hostile: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, hostile.url, 1)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (folder / "exports" / ".retrain-gate-pulled").symlink_to(victim)
    _refused(_pull(folder), ".retrain-gate-pulled is a symbolic link", "remove it")
    assert victim.read_text() == "precious\n"
    assert _visible(folder) == []  # refused before anything was downloaded


def test_a_hand_saved_file_under_the_servers_name_is_kept(hostile: Any, tmp_path: Path) -> None:
    # Issue 22.4: the server chose the name of a file a person saved; pull_keep = 1.
    folder = _folder(tmp_path, hostile.url, 1, pull_keep=1)
    hand = folder / "exports" / "hand-export-2026-11-01.json"
    hand.write_text("[]")
    hostile.filename = hand.name
    first = _pull(folder)
    assert first.returncode == 0, first.stderr
    assert "hand-export-2026-11-01-2.json" in first.stdout, first.stdout
    assert "taken by a file pull did not write" in first.stderr
    hostile.body = b'[{"id": 2, "data": {}}]'
    second = _pull(folder)
    assert second.returncode == 0, second.stderr
    # The second pull's own copy rotated out the first; the hand-saved file is untouched.
    assert hand.read_text() == "[]"
    assert _visible(folder) == ["hand-export-2026-11-01-3.json", "hand-export-2026-11-01.json"]
    assert (folder / "exports" / "hand-export-2026-11-01-3.json").read_bytes() == hostile.body


def test_rotation_keeps_a_file_changed_since_pull_wrote_it(hostile: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, hostile.url, 1, pull_keep=1)
    hostile.filename = "project-1-at-a.json"
    assert _pull(folder).returncode == 0
    edited = folder / "exports" / "project-1-at-a.json"
    edited.write_text('[{"id": 1, "data": {"note": "fixed by hand"}}]')
    hostile.filename = "project-1-at-b.json"
    out = _pull(folder)
    assert out.returncode == 0, out.stderr
    assert _visible(folder) == ["project-1-at-a.json", "project-1-at-b.json"]
    assert "kept project-1-at-a.json" in out.stderr
    # Unchanged, pull's own older copy does go: b is removed by the third pull.
    hostile.filename = "project-1-at-c.json"
    assert _pull(folder).returncode == 0
    assert _visible(folder) == ["project-1-at-a.json", "project-1-at-c.json"]


def test_a_snapshot_over_the_size_cap_is_refused(hostile: Any, tmp_path: Path) -> None:
    # Issue 22.5. 0.001 MB is 1,048 bytes: the promised 5,000 are refused before a byte is
    # kept, and so are 3 MB sent with no Content-Length at all.
    folder = _folder(tmp_path, hostile.url, 1, limits={"max_export_mb": 0.001})
    hostile.body = b"[" + b" " * 4998 + b"]"
    _refused(_pull(folder), "over [limits] max_export_mb = 0.001")
    _nothing_written(folder)
    hostile.body = b"[" + b" " * (3 * 1024 * 1024) + b"]"
    hostile.length = None
    _refused(_pull(folder), "over [limits] max_export_mb = 0.001")
    _nothing_written(folder)


def test_an_endless_body_stops_at_the_cap(hostile: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, hostile.url, 1, limits={"max_export_mb": 2})
    hostile.endless, hostile.length = True, None
    _refused(_pull(folder, timeout=60), "over [limits] max_export_mb = 2")
    _nothing_written(folder)


def test_a_drip_is_cut_at_the_pull_deadline(hostile: Any, tmp_path: Path) -> None:
    # One byte every 0.25 s: each read returns, so only a deadline for the whole pull stops it.
    folder = _folder(tmp_path, hostile.url, 1, pull_timeout_seconds=2)
    hostile.body = b"[" + b" " * 200 + b"]"
    hostile.drip = 0.25
    started = time.monotonic()
    _refused(_pull(folder, timeout=60), "did not finish within 2 s", "pull_timeout_seconds")
    assert time.monotonic() - started < 20
    _nothing_written(folder)


def test_a_server_that_never_answers_is_cut_at_the_pull_deadline(
    hostile: Any, tmp_path: Path
) -> None:
    # Before, each request waited its own 30 s, whatever pull_timeout_seconds said.
    folder = _folder(tmp_path, hostile.url, 1, pull_timeout_seconds=1.5)
    hostile.hang = True
    started = time.monotonic()
    _refused(_pull(folder, timeout=60), "did not finish within 1.5 s", "pull_timeout_seconds")
    assert time.monotonic() - started < 15
    _nothing_written(folder)


def test_a_body_that_is_not_json_is_not_kept(hostile: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, hostile.url, 1)
    for body in (b"<html><body>502 Bad Gateway</body></html>", b'{"detail": "x"}', b"[1, 2"):
        hostile.body = body
        _refused(_pull(folder), "is not a JSON list of tasks, so it was not kept")
        _nothing_written(folder)


def test_a_full_disk_is_named_as_such(hostile: Any, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(exports)],
        capture_output=True,
        check=False,
    )
    if os.geteuid() != 0 or mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        folder = _folder(tmp_path, hostile.url, 1)
        hostile.body = b"[" + b" " * (3 * 1024 * 1024) + b"]"
        out = _pull(folder)
        _refused(out, "the disk is full", "free some space")
        assert "reach" not in out.stderr and "broke off" not in out.stderr
        _nothing_written(folder)
    finally:
        subprocess.run(["umount", "-l", str(exports)], capture_output=True, check=False)


def test_stale_partial_downloads_are_removed_at_start(hostile: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, hostile.url, 1)
    exports = folder / "exports"
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [
        exports / f".project-1-at-x.json.{dead.pid}.part",  # the old naming
        exports / f".retrain-gate-pull.{dead.pid}.k2j4h.part",
    ]
    running = exports / f".retrain-gate-pull.{os.getpid()}.abcd.part"  # a live pull's
    for path in [*stale, running]:
        path.write_bytes(b"[{")
    out = _pull(folder)
    assert out.returncode == 0, out.stderr
    assert [p.exists() for p in stale] == [False, False]
    assert running.exists()
    assert f"removed {stale[0].name}" in out.stderr


def test_a_hung_pull_ends_at_the_deadline_and_watch_pulls_again(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A never-ending drip under watch: each scheduled pull fails at pull_timeout_seconds, so
    # the next one is not told "a pull is already under way" for ever.
    from tests.waiting import wait_for
    from tests.watchkit import Watch

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    hostile.body = b"[" + b" " * 100000 + b"]"
    hostile.drip = 0.2
    # A password in the url is not shown in watch's lines either.
    url = hostile.url.replace("http://", "http://kim:s3cr3t-pw@")
    folder = _folder(tmp_path, url, 1, pull_minutes=0.02, pull_timeout_seconds=1.5)
    watch = Watch(folder)
    try:
        wait_for(
            lambda: watch.text().count("did not finish within 1.5 s") >= 2,
            timeout=60,
            what="two pulls cut at the deadline",
        )
    finally:
        watch.stop()
    assert "Traceback" not in watch.text() and "s3cr3t-pw" not in watch.text()
    assert "from http://***@127.0.0.1" in watch.text()


def test_watch_shows_what_pull_kept(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file kept or renamed is a line in watch's output, not a passing progress step.
    from tests.waiting import wait_for
    from tests.watchkit import Watch

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    folder = _folder(tmp_path, hostile.url, 1, pull_minutes=0.02)
    (folder / "exports" / "project-1-at-x.json").write_text("[]")
    watch = Watch(folder)
    try:
        wait_for(lambda: "pulled project-1-at-x-2.json" in watch.text(), timeout=60, what="a pull")
    finally:
        watch.stop()
    assert "pull: project-1-at-x.json is taken by a file pull did not write" in watch.text()
    assert (folder / "exports" / "project-1-at-x.json").read_text() == "[]"


# ------------------------------------------------------------------------------------ the lows


def test_a_password_in_the_url_is_never_shown(hostile: Any, tmp_path: Path) -> None:
    secret_url = hostile.url.replace("http://", "http://kim:s3cr3t-pw@")
    folder = _folder(tmp_path, secret_url, 1)
    hostile.outcome = "failed"
    out = _pull(folder)
    _refused(out, "http://***@127.0.0.1")
    assert "s3cr3t-pw" not in out.stderr + out.stdout and "kim:" not in out.stderr
    assert "cleartext" not in out.stderr  # loopback: nothing crosses a network
    down = f"http://kim:s3cr3t-pw@127.0.0.1:{_free_port()}"
    (folder / "config.toml").write_text(
        (folder / "config.toml").read_text().replace(secret_url, down)
    )
    out = _pull(folder)
    _refused(out, "cannot reach Label Studio at http://***@127.0.0.1")
    assert "s3cr3t-pw" not in out.stderr + out.stdout
    # A bad url is echoed by the config error, and redacted there too.
    (folder / "config.toml").write_text(
        (folder / "config.toml").read_text().replace(down, "ftp://kim:s3cr3t-pw@example.org")
    )
    out = _pull(folder)
    assert out.returncode == 2 and "labelstudio.url" in out.stderr, out.stderr
    assert "s3cr3t-pw" not in out.stderr


def _jwt(payload: dict[str, Any]) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.c2lnbmF0dXJl"


def test_an_expired_or_malformed_token_is_one_line(hostile: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, hostile.url, 1)
    for token, says in (
        (_jwt({"token_type": "refresh", "exp": 1_000_000_000}), "has expired"),
        (_jwt({"token_type": "refresh"}), "has no expiry date"),
        (_jwt({"token_type": "refresh", "exp": 10**30}), "not a well-formed"),
        ("abc\u00e9def", "not hold a well-formed token"),
    ):
        out = _pull(folder, token=token)
        _refused(out, says, "LABEL_STUDIO_API_KEY", "[labelstudio] token_env")
        assert token not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
        _nothing_written(folder)


def test_http_to_another_machine_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No request is made: the token is missing, and the warning comes before that error.
    from retrain_gate.config import load_config
    from retrain_gate.labelstudio.pull import PullError, pull_snapshot

    folder = _folder(tmp_path, "http://labelstudio.example:8080", 1)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    said: list[str] = []
    for _ in range(2):
        with pytest.raises(PullError, match="LABEL_STUDIO_API_KEY"):
            pull_snapshot(load_config(folder / "config.toml"), said.append)
    assert len(said) == 1 and "cleartext" in said[0], said
    assert "use https://" in said[0]
    for url in ("http://localhost:8080", "http://127.0.0.2:8080", "http://[::1]:8080"):
        said.clear()
        (folder / "config.toml").unlink()
        (folder / "eval").rmdir()
        _folder(tmp_path, url, 1)
        with pytest.raises(PullError):
            pull_snapshot(load_config(folder / "config.toml"), said.append)
        assert said == [], (url, said)


def test_pull_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    # Issue 20: label-studio-sdk is the optional extra retrain-gate[pull]. Here the SDK is made
    # unimportable in the child, as in an install without the extra.
    folder = _folder(tmp_path, "http://127.0.0.1:9", 1)
    code = (
        "import sys\n"
        "sys.modules['label_studio_sdk'] = None\n"
        "from retrain_gate.cli import run\n"
        "sys.argv = ['retrain-gate', 'pull']\n"
        "run()\n"
    )
    env = {**os.environ, "LABEL_STUDIO_API_KEY": TOKEN}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True
    )
    _refused(out, "pip install 'retrain-gate[pull]'")
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    _nothing_written(folder)
