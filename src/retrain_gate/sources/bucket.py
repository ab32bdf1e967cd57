"""A bucket as an export folder: its objects mirrored into a folder under the state folder.

`BucketMirror.sync()` lists the bucket (obstore: one library for S3, GCS and Azure), compares
each object with the listing it recorded last time (ETag, else size and last_modified), and
downloads only the new and changed objects, a few at a time, each written under a hidden name
and renamed, with its mtime set to the object's last_modified (so arrival order is
last_modified, then name, as for files). A mirrored file is removed only when a *complete*
listing no longer holds its object: a failed or cut-short listing removes nothing and raises
`BucketUnreachable`. The store then reads the mirror folder as it reads any export folder.

Credentials, region and endpoint come only from each cloud's own environment variables and
credential chains (`AWS_*`, `GOOGLE_*`, `AZURE_*`), read by obstore. Nothing here prints,
stores or repeats them: every message is scrubbed of their values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain_gate.errors import RetrainGateError, StateError
from retrain_gate.fsutil import atomic_write
from retrain_gate.sources.url import BucketURL
from retrain_gate.text import plural

if TYPE_CHECKING:
    from obstore.store import ObjectStore, RetryConfig

    from retrain_gate.config import Config

LISTING_NAME = "listing.json"  # in state_dir/bucket/, beside the mirror folder
DOWNLOADS_AT_ONCE = 8
_RECORD_VERSION = 1

# The variables that hold a credential, per cloud: named in a message, never their values.
CREDENTIAL_VARIABLES: dict[str, tuple[str, ...]] = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"),
    "gs": (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
        "GOOGLE_BEARER_TOKEN",
    ),
    "az": (
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
        "AZURE_STORAGE_TOKEN",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
    ),
}
_ENV_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_")
# Signed-request parts that may show in a URL the client echoes back.
_SIGNED = re.compile(
    r"((?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"x-goog-signature|x-goog-credential|access_token|token)=)[^&\s\"'<]+",
    re.IGNORECASE,
)


class BucketUnreachable(RetrainGateError):
    """The bucket could not be listed (or its objects fetched) completely: nothing was
    removed. The message names the URL and the reason, never a credential."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot read the bucket {url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass
class SyncResult:
    listed: int = 0  # objects in the complete listing
    downloaded: list[str] = field(default_factory=list)  # keys fetched this time
    removed: list[str] = field(default_factory=list)  # keys gone from the bucket
    skipped: dict[str, str] = field(default_factory=dict)  # key -> why it is not mirrored
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.downloaded or self.removed)

    def summary(self) -> str:
        parts = [f"{plural(self.listed, 'object')} listed"]
        if self.downloaded:
            parts.append(f"{len(self.downloaded):,} downloaded")
        if self.removed:
            parts.append(f"{len(self.removed):,} removed")
        if self.skipped:
            parts.append(f"{len(self.skipped):,} not mirrored")
        return ", ".join(parts)


@dataclass(frozen=True)
class _Entry:
    """One object as recorded: what identifies its version, and where it is mirrored."""

    etag: str | None
    size: int
    mtime_ns: int  # last_modified
    local: str  # path relative to the mirror folder

    def same_version(self, other: _Entry) -> bool:
        if self.etag and other.etag:
            return self.etag == other.etag and self.size == other.size
        return (self.size, self.mtime_ns) == (other.size, other.mtime_ns)


# ------------------------------------------------------------------ scrubbing and reasons


def scrub(text: str) -> str:
    """`text` with the value of every cloud variable, and any signature in a URL, removed."""
    for name, value in os.environ.items():
        if name.startswith(_ENV_PREFIXES) and len(value) >= 6 and value in text:
            text = text.replace(value, f"<{name}>")
    return _SIGNED.sub(r"\1<redacted>", text)


def _credential_names(scheme: str) -> str:
    names = CREDENTIAL_VARIABLES["az" if scheme in ("az", "abfs", "abfss") else scheme]
    present = [name for name in names if os.environ.get(name)]
    if present:
        return "check " + ", ".join(present)
    return "no credentials found: set " + " / ".join(names[:2]) + " (or the cloud's own login)"


def describe_error(exc: BaseException, bucket: BucketURL) -> str:
    """One line saying why a request failed, fit to show (scrubbed of credentials)."""
    from obstore import exceptions as obx

    text = str(exc).split("\n\nDebug source:", 1)[0]
    status_match = re.search(r"status code: (\d{3})", text)
    status = int(status_match.group(1)) if status_match else None
    code_match = re.search(r"<Code>([A-Za-z]+)</Code>", text)
    code = f" ({code_match.group(1)})" if code_match else ""
    lowered = text.lower()
    if isinstance(exc, (obx.PermissionDeniedError, obx.UnauthenticatedError)) or status in (
        401,
        403,
    ):
        reason = f"access denied{code}; {_credential_names(bucket.scheme)}"
    elif "token request" in lowered or "credential" in lowered:
        # the client's own words, without its "Generic GCS error:" and a URL's query
        first = re.sub(r"^Generic \w+ error: ", "", text.splitlines()[0])
        first = re.sub(r"\?\S*?(?=\)|$|\s)", "", first)
        first = re.sub(r" in [\d.]+\w*s, after .*", "", first)[:240]  # the retry accounting
        reason = f"no usable credentials ({first}); {_credential_names(bucket.scheme)}"
    elif status == 404 or isinstance(exc, FileNotFoundError):
        reason = f"not found{code}: check the bucket (container) name and the region/endpoint"
    elif "error sending request" in lowered or "connect" in lowered or "dns" in lowered:
        reason = "cannot connect (server down, or a wrong endpoint)"
    elif isinstance(exc, obx.InvalidPathError):
        reason = "an object key cannot be read: " + text.splitlines()[0][:200]
    elif status is not None:
        reason = f"the server answered {status}{code}"
    else:
        reason = text.splitlines()[0][:200] if text else type(exc).__name__
    return scrub(reason)


# ------------------------------------------------------------------ key -> local name


def _segment(part: str) -> str:
    """A key segment as a file name: the same name where it is safe, otherwise escaped so
    that two different keys never share a file and no name leaves the mirror folder."""
    if part in ("", ".", ".."):
        return "%~" + part.replace(".", "%2E") if part else "%~"
    out = []
    for char in part:
        if char == "%" or ord(char) < 32 or char == "\x7f":
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8")))
        else:
            out.append(char)
    name = "".join(out)
    if len(name.encode("utf-8")) > 200:
        import hashlib

        digest = hashlib.sha256(part.encode("utf-8")).hexdigest()[:24]
        name = name.encode("utf-8")[:160].decode("utf-8", "ignore") + "%~" + digest
    return name


def local_name(key: str) -> str:
    """The mirror path (relative, "/"-separated) of an object key relative to the prefix."""
    return "/".join(_segment(part) for part in key.split("/"))


# ------------------------------------------------------------------ the mirror


def open_store(bucket: BucketURL) -> ObjectStore:
    """The obstore client for `bucket`, configured from the environment only."""
    from obstore.store import AzureStore, from_url

    # Fail within seconds, not the client's default three minutes: the poller retries.
    retry: RetryConfig = {"max_retries": 3, "retry_timeout": dt.timedelta(seconds=20)}
    try:
        if bucket.scheme == "az":
            return AzureStore(
                container_name=bucket.bucket,
                account_name=bucket.account,
                prefix=bucket.prefix or None,
                retry_config=retry,
            )
        return from_url(bucket.url, retry_config=retry)
    except Exception as exc:  # a bad value in the environment (region, endpoint...)
        raise BucketUnreachable(bucket.url, describe_error(exc, bucket)) from None


class BucketMirror:
    """The local mirror of one bucket URL, under `state_dir/bucket/`."""

    def __init__(
        self,
        bucket: BucketURL,
        folder: Path,
        *,
        max_object_bytes: int | None = None,
        downloads_at_once: int = DOWNLOADS_AT_ONCE,
    ) -> None:
        self.bucket = bucket
        self.folder = folder
        self.record_path = folder.parent / LISTING_NAME
        self.max_object_bytes = max_object_bytes
        self.downloads_at_once = downloads_at_once
        self._store: ObjectStore | None = None
        self._swept = False
        self._lock = threading.Lock()  # one sync at a time (check, the poller)

    # -------------------------------------------------------------- record

    def _load_record(self) -> dict[str, _Entry]:
        try:
            data = json.loads(self.record_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # rebuildable: every object is compared with its file again
        if not isinstance(data, dict) or data.get("version") != _RECORD_VERSION:
            return {}
        if data.get("url") != self.bucket.url:
            return {}  # another bucket: its files are swept by the first complete listing
        out: dict[str, _Entry] = {}
        objects = data.get("objects")
        if isinstance(objects, dict):
            for key, row in objects.items():
                with contextlib.suppress(TypeError, ValueError):
                    etag, size, mtime_ns, local = row
                    out[str(key)] = _Entry(etag, int(size), int(mtime_ns), str(local))
        return out

    def _save_record(self, record: dict[str, _Entry]) -> None:
        data = {
            "version": _RECORD_VERSION,
            "url": self.bucket.url,
            "objects": {
                key: [e.etag, e.size, e.mtime_ns, e.local] for key, e in sorted(record.items())
            },
        }
        text = json.dumps(data, separators=(",", ":"))
        atomic_write(self.record_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    # -------------------------------------------------------------- listing

    def _client(self) -> ObjectStore:
        if self._store is None:
            self._store = open_store(self.bucket)
        return self._store

    def list_objects(self) -> dict[str, _Entry]:
        """The complete listing, or `BucketUnreachable` (a partial listing is never used)."""
        import obstore

        store = self._client()
        listing: dict[str, _Entry] = {}
        try:
            for batch in obstore.list(store, chunk_size=1000):
                for meta in batch:
                    listing[meta["path"]] = _entry(meta)
        except Exception as exc:
            raise BucketUnreachable(self.bucket.url, describe_error(exc, self.bucket)) from None
        return listing

    # -------------------------------------------------------------- sync

    def sync(
        self,
        on_progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncResult:
        """Bring the mirror folder to the bucket's state now; `BucketUnreachable` when it
        cannot be listed completely (nothing removed) or some objects could not be fetched
        (those fetched are kept, the rest are fetched at the next sync). With `cancel` set,
        the downloads not yet started are left for the next sync and nothing is removed."""
        with self._lock:
            return self._sync(on_progress, cancel or threading.Event())

    def _sync(
        self, on_progress: Callable[[int, int], None] | None, cancel: threading.Event
    ) -> SyncResult:
        started = time.monotonic()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"{self.folder}: cannot create the bucket mirror ({exc})") from None
        record = self._load_record()
        before = dict(record)
        listing = self.list_objects()
        result = SyncResult(listed=len(listing))
        wanted: list[tuple[str, _Entry]] = []
        for key, entry in listing.items():
            local = local_name(key)
            entry = _Entry(entry.etag, entry.size, entry.mtime_ns, local)
            known = record.get(key)
            if known is not None and known.same_version(entry) and self._intact(known):
                continue
            if self.max_object_bytes is not None and entry.size > self.max_object_bytes:
                result.skipped[key] = (
                    f"{entry.size / 1e6:.1f} MB, over [limits] max_export_mb; not downloaded"
                )
                continue
            wanted.append((key, entry))
        # Oldest first, so files appear in the order the objects were written.
        wanted.sort(key=lambda item: (item[1].mtime_ns, item[0]))
        failures = self._download(wanted, record, result, on_progress, cancel)
        # The listing was complete: what it no longer holds is gone from the bucket.
        for key in sorted(set(record) - set(listing)) if not cancel.is_set() else ():
            self._remove(record.pop(key).local)
            result.removed.append(key)
        if not self._swept:
            self._sweep({entry.local for entry in record.values()})
            self._swept = True
        if record != before or not self.record_path.exists():
            self._save_record(record)
        result.seconds = time.monotonic() - started
        if failures:
            key, reason = failures[0]
            raise BucketUnreachable(
                self.bucket.url,
                f"{len(failures):,} of {plural(len(wanted), 'new object')} could not be downloaded "
                f"(first: {scrub(key)}: {reason}); the others are mirrored",
            )
        return result

    def _intact(self, entry: _Entry) -> bool:
        """The mirrored file is still the one written (not removed or edited by hand)."""
        try:
            st = (self.folder / entry.local).stat()
        except OSError:
            return False
        return st.st_size == entry.size and st.st_mtime_ns == _local_mtime(entry)

    def _download(
        self,
        wanted: list[tuple[str, _Entry]],
        record: dict[str, _Entry],
        result: SyncResult,
        on_progress: Callable[[int, int], None] | None,
        cancel: threading.Event,
    ) -> list[tuple[str, str]]:
        failures: list[tuple[str, str]] = []
        if not wanted:
            return failures
        store = self._client()
        done = 0
        with ThreadPoolExecutor(self.downloads_at_once, "retrain-gate-bucket") as pool:
            futures = [
                (key, pool.submit(self._fetch, store, key, entry, cancel)) for key, entry in wanted
            ]
            for key, future in futures:
                outcome = future.result()
                done += 1
                if on_progress is not None:
                    on_progress(done, len(wanted))
                if isinstance(outcome, _Entry):
                    record[key] = outcome
                    result.downloaded.append(key)
                elif outcome is None:
                    continue  # gone since the listing: the next listing says so
                elif outcome[0] == "skip":
                    result.skipped[key] = outcome[1]
                else:
                    failures.append((key, outcome[1]))
        return failures

    def _fetch(
        self, store: ObjectStore, key: str, entry: _Entry, cancel: threading.Event
    ) -> _Entry | tuple[str, str] | None:
        """Download one object into its mirror file; the entry as fetched, None when it is
        gone (or the sync was cancelled), ("skip", why) when it cannot be mirrored, ("fail",
        why) when the request failed."""
        import obstore

        if cancel.is_set():
            return None

        target = self.folder / entry.local
        tmp = target.with_name(f".{target.name[:100]}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return ("skip", f"no folder for it in the mirror ({exc.strerror})")
        if target.is_dir():
            return ("skip", "another object's key uses this name as a folder")
        limit = self.max_object_bytes
        try:
            got = obstore.get(store, key)
            meta = _entry(got.meta)
            written = 0
            with tmp.open("wb") as handle:
                for chunk in got.stream(min_chunk_size=1 << 20):
                    written += len(chunk)
                    if limit is not None and written > limit:
                        tmp.unlink(missing_ok=True)
                        return ("skip", "over [limits] max_export_mb; not downloaded")
                    handle.write(chunk)
            mtime = _local_mtime(meta)
            os.utime(tmp, ns=(mtime, mtime))
            os.replace(tmp, target)
        except FileNotFoundError as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.filename is not None:
                return ("skip", f"cannot write its mirror file ({exc.strerror})")
            return None
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if type(exc).__module__.startswith("obstore"):
                return ("fail", describe_error(exc, self.bucket))
            return ("skip", f"cannot write its mirror file ({exc.strerror or exc})")
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            return ("fail", describe_error(exc, self.bucket))
        return _Entry(meta.etag, written, meta.mtime_ns, entry.local)

    def _remove(self, local: str) -> None:
        path = self.folder / local
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove folders the removals left empty, up to (not including) the mirror folder."""
        while folder != self.folder and self.folder in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _sweep(self, keep: Iterable[str]) -> None:
        """Remove files no recorded object accounts for (another bucket's, a crash's
        leftover part files): the mirror folder holds the bucket and nothing else."""
        keep_set = set(keep)
        for root, dirs, files in os.walk(self.folder, topdown=False):
            for name in files:
                path = Path(root) / name
                rel = path.relative_to(self.folder).as_posix()
                if rel not in keep_set:
                    with contextlib.suppress(OSError):
                        path.unlink()
            for name in dirs:
                with contextlib.suppress(OSError):
                    (Path(root) / name).rmdir()  # only if empty


def _local_mtime(entry: _Entry) -> int:
    """The mirror file's mtime: the object's last_modified, plus under a millisecond taken
    from its ETag. Listings give last_modified to the second; without this, an object
    overwritten within the same second by bytes of the same size would leave the file's
    (size, mtime) as it was, and the store would take it for the version it already read."""
    if not entry.etag:
        return entry.mtime_ns
    import hashlib

    return entry.mtime_ns + int(hashlib.sha256(entry.etag.encode()).hexdigest()[:8], 16) % 999_999


def _entry(meta: Any) -> _Entry:
    modified: dt.datetime = meta["last_modified"]
    mtime_ns = int(modified.timestamp()) * 1_000_000_000 + modified.microsecond * 1000
    etag = meta.get("e_tag")
    return _Entry(str(etag) if etag else None, int(meta["size"]), mtime_ns, "")


def mirror_for(config: Config) -> BucketMirror | None:
    """The mirror of the config's bucket, or None when export_dir is a folder."""
    bucket = config.paths.bucket
    if bucket is None:
        return None
    return BucketMirror(
        bucket,
        config.paths.export_dir,
        max_object_bytes=int(config.limits.max_export_mb * 1024 * 1024),
    )
