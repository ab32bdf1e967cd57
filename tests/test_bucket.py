"""A bucket as the export folder (issue 20.3-4), against real servers on 127.0.0.1.

The objects are the recorded Label Studio target-storage files (tests/data/ls_storage), so
every figure is checked against their hand-worked account (`account.json`, as in
tests/test_ls_storage.py), and against the same files read as a local folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain_gate.config import parse_config
from retrain_gate.errors import ConfigError
from retrain_gate.sources.bucket import (
    BucketMirror,
    BucketUnreachable,
    SyncResult,
    local_name,
    scrub,
)
from retrain_gate.sources.poller import backoff_seconds
from retrain_gate.sources.url import parse_bucket_url
from tests import bucketkit
from tests.waiting import CLI, wait_for

DATA = Path(__file__).parent / "data" / "ls_storage"
ANNOTATIONS = DATA / "annotation_layout"
COUNTS = ("total", "reviewed", "skipped", "corrected", "unmapped", "correction_unknown")


def _account(scenario: str) -> dict[str, Any]:
    account = json.loads((ANNOTATIONS / "account.json").read_text(encoding="utf-8"))
    return account["expected"][scenario]  # type: ignore[no-any-return]


def _project(tmp_path: Path, export_dir: str, poll_seconds: float = 30) -> Path:
    (tmp_path / "eval").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.toml").write_text(
        f'[paths]\nexport_dir = "{export_dir}"\nstate_dir = "state"\neval_set = "eval"\n'
        f"poll_seconds = {poll_seconds}\n",
        encoding="utf-8",
    )
    return tmp_path


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _check(cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    out = _run(cwd, env, "check", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """What the account states: the six counts, the episodes, the releases."""
    keys = ("model_version", "episodes", "corrected_frames", "cpe")
    return {
        "frames": {key: report["frames"][key] for key in COUNTS},
        "episodes": report["episodes"],
        "releases": [{k: r[k] for k in keys} for r in report["releases"]],
    }


def _expected(scenario: str) -> dict[str, Any]:
    expected = _account(scenario)
    return {
        "frames": expected["frames"],
        "episodes": expected["episodes"],
        "releases": expected["releases"],
    }


def _as_folder(tmp_path: Path, files: dict[str, bytes]) -> dict[str, Any]:
    """`check --json` of the same files read as a local export folder."""
    project = tmp_path / "as-folder"
    exports = project / "exports"
    for name, data in files.items():
        (exports / name).parent.mkdir(parents=True, exist_ok=True)
        (exports / name).write_bytes(data)
    return _check(_project(project, "exports"), bucketkit.clean_env())


def _storage_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((ANNOTATIONS / "storage").iterdir())}


# ------------------------------------------------------------------ no server needed


def test_bucket_urls_in_the_config(tmp_path: Path) -> None:
    paths = parse_config({"paths": {"export_dir": "s3://team-bucket/ls/out/"}}, base=tmp_path)
    assert paths.paths.bucket is not None
    assert (paths.paths.bucket.bucket, paths.paths.bucket.prefix) == ("team-bucket", "ls/out")
    assert paths.paths.export_source == "s3://team-bucket/ls/out"
    # the mirror under the state folder is what the store reads
    assert paths.paths.export_dir == tmp_path / ".retrain-gate" / "bucket" / "mirror"
    az = parse_config({"paths": {"export_dir": "az://acct1/labels/run"}}, base=tmp_path)
    assert az.paths.bucket is not None
    assert (az.paths.bucket.account, az.paths.bucket.bucket) == ("acct1", "labels")
    gs = parse_config({"paths": {"export_dir": "gs://b-1/x"}}, base=tmp_path).paths.bucket
    assert gs is not None and gs.prefix == "x"
    folder = parse_config({"paths": {"export_dir": "exports"}}, base=tmp_path).paths
    assert folder.bucket is None and folder.export_dir == tmp_path / "exports"
    assert parse_config({}, base=tmp_path).paths.poll_seconds == 30


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ftp://host/x", "scheme 'ftp://' is not supported"),
        ("s3://KEY:SECRET@bucket/x", "must not hold a user, password or port"),
        ("s3://bucket/a/../b", "'..' segment"),
        ("s3://Bad_Bucket/x", "is not a valid name"),
    ],
)
def test_a_bad_bucket_url_is_one_line_naming_the_key(
    tmp_path: Path, value: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"paths": {"export_dir": value}}, base=tmp_path, source=Path("c.toml"))
    message = str(caught.value)
    assert message.startswith("c.toml: 'paths.export_dir'") and words in message
    assert "SECRET" not in message  # a credential written into the URL is never echoed


def test_poll_seconds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"paths\.poll_seconds"):
        parse_config({"paths": {"poll_seconds": 0}}, base=tmp_path)


def test_keys_map_to_names_inside_the_mirror_and_never_collide() -> None:
    # worked by hand: plain keys keep their names; '%' and controls are escaped; '.', '..'
    # and empty segments cannot climb out; a long segment is cut and made unique by a hash
    assert local_name("storage/17") == "storage/17"
    assert local_name("a b/é") == "a b/é"
    assert local_name("%41") == "%2541"
    assert local_name("x\ny") == "x%0Ay"
    assert local_name("../../etc/passwd") == "%~%2E%2E/%~%2E%2E/etc/passwd"
    assert local_name("a//b") == "a/%~/b"
    assert local_name("./a") == "%~%2E/a"
    long_a, long_b = local_name("x" * 300 + "a"), local_name("x" * 300 + "b")
    assert long_a != long_b and len(long_a.encode()) <= 200
    names = ["%41", "A", "%2541", "%~", "", ".", "%~%2E", "%2E"]
    assert len({local_name(n) for n in names}) == len(names)


def test_a_sync_is_summed_up_in_words() -> None:
    assert SyncResult(listed=1).summary() == "1 object listed"
    result = SyncResult(listed=1500, downloaded=["a", "b"], removed=["c"], skipped={"d": "big"})
    assert result.summary() == "1,500 objects listed, 2 downloaded, 1 removed, 1 not mirrored"


def test_backoff_starts_soon_doubles_and_is_capped() -> None:
    assert [backoff_seconds(30, n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_seconds(30, 20) == 300
    assert backoff_seconds(600, 20) == 600  # never shorter than the poll interval's cap
    assert [backoff_seconds(0.5, n) for n in (1, 2, 3)] == [0.5, 1, 2]


def test_messages_never_hold_a_cloud_variable_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-123")
    text = "denied for s3cr3t-value-123 at http://h/b?X-Amz-Signature=abcdef&x=1"
    assert scrub(text) == (
        "denied for <AWS_SECRET_ACCESS_KEY> at http://h/b?X-Amz-Signature=<redacted>&x=1"
    )


# ------------------------------------------------------------------ S3 (moto)


@pytest.fixture
def s3() -> Iterator[tuple[int, dict[str, str]]]:
    with bucketkit.moto_process() as port:
        bucketkit.create_s3_bucket(port, "labels")
        yield port, bucketkit.s3_env(port)


def _s3_bucket(s3: tuple[int, dict[str, str]], prefix: str = "ls/storage") -> bucketkit.Bucket:
    return bucketkit.Bucket(f"s3://labels/{prefix}", s3[1])


def test_s3_cold_listing_gives_the_account_and_the_folder_figures(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    bucket = _s3_bucket(s3)
    bucket.put_folder(ANNOTATIONS / "storage", "")
    project = _project(tmp_path / "p", bucket.url)
    report = _check(project, bucket.env)
    assert _figures(report) == _expected("storage_alone")
    assert report["frames"]["release_unknown"] == 9
    assert _figures(report) == _figures(_as_folder(tmp_path, _storage_files()))
    mirror = project / "state" / "bucket" / "mirror"
    assert sorted(p.name for p in mirror.iterdir()) == sorted(_storage_files())


def test_s3_snapshot_beside_the_storage_objects(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    bucket = _s3_bucket(s3, "ls")
    bucket.put_folder(ANNOTATIONS / "storage", "storage/")
    bucket.put("snapshot.json", (ANNOTATIONS / "snapshot.json").read_bytes())
    report = _check(_project(tmp_path, bucket.url), bucket.env)
    assert _figures(report) == _expected("storage_plus_snapshot")
    assert report["refused_files"] == {}


def test_s3_new_overwritten_and_deleted_objects(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    """Each change in the bucket gives the figures of the same files as a folder; a check
    with nothing new downloads nothing."""
    bucket = _s3_bucket(s3)
    files = _storage_files()
    before_update = (ANNOTATIONS / "steps" / "3.before-update").read_bytes()
    start = {name: data for name, data in files.items() if name != "17"}
    start["3"] = before_update  # annotation 3 as first saved
    for name, data in start.items():
        bucket.put(name, data)
    project = _project(tmp_path / "p", bucket.url)
    state = project / "state"
    first = _check(project, bucket.env)
    assert _figures(first) == _figures(_as_folder(tmp_path / "a", start))
    listing = json.loads((state / "bucket" / "listing.json").read_text())
    assert sorted(listing["objects"]) == sorted(start)
    assert "test-secret" not in (state / "bucket" / "listing.json").read_text()

    # nothing changed: nothing is downloaded (the mirror files keep their inodes)
    inodes = {p.name: p.stat().st_ino for p in (state / "bucket" / "mirror").iterdir()}
    assert _figures(_check(project, bucket.env)) == _figures(first)
    assert {p.name: p.stat().st_ino for p in (state / "bucket" / "mirror").iterdir()} == inodes

    # a new object (annotation 17) and annotation 3 overwritten in place: the account
    bucket.put("17", files["17"])
    bucket.put("3", files["3"])
    after = _check(project, bucket.env)
    assert _figures(after) == _expected("storage_alone")
    # the update marked task 3's wrist as changed: one corrected frame more than before
    assert after["frames"]["corrected"] == first["frames"]["corrected"] + 1

    # a deleted object takes its annotation with it, as a deleted file does: annotation 8
    # was task 7's ground truth (wrist dragged); task 7 falls back to annotation 7, which
    # accepted the prediction, so one corrected frame fewer and every other count the same
    bucket.delete("8")
    gone = _check(project, bucket.env)
    rest = {name: data for name, data in files.items() if name != "8"}
    assert _figures(gone) == _figures(_as_folder(tmp_path / "b", rest))
    assert gone["frames"]["corrected"] == after["frames"]["corrected"] - 1
    assert gone["frames"]["reviewed"] == after["frames"]["reviewed"]
    assert not (state / "bucket" / "mirror" / "8").exists()


def test_s3_overwrite_with_the_same_size_in_the_same_second_is_seen(
    tmp_path: Path, s3: tuple[int, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listings give last_modified to the second: the ETag must still tell the versions
    apart, down to the mirror file the store fingerprints by (size, mtime)."""
    bucket = _s3_bucket(s3, "same")
    mirror = BucketMirror(parse_bucket_url(bucket.url), tmp_path / "bucket" / "mirror")
    bucket.put("a", b"version-1")
    for key, value in bucket.env.items():
        monkeypatch.setenv(key, value)
    mirror.sync()
    first = (tmp_path / "bucket" / "mirror" / "a").stat()
    bucket.put("a", b"version-2")
    result = mirror.sync()
    assert result.downloaded == ["a"]
    second = (tmp_path / "bucket" / "mirror" / "a").stat()
    assert (tmp_path / "bucket" / "mirror" / "a").read_bytes() == b"version-2"
    assert (first.st_size, first.st_mtime_ns) != (second.st_size, second.st_mtime_ns)


def test_s3_a_thousand_objects_equal_the_same_files_as_a_folder(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    """1,000 objects: the 15 recorded annotations and 985 of the same shape under fresh
    annotation ids (each a new frame), compared with the same 1,000 files read as a folder."""
    files = _storage_files()
    objects: dict[str, bytes] = {}
    next_id = 1000
    originals = list(files.items())
    while len(objects) < 1000 - len(files):
        _name, data = originals[len(objects) % len(originals)]
        record = json.loads(data)
        record["id"] = next_id
        record["task"]["id"] = next_id
        record["task"]["data"]["image"] = record["task"]["data"]["image"].replace(
            "/frame_", f"/frame_g{next_id}_"
        )
        objects[f"gen/{next_id}"] = json.dumps(record).encode()
        next_id += 1
    objects.update(files)
    bucket = _s3_bucket(s3, "big")
    for key, data in objects.items():
        bucket.put(key, data)
    project = _project(tmp_path / "p", bucket.url)
    started = time.monotonic()
    report = _check(project, bucket.env)
    assert time.monotonic() - started < 120
    folder = _as_folder(tmp_path, objects)
    assert _figures(report) == _figures(folder)
    assert report["frames"]["total"] == folder["frames"]["total"] > 900
    listing = json.loads((project / "state" / "bucket" / "listing.json").read_text())
    assert len(listing["objects"]) == 1000


def test_s3_wrong_credentials_exit_2_naming_the_variables_not_their_values(
    tmp_path: Path,
) -> None:
    with bucketkit.moto_process(auth=True) as port:
        env = bucketkit.s3_env(port)
        project = _project(tmp_path, "s3://labels/ls")
        out = _run(project, env, "check")
    assert out.returncode == 2
    assert out.stdout == ""
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "s3://labels/ls" in line and "access denied" in line
    assert "AWS_ACCESS_KEY_ID" in line and "AWS_SECRET_ACCESS_KEY" in line
    assert env["AWS_SECRET_ACCESS_KEY"] not in line and env["AWS_ACCESS_KEY_ID"] not in line


def test_s3_server_down_check_exits_2_and_removes_nothing(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    bucket = _s3_bucket(s3)
    bucket.put_folder(ANNOTATIONS / "storage", "")
    project = _project(tmp_path, bucket.url)
    assert _figures(_check(project, bucket.env)) == _expected("storage_alone")
    down = dict(bucket.env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{bucketkit.free_port()}")
    out = _run(project, down, "check")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "s3://labels/ls/storage" in out.stderr and "cannot connect" in out.stderr
    mirror = project / "state" / "bucket" / "mirror"
    assert sorted(p.name for p in mirror.iterdir()) == sorted(_storage_files())


def test_a_failed_listing_removes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable bucket is not an empty one: the mirror and its record stay."""
    url = parse_bucket_url("s3://labels/x")
    folder = tmp_path / "bucket" / "mirror"
    folder.mkdir(parents=True)
    (folder / "1").write_bytes(b"kept")
    for key, value in bucketkit.s3_env(bucketkit.free_port()).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(BucketUnreachable) as caught:
        BucketMirror(url, folder).sync()
    assert "s3://labels/x" in str(caught.value)
    assert (folder / "1").read_bytes() == b"kept"


# ------------------------------------------------------------------ watch, server stopped


def _labels_bucket_without_17(
    port: int,
) -> tuple[dict[str, str], bucketkit.Bucket, dict[str, bytes]]:
    """s3://labels/ls on the threaded server, holding every recorded storage file but `17`
    (the one a test adds while `watch` runs): the credentials, the bucket and the files."""
    bucketkit.create_s3_bucket(port, "labels")
    env = bucketkit.s3_env(port)
    bucket = bucketkit.Bucket("s3://labels/ls", env)
    files = _storage_files()
    for name, data in files.items():
        if name != "17":
            bucket.put(name, data)
    return env, bucket, files


def test_watch_keeps_the_figures_while_the_server_is_down_and_catches_up(
    tmp_path: Path,
) -> None:
    server = bucketkit.ThreadedS3()
    server.start()
    try:
        env, bucket, files = _labels_bucket_without_17(server.port)
        project = _project(tmp_path, bucket.url, poll_seconds=0.5)
        (project / "config.toml").write_text(
            (project / "config.toml").read_text() + "[watch]\nsettle_seconds = 0.2\n"
        )
        lines: list[str] = []
        proc = subprocess.Popen(
            [*CLI, "watch"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            mirror = project / "state" / "bucket" / "mirror"
            wait_for(
                lambda: mirror.is_dir() and len(list(mirror.iterdir())) == len(files) - 1,
                60,
                "the first poll",
            )
            wait_for(lambda: _follower_total(project, env) == 13, 60, "the figures")
            assert any("watching s3://labels/ls" in line for line in lines)

            server.stop()
            wait_for(lambda: any("unreachable since" in line for line in lines), 60, "down")
            down = next(line for line in lines if "unreachable since" in line)
            assert "s3://labels/ls" in down and "cannot connect" in down
            time.sleep(2)  # several failed polls: nothing is removed, the figures stay
            assert len(list(mirror.iterdir())) == len(files) - 1
            assert _follower_total(project, env, down=True) == 13
            assert proc.poll() is None

            server.start()  # the same buckets and objects, and one new object
            bucket.put("17", files["17"])
            wait_for(lambda: any("reachable again" in line for line in lines), 90, "back")
            wait_for(lambda: _follower_total(project, env) == 14, 60, "catching up")
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            reader.join(5)
        text = "".join(lines)
        assert "Traceback" not in text
        assert env["AWS_SECRET_ACCESS_KEY"] not in text
    finally:
        server.stop()


def test_a_bucket_down_from_the_start_is_never_said_to_be_watched(tmp_path: Path) -> None:
    """`watch` started while the server is down: the mirror folder appearing under it is not
    news, so nothing says 'watching s3://...' until a listing succeeds; then it catches up."""
    server = bucketkit.ThreadedS3()
    server.start()
    try:
        env, _bucket, files = _labels_bucket_without_17(server.port)
        server.stop()
        project = _project(tmp_path, "s3://labels/ls", poll_seconds=0.5)
        log = project / "watch.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*CLI, "watch"], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for(lambda: "unreachable since" in log.read_text(), 60, "down")
            time.sleep(2)  # several failed listings, and the mirror's watcher has started
            down = log.read_text()
            assert "listing s3://labels/ls for the first time" in down
            assert "watching s3://labels/ls (listed every" not in down, down
            server.start()
            wait_for(lambda: "reachable again" in log.read_text(), 60, "back")
            wait_for(lambda: _follower_total(project, env) == 13, 60, "the figures")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
        text = log.read_text()
        assert "Traceback" not in text
        assert len(files) - 1 == len(list((project / "state" / "bucket" / "mirror").iterdir()))
    finally:
        server.stop()


def _follower_total(project: Path, env: dict[str, str], *, down: bool = False) -> int | None:
    """The frames `check` sees beside the running watch (it follows the writer's state, and
    never lists the bucket itself)."""
    if down:
        env = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{bucketkit.free_port()}")
    out = _run(project, env, "check", "--json")
    if out.returncode != 0:
        return None
    return int(json.loads(out.stdout)["frames"]["total"])


def test_watch_and_check_name_a_refused_object_by_its_url(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    """The mirror under state_dir is retrain-gate's copy: every line a person reads names the
    bucket's object, never the mirror file."""
    bucket = _s3_bucket(s3, "ls")
    name, data = next(iter(_storage_files().items()))
    bucket.put(name, data)
    bucket.put("task/bad.json", b"[{")
    project = _project(tmp_path, bucket.url, poll_seconds=0.5)
    (project / "config.toml").write_text(
        (project / "config.toml").read_text() + "[watch]\nsettle_seconds = 0.2\n"
    )
    text = ""
    for run in ("first", "second"):  # the second says what was refused before it started
        log = project / f"watch-{run}.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*CLI, "watch"], cwd=project, env=bucket.env, stdout=out, stderr=out
            )
        try:
            wait_for(
                lambda log=log: "refused s3://labels/ls/task/bad.json: " in log.read_text(),
                60,
                f"the {run} watch to name the refused object by its URL",
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
        text += log.read_text()
    # how the mirror is watched is ours: the bucket is listed
    assert "watching s3://labels/ls (listed every 0.5 s)" in text
    assert "live file events" not in text
    checked = _run(project, bucket.env, "check")
    assert checked.returncode == 0, checked.stderr
    assert "    s3://labels/ls/task/bad.json: " in checked.stdout
    as_json = _run(project, bucket.env, "check", "--json")
    assert list(json.loads(as_json.stdout)["refused_files"]) == ["s3://labels/ls/task/bad.json"]
    assert "bucket/mirror" not in text + checked.stdout + checked.stderr + as_json.stdout
    assert "Traceback" not in text


# ------------------------------------------------------------------ GCS (gcp-storage-emulator)


@pytest.fixture
def gcs() -> Iterator[int]:
    """The emulator with an empty bucket `labels`; every listing of it is paged by
    `bucketkit.GCS_PAGE_SIZE` objects."""
    with bucketkit.gcs_emulator("labels") as port:
        yield port


def test_gcs_cold_listing_gives_the_account_and_the_folder_figures(
    tmp_path: Path, gcs: int
) -> None:
    files = _storage_files()
    for name, data in files.items():
        bucketkit.gcs_upload(gcs, "labels", f"ls/{name}", data)
    bucketkit.gcs_upload(gcs, "labels", "elsewhere/1", files["1"])  # outside the prefix
    env = bucketkit.gcs_env(gcs)
    project = _project(tmp_path / "p", "gs://labels/ls")
    report = _check(project, env)
    assert _figures(report) == _expected("storage_alone")
    assert report["frames"]["release_unknown"] == 9
    assert _figures(report) == _figures(_as_folder(tmp_path, files))
    # all 15 objects, listed over four pages of four: every continuation token was followed
    assert len(files) > 3 * bucketkit.GCS_PAGE_SIZE
    mirror = project / "state" / "bucket" / "mirror"
    assert sorted(p.name for p in mirror.iterdir()) == sorted(files)
    listing = json.loads((project / "state" / "bucket" / "listing.json").read_text())
    assert sorted(listing["objects"]) == sorted(files)
    assert bucketkit.GCS_TOKEN not in (project / "state" / "bucket" / "listing.json").read_text()


def test_gcs_new_overwritten_and_deleted_objects(tmp_path: Path, gcs: int) -> None:
    """As the S3 test: each change in the bucket gives the figures of the same files as a
    folder, and a check with nothing new downloads nothing."""
    env = bucketkit.gcs_env(gcs)
    files = _storage_files()
    start = {name: data for name, data in files.items() if name != "17"}
    start["3"] = (ANNOTATIONS / "steps" / "3.before-update").read_bytes()
    for name, data in start.items():
        bucketkit.gcs_upload(gcs, "labels", f"ls/{name}", data)
    project = _project(tmp_path / "p", "gs://labels/ls")
    state = project / "state"
    first = _check(project, env)
    assert _figures(first) == _figures(_as_folder(tmp_path / "a", start))

    inodes = {p.name: p.stat().st_ino for p in (state / "bucket" / "mirror").iterdir()}
    assert _figures(_check(project, env)) == _figures(first)
    assert {p.name: p.stat().st_ino for p in (state / "bucket" / "mirror").iterdir()} == inodes

    # annotation 17 new, annotation 3 overwritten in place: the account, and task 3's wrist
    # marked as changed by the update (one corrected frame more)
    bucketkit.gcs_upload(gcs, "labels", "ls/17", files["17"])
    bucketkit.gcs_upload(gcs, "labels", "ls/3", files["3"])
    after = _check(project, env)
    assert _figures(after) == _expected("storage_alone")
    assert after["frames"]["corrected"] == first["frames"]["corrected"] + 1

    # annotation 8 deleted: task 7 falls back to annotation 7 (prediction accepted)
    bucketkit.gcs_delete(gcs, "labels", "ls/8")
    gone = _check(project, env)
    rest = {name: data for name, data in files.items() if name != "8"}
    assert _figures(gone) == _figures(_as_folder(tmp_path / "b", rest))
    assert gone["frames"]["corrected"] == after["frames"]["corrected"] - 1
    assert gone["frames"]["reviewed"] == after["frames"]["reviewed"]
    assert not (state / "bucket" / "mirror" / "8").exists()


def test_gcs_keys_with_spaces_ampersands_and_percents(tmp_path: Path, gcs: int) -> None:
    """A key is percent-encoded in the request and XML-escaped in the listing: annotation 17
    under a key with a space, '&', '<', '%' and a non-ASCII letter still counts, and is
    mirrored under its escaped name."""
    files = _storage_files()
    for name, data in files.items():
        key = "ls/sub dir/17 & <é>%41" if name == "17" else f"ls/{name}"
        bucketkit.gcs_upload(gcs, "labels", key, data)
    project = _project(tmp_path, "gs://labels/ls")
    assert _figures(_check(project, bucketkit.gcs_env(gcs))) == _expected("storage_alone")
    mirror = project / "state" / "bucket" / "mirror"
    assert (mirror / "sub dir" / "17 & <é>%2541").read_bytes() == files["17"]


def _one_line_exit_2(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "gs://labels/ls" in line
    return line


def test_gcs_wrong_token_exits_2_naming_the_variable_not_its_value(
    tmp_path: Path, gcs: int
) -> None:
    bucketkit.gcs_upload(gcs, "labels", "ls/1", _storage_files()["1"])
    env = bucketkit.gcs_env(gcs, GOOGLE_BEARER_TOKEN="wrong-bearer-token-value")
    line = _one_line_exit_2(_run(_project(tmp_path, "gs://labels/ls"), env, "check"))
    assert "access denied" in line and "GOOGLE_BEARER_TOKEN" in line
    assert "wrong-bearer-token-value" not in line and bucketkit.GCS_TOKEN not in line


def test_gcs_without_credentials_exits_2_naming_the_variables(tmp_path: Path, gcs: int) -> None:
    """No GOOGLE_* credential and no gcloud login: the client asks the metadata server,
    pointed at a closed port on 127.0.0.1 here (never the real 169.254.169.254)."""
    closed = f"127.0.0.1:{bucketkit.free_port()}"
    env = bucketkit.clean_env(
        GOOGLE_BASE_URL=f"http://127.0.0.1:{gcs}",
        GOOGLE_ALLOW_HTTP="true",
        GCE_METADATA_HOST=closed,
        GCE_METADATA_IP=closed,
        HOME=str(tmp_path / "home"),  # no ~/.config/gcloud/application_default_credentials.json
    )
    line = _one_line_exit_2(_run(_project(tmp_path, "gs://labels/ls"), env, "check"))
    assert "no usable credentials" in line and "GOOGLE_APPLICATION_CREDENTIALS" in line
    assert "?" not in line and "retries" not in line and "Generic" not in line  # plain words


def test_gcs_server_down_check_exits_2_and_removes_nothing(tmp_path: Path, gcs: int) -> None:
    for name, data in _storage_files().items():
        bucketkit.gcs_upload(gcs, "labels", f"ls/{name}", data)
    env = bucketkit.gcs_env(gcs)
    project = _project(tmp_path, "gs://labels/ls")
    assert _figures(_check(project, env)) == _expected("storage_alone")
    down = dict(env, GOOGLE_BASE_URL=f"http://127.0.0.1:{bucketkit.free_port()}")
    line = _one_line_exit_2(_run(project, down, "check"))
    assert "cannot connect" in line
    mirror = project / "state" / "bucket" / "mirror"
    assert sorted(p.name for p in mirror.iterdir()) == sorted(_storage_files())


# ------------------------------------------------------------------ Azure (Azurite)


def test_azure_container_gives_the_account_and_follows_changes(tmp_path: Path) -> None:
    with bucketkit.azurite("labels") as port:
        env = bucketkit.azure_env(port)
        bucket = bucketkit.Bucket(f"az://{bucketkit.AZURITE_ACCOUNT}/labels/ls", env)
        files = _storage_files()
        for name, data in files.items():
            bucket.put(name, data)
        project = _project(tmp_path, bucket.url)
        assert _figures(_check(project, env)) == _expected("storage_alone")
        # the abfs:// form names the same container
        abfs = f"abfs://labels@{bucketkit.AZURITE_ACCOUNT}.dfs.core.windows.net/ls"
        assert _figures(_check(_project(tmp_path / "abfs", abfs), env)) == _expected(
            "storage_alone"
        )
        bucket.delete("8")
        rest = {name: data for name, data in files.items() if name != "8"}
        assert _figures(_check(project, env)) == _figures(_as_folder(tmp_path / "b", rest))


def test_check_with_a_bucket_never_prints_a_credential(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    bucket = _s3_bucket(s3)
    bucket.put_folder(ANNOTATIONS / "storage", "")
    project = _project(tmp_path, bucket.url)
    out = _run(project, bucket.env, "check")
    assert out.returncode == 0, out.stderr
    everything = out.stdout + out.stderr
    for root, _dirs, names in os.walk(project / "state"):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                everything += handle.read().decode("utf-8", "replace")
    assert bucket.env["AWS_SECRET_ACCESS_KEY"] not in everything
    assert bucket.env["AWS_ACCESS_KEY_ID"] not in everything


def test_the_dashboard_says_the_bucket_is_unreachable_and_since_when(tmp_path: Path) -> None:
    """The real `retrain-gate tui` in tmux: the S3 server stopped under it, the header and
    the activity log say so with the time; the figures stay; back again, they catch up."""
    from tests.test_tui_e2e import Tmux

    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    server = bucketkit.ThreadedS3()
    server.start()
    tmux = Tmux(f"retrain-gate-bucket-{os.getpid()}")
    try:
        env, bucket, files = _labels_bucket_without_17(server.port)
        project = _project(tmp_path, bucket.url, poll_seconds=0.5)
        aws = " ".join(f"{k}={v}" for k, v in env.items() if k.startswith("AWS_"))
        command = f"env {aws} {sys.executable} -m retrain_gate tui --config {project}/config.toml"
        tmux.run(
            "new-session", "-d", "-s", "tui", "-x", "160", "-y", "45",
            "-e", "TERM=xterm-256color", "-e", f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}",
            command,
        )  # fmt: skip
        tmux.wait_for("4 episodes", timeout=60)
        server.stop()
        screen = tmux.wait_for("unreachable since", timeout=60)
        assert "s3://labels/ls" in screen and "4 episodes" in screen
        assert env["AWS_SECRET_ACCESS_KEY"] not in screen
        mirror = project / "state" / "bucket" / "mirror"
        assert len(list(mirror.iterdir())) == len(files) - 1  # nothing removed

        server.start()
        bucket.put("17", files["17"])
        tmux.wait_for("reachable again", timeout=60)
        wait_for(lambda: _follower_total(project, env) == 14, 60, "catching up")
        tmux.run("send-keys", "-t", "tui", "q")
    finally:
        tmux.run("kill-server")
        server.stop()


def test_a_key_the_client_cannot_read_is_named_and_removes_nothing(
    tmp_path: Path, s3: tuple[int, dict[str, str]]
) -> None:
    """A hostile key (an empty segment: `ls/a//b`) stops obstore's listing: that is an
    unreadable bucket, said in one line naming the key, and the mirror is kept."""
    import urllib.request

    port, env = s3
    bucket = _s3_bucket(s3, "ls")
    bucket.put_folder(ANNOTATIONS / "storage", "")
    project = _project(tmp_path, bucket.url)
    assert _figures(_check(project, env)) == _expected("storage_alone")
    # moto takes an unsigned PUT; obstore itself refuses to write such a key
    request = urllib.request.Request(f"http://127.0.0.1:{port}/labels/ls/a//b", b"x", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()
    out = _run(project, env, "check")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "an object key cannot be read" in out.stderr and "ls/a//b" in out.stderr
    assert len(list((project / "state" / "bucket" / "mirror").iterdir())) == 15


def test_pull_refuses_a_bucket_export_dir_and_writes_nothing(tmp_path: Path) -> None:
    """pull writes to a local folder only (issue 20.3): never into the bucket's mirror,
    whose next sync would remove what it wrote."""
    project = _project(tmp_path, "s3://labels/ls")
    with (project / "config.toml").open("a", encoding="utf-8") as handle:
        handle.write('[labelstudio]\nurl = "http://127.0.0.1:9"\nproject = 1\n')
    out = _run(project, bucketkit.clean_env(LABEL_STUDIO_API_KEY="not-used"), "pull")
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "export_dir is a bucket (s3://labels/ls)" in out.stderr
    assert not (project / "state" / "bucket" / "mirror").exists()
