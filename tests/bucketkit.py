"""Real object-store servers on 127.0.0.1 for the bucket tests, started and stopped by them.

- S3: moto's standalone server (`python -m moto.server`), a subprocess; or moto's threaded
  server in this process where a test must stop and restart the server with its objects kept
  (moto keeps its buckets in the memory of the process that serves them).
- GCS: gcp-storage-emulator, started by tests/gcs_emulator.py, which adds the XML listing
  obstore uses and the emulator lacks.
- Azure: Azurite (npm), telemetry off.

Each yields the environment a client needs (the cloud's standard variables, nothing else),
and a way to put objects. A server that cannot be installed or started skips its tests, and
says why.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Every cloud variable of the machine is dropped first: a test never reaches a real cloud,
# and never asks a metadata service (169.254.169.254) for credentials.
_CLOUD_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_", "AZURITE_", "GCS_", "STORAGE_EMULATOR")

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published well-known development key (not a secret: it is in Azurite's docs).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLOUD_PREFIXES)}
    env.update(extra)
    return env


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Bucket:
    """A bucket on a running server: its URL, the client environment, and put/delete."""

    url: str
    env: dict[str, str]
    _client: Any = field(default=None, repr=False)

    def _store(self) -> Any:
        if self._client is None:
            self._client = self._open()
        return self._client

    def _open(self) -> Any:
        from obstore.store import AzureStore, from_url

        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)  # obstore reads the cloud variables at construction
            if self.url.startswith("az://"):
                _, _, rest = self.url.partition("az://")
                account, container, *prefix = rest.split("/")
                return AzureStore(
                    container_name=container, account_name=account, prefix="/".join(prefix)
                )
            return from_url(self.url)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def put(self, key: str, data: bytes) -> None:
        import obstore

        obstore.put(self._store(), key, data)

    def put_folder(self, folder: Path, under: str = "") -> list[str]:
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = under + path.relative_to(folder).as_posix()
            self.put(key, path.read_bytes())
            keys.append(key)
        return keys

    def delete(self, key: str) -> None:
        import obstore

        obstore.delete(self._store(), key)


# ------------------------------------------------------------------ S3 (moto)


def s3_env(port: int, **extra: str) -> dict[str, str]:
    return clean_env(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="test-access-key-id",
        AWS_SECRET_ACCESS_KEY="test-secret-access-key-value",
        AWS_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )


def _require_moto() -> None:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"moto[server] is not installed ({exc}); pip install -e '.[test]'")


def create_s3_bucket(port: int, name: str) -> None:
    # An unsigned PUT creates a bucket on moto (it checks no signature unless told to).
    request = urllib.request.Request(f"http://127.0.0.1:{port}/{name}", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()


@contextmanager
def moto_process(*, auth: bool = False) -> Iterator[int]:
    """`python -m moto.server` on a free port; with `auth`, every key is checked (and, as
    none was ever created on it, refused)."""
    _require_moto()
    port = free_port()
    env = clean_env()
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        try:
            _wait_port(port, proc)
        except RuntimeError as exc:
            pytest.skip(f"moto's server did not start: {exc}")
        yield port
    finally:
        _stop(proc)


class ThreadedS3:
    """moto's server on a thread of this process, stoppable and restartable on the same port
    with its buckets kept (they live in this process)."""

    def __init__(self) -> None:
        _require_moto()
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._factory = ThreadedMotoServer
        self._server: Any = None
        self._fresh = True

    def start(self) -> None:
        self._server = self._factory(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        _wait_port(self.port, None)
        if self._fresh:  # another test's buckets, kept in this process, are not this one's
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/moto-api/reset", method="POST"
            )
            urllib.request.urlopen(request, timeout=10).close()
            self._fresh = False

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


# ------------------------------------------------------------------ GCS

GCS_TOKEN = "test-gcs-bearer-token-value"  # the only token the emulator takes (--token)
GCS_PAGE_SIZE = 4  # objects per listing page: the 15 recorded files take four pages
_GCS_LAUNCHER = Path(__file__).with_name("gcs_emulator.py")


@contextmanager
def gcs_emulator(bucket: str, *, page_size: int = GCS_PAGE_SIZE) -> Iterator[int]:
    """gcp-storage-emulator, through tests/gcs_emulator.py (which adds the XML listing that
    obstore uses and the emulator lacks), refusing any token but `GCS_TOKEN`."""
    # the interpreter running the tests, not PATH: a venv that is not activated has it too
    if importlib.util.find_spec("gcp_storage_emulator") is None:
        pytest.skip("gcp-storage-emulator is not installed; pip install -e '.[test]'")
    port = free_port()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(_GCS_LAUNCHER),
                f"--port={port}",
                f"--bucket={bucket}",
                f"--token={GCS_TOKEN}",
                f"--page-size={page_size}",
            ],
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            try:
                _wait_port(port, proc)
            except RuntimeError as exc:
                if proc.poll() is None:
                    pytest.skip(f"gcp-storage-emulator did not start: {exc}")
                # installed, and exited: the launcher or the emulator broke, not a skip
                errors.seek(0)
                said = errors.read().decode("utf-8", "replace").strip()
                pytest.fail(f"tests/gcs_emulator.py exited {proc.returncode}: {said[-2000:]}")
            yield port
        finally:
            _stop(proc)


def gcs_env(port: int, **extra: str) -> dict[str, str]:
    base = {
        "GOOGLE_BASE_URL": f"http://127.0.0.1:{port}",
        "GOOGLE_BEARER_TOKEN": GCS_TOKEN,  # a static token: no token request is made
        "GOOGLE_ALLOW_HTTP": "true",
    }
    return clean_env(**{**base, **extra})


def _gcs_json_api(request: urllib.request.Request) -> None:
    request.add_header("Authorization", f"Bearer {GCS_TOKEN}")
    urllib.request.urlopen(request, timeout=10).close()


def gcs_upload(port: int, bucket: str, key: str, data: bytes) -> None:
    """Through the emulator's JSON API (its XML upload answers without the ETag obstore
    needs); a key that exists is overwritten."""
    name = urllib.parse.quote(key, safe="")
    _gcs_json_api(
        urllib.request.Request(
            f"http://127.0.0.1:{port}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
    )


def gcs_delete(port: int, bucket: str, key: str) -> None:
    """Through the emulator's JSON API, as gcs_upload."""
    name = urllib.parse.quote(key, safe="")
    _gcs_json_api(
        urllib.request.Request(
            f"http://127.0.0.1:{port}/storage/v1/b/{bucket}/o/{name}", method="DELETE"
        )
    )


# ------------------------------------------------------------------ Azure (Azurite)


@contextmanager
def azurite(container: str) -> Iterator[int]:
    exe = shutil.which("azurite-blob")
    if exe is None:
        pytest.skip(
            "Azurite is not installed (npm install -g azurite; .ci/run installs it where npm "
            "is present)"
        )
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--silent",
        ],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        try:
            _wait_port(port, proc)
        except RuntimeError as exc:
            pytest.skip(f"Azurite did not start: {exc}")
        _create_container(port, container)
        yield port
    finally:
        _stop(proc)


def azure_env(port: int) -> dict[str, str]:
    return clean_env(
        AZURE_STORAGE_USE_EMULATOR="true",
        AZURITE_BLOB_STORAGE_URL=f"http://127.0.0.1:{port}",
        AZURE_STORAGE_ACCOUNT_NAME=AZURITE_ACCOUNT,
        AZURE_STORAGE_ACCOUNT_KEY=AZURITE_KEY,
        AZURE_ALLOW_HTTP="true",
    )


def _create_container(port: int, container: str) -> None:
    """Create a container with a Shared Key request (obstore has no call for it)."""
    date = email.utils.formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
    content_type = "application/octet-stream"
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
    to_sign = "PUT\n\n\n\n\n" + content_type + "\n" + "\n" * 6 + canonical + resource
    key = base64.b64decode(AZURITE_KEY)
    signature = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest())
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}/{container}?restype=container",
        data=b"",
        method="PUT",
        headers={
            **headers,
            "Content-Type": content_type,
            "Authorization": f"SharedKey {AZURITE_ACCOUNT}:{signature.decode()}",
        },
    )
    urllib.request.urlopen(request, timeout=10).close()
