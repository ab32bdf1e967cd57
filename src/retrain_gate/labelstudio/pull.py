"""`retrain-gate pull`: ask a Label Studio server for a snapshot and drop it in the export folder.

The snapshot is what `POST /api/projects/{id}/exports/` makes with full prediction objects
(`serialization_options.predictions.only_id = false`), the shape that names every release. It
lands under Label Studio's own file name (a fresh one when that name is taken by a file pull did
not write), written under a hidden temporary name first and then linked into place, so the
watcher sees one complete export appear, exactly as if a person had saved it.

The server is not trusted: the whole pull has one deadline (`pull_timeout_seconds`), the body
is capped at `[limits] max_export_mb` and must be a JSON list before it is kept, temporaries are
created exclusively (a planted symbolic link is never written through), and rotation removes
only files whose sha256 pull recorded when it wrote them.

The API token is read from the environment variable named by `[labelstudio] token_env`; it is
never written to the config, never put in a message, never printed. label-studio-sdk is the
optional extra `retrain-gate[pull]`, imported on first use only: only `pull` needs it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import ipaddress
import mmap
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from retrain_gate.errors import RetrainGateError

if TYPE_CHECKING:
    from label_studio_sdk.base_client import LabelStudioBase as LabelStudio

    from retrain_gate.config import Config, LabelStudioConfig

Progress = Callable[[str], None]

# Label Studio names snapshot files `project-<id>-at-<date>-<md5 prefix>.json`; anything else in
# Content-Disposition (a path, a proxy's rewrite) is not trusted as a file name.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.json")
_POLL_SECONDS = 0.5
_SAY_EVERY = 5.0
# The snapshots pull wrote, oldest first, one `<sha256>  <name>` a line; hidden, so the watcher
# never reads it.
PULLED_RECORD = ".retrain-gate-pulled"
_RECORD_LINE = re.compile(r"([0-9a-f]{64})  (\S+)")
_REQUEST_SECONDS = 30.0
# Removing our snapshot from the server is a courtesy: it may not hold up a pull that failed.
_CLEANUP_SECONDS = 5.0
# Temporaries: `.retrain-gate-pull.<pid>.<random>.part`; before these, `.<name>.<pid>.part`.
_PART_PREFIX = ".retrain-gate-pull."
_STALE_PART = re.compile(r"\.(?:retrain-gate-pull\.(\d+)\..+|.+\.json\.(\d+))\.part")
_MB = 1024 * 1024
_CHUNK = 1024 * 1024
_EXTRA_HINT = "pip install 'retrain-gate[pull]'"

# One pull at a time per process: a scheduled pull and one asked for by a key would otherwise
# share the record of pulled files.
_ONE_AT_A_TIME = threading.Lock()
# A cleartext warning is worth one line per process, not one per scheduled pull.
_WARNED_CLEARTEXT: set[str] = set()


class PullError(RetrainGateError):
    """A pull that could not bring a snapshot; the message names the setting to fix."""


def _no_progress(message: str) -> None:
    del message


def shown_url(url: str) -> str:
    """`url` fit for a message: a `user:pass@` in it becomes `***@`."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", url)


def pull_snapshot(
    config: Config, progress: Progress | None = None, notice: Progress | None = None
) -> Path:
    """Make a full snapshot on the server, wait for it, download it; return the file's path.

    `progress` gets the passing steps; `notice` (default: `progress`) the lines that must stay
    where the user reads them: the cleartext warning, a file kept or renamed, stale temporaries
    removed.

    Raises `PullError` (with nothing left in the export folder) when the server cannot be
    reached, refuses the token, does not know the project, the snapshot fails, or the pull
    does not finish within `[labelstudio] pull_timeout_seconds`.
    """
    say = progress or _no_progress
    with _ONE_AT_A_TIME:
        return _pull(config, say, notice or say)


@dataclass(frozen=True)
class _Deadline:
    """The whole pull's time: every request waits at most what is left of it."""

    seconds: float
    ends: float

    @classmethod
    def start(cls, seconds: float) -> _Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        return self.ends - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def request(self) -> dict[str, Any]:
        """The SDK's request options: the per-request limit, never past the deadline."""
        return {"timeout_in_seconds": max(0.1, min(_REQUEST_SECONDS, self.left()))}

    def check(self, what: str) -> None:
        if self.passed():
            raise PullError(
                f"the pull did not finish within {self.seconds:g} s ({what}); raise "
                "[labelstudio] pull_timeout_seconds for a big project, or check the server"
            )


def _pull(config: Config, say: Progress, tell: Progress) -> Path:
    if config.paths.bucket is not None:
        # The mirror folder belongs to the bucket: a file put there is removed by its sync.
        raise PullError(
            f"[paths] export_dir is a bucket ({config.paths.bucket.url}); pull writes only to "
            "a local folder: upload the snapshot into the bucket beside the storage objects "
            "instead, or pull with a config whose export_dir is a folder"
        )
    _need_extra()
    settings = config.labelstudio
    url, project = _required(settings)
    shown = shown_url(url)
    _warn_cleartext(url, shown, tell)
    token = _token(settings)
    export_dir = config.paths.export_dir
    if not export_dir.is_dir():
        raise PullError(
            f"{export_dir}: the export folder does not exist; create it or fix [paths] export_dir"
        )
    record = _read_record(export_dir)
    _remove_stale_parts(export_dir, tell)
    client = _client(url, token, settings)
    # From the first request on: the import of the client is not the server's time.
    deadline = _Deadline.start(settings.pull_timeout_seconds)
    cap = config.limits.max_export_mb
    with _translated(settings, shown, project, deadline):
        say(f"asking Label Studio at {shown} for a snapshot of project {project}")
        _probe(client, shown, deadline)
        export_id = _create(client, project, deadline)
    try:
        with _translated(settings, shown, project, deadline):
            _wait(client, project, export_id, deadline, say)
            say(f"downloading snapshot {export_id}")
            path, digest = _download(
                client, project, export_id, export_dir, deadline, cap, record, tell
            )
    finally:
        # Every scheduled pull makes a snapshot on the server: remove ours so they do not pile up.
        with contextlib.suppress(Exception):
            client.projects.exports.delete(
                id=project,
                export_pk=export_id,
                request_options={"timeout_in_seconds": _CLEANUP_SECONDS},
            )
    _forget_old(export_dir, record, (digest, path.name), settings.pull_keep, tell)
    say(f"saved {path.name}")
    return path


def _warn_cleartext(url: str, shown: str, say: Progress) -> None:
    """The token goes in a header: over http:// to another machine anyone on the way reads it."""
    parts = urlsplit(url)
    if parts.scheme != "http" or _loopback(parts.hostname or "") or url in _WARNED_CLEARTEXT:
        return
    _WARNED_CLEARTEXT.add(url)
    say(
        f"warning: {shown} is http:// to another machine, so the API token travels in "
        "cleartext; use https:// in [labelstudio] url (or an SSH tunnel to localhost)"
    )


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------------------- the record


def _record_path(export_dir: Path) -> Path:
    return export_dir / PULLED_RECORD


def _read_record(export_dir: Path) -> list[tuple[str, str]]:
    """(sha256, name) of each snapshot pull wrote, oldest first. A record that is a symbolic
    link is not pull's own: refused before anything is downloaded."""
    record = _record_path(export_dir)
    try:
        fd = os.open(record, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PullError(
                f"{record} is a symbolic link, not the record pull keeps of its own snapshots; "
                "remove it, then pull again"
            ) from None
        raise PullError(f"{record}: cannot read ({exc.strerror}); fix or remove it") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise PullError(f"{record} is not a regular file; remove it, then pull again")
        text = handle.read(1 * _MB).decode("utf-8", "replace")
    entries = []
    for line in text.splitlines():
        # A bare name is a record from before pull kept hashes: never removed by rotation.
        match = _RECORD_LINE.fullmatch(line.strip())
        if match and _SAFE_NAME.fullmatch(match.group(2)):
            entries.append((match.group(1), match.group(2)))
    return entries


def _forget_old(
    export_dir: Path,
    entries: list[tuple[str, str]],
    newest: tuple[str, str],
    keep: int,
    say: Progress,
) -> None:
    """Record `newest` as pulled and remove what pull itself wrote beyond the newest `keep`:
    only a regular file whose bytes are still those it recorded."""
    entries = [entry for entry in entries if entry[1] != newest[1]]
    entries.append(newest)
    drop = entries[:-keep] if keep else []
    kept = entries[len(drop) :]
    for digest, name in drop:
        path = export_dir / name
        if _sha256_of(path) == digest:
            with contextlib.suppress(OSError):
                path.unlink()
        elif path.exists() or path.is_symlink():
            say(f"kept {name}: it is no longer the snapshot pull wrote there")
    record = _record_path(export_dir)
    body = "".join(f"{digest}  {name}\n" for digest, name in kept).encode()
    try:
        fd, temporary = tempfile.mkstemp(dir=export_dir, prefix=f".{PULLED_RECORD}.", suffix=".tmp")
    except OSError as exc:
        say(f"cannot write {record} ({exc.strerror}); older pulled snapshots may stay")
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(temporary, record)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        say(f"cannot write {record} ({exc.strerror}); older pulled snapshots may stay")


def _sha256_of(path: Path) -> str | None:
    """The sha256 of a regular file (never through a symbolic link), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_stale_parts(export_dir: Path, say: Progress) -> None:
    """Downloads left by a pull that was killed: a process that is gone writes no more."""
    try:
        names = os.listdir(export_dir)
    except OSError:
        return
    for name in names:
        match = _STALE_PART.fullmatch(name)
        if not match:
            continue
        pid = int(match.group(1) or match.group(2))
        # Ours: this process holds the one-pull lock, so no download of its own is running.
        if pid != os.getpid() and _alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(export_dir / name)
            say(f"removed {name}, left by a pull that did not finish")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


# ------------------------------------------------------------------------------ settings


def _required(settings: LabelStudioConfig) -> tuple[str, int]:
    if not settings.url:
        raise PullError(
            '[labelstudio] url is not set; add e.g. url = "http://localhost:8080" to the config'
        )
    if settings.project is None:
        raise PullError(
            "[labelstudio] project is not set; add project = <id> (the number after "
            "/projects/ in the project's address in Label Studio)"
        )
    return settings.url.rstrip("/"), settings.project


def _token(settings: LabelStudioConfig) -> str:
    token = os.environ.get(settings.token_env, "").strip()
    if not token:
        raise PullError(
            f"the environment variable {settings.token_env} (named by [labelstudio] token_env) "
            "is not set; set it to your Label Studio API token (Account & Settings > "
            "Access Token)"
        )
    # It goes into an HTTP header: stray characters would fail deep in the client.
    if not re.fullmatch(r"[\x21-\x7e]+", token):
        raise PullError(
            f"the environment variable {settings.token_env} (named by [labelstudio] token_env) "
            "does not hold a well-formed token (spaces or characters outside ASCII); paste the "
            "token again"
        )
    return token


def _need_extra() -> None:
    if importlib.util.find_spec("label_studio_sdk") is None:
        raise PullError(f"pull needs the optional extra: {_EXTRA_HINT}")


def _client(url: str, token: str, settings: LabelStudioConfig) -> LabelStudio:
    from label_studio_sdk.base_client import LabelStudioBase as LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    variable = f"{settings.token_env} (named by [labelstudio] token_env)"
    try:
        # The SDK decodes a personal access token (a JWT) here, before anything is sent.
        # The default timeout bounds what the SDK sends on its own (a token refresh).
        limit = min(_REQUEST_SECONDS, settings.pull_timeout_seconds)
        return LabelStudio(base_url=url, api_key=token, timeout=limit, max_retries=0)
    except ApiError:
        raise PullError(
            f"the personal access token in {variable} has expired or has no expiry date; "
            "create a new one in Label Studio (Account & Settings > Personal Access Token)"
        ) from None
    except Exception:  # a token the SDK cannot even decode (an absurd expiry date...)
        raise PullError(
            f"the token in {variable} is not a well-formed Label Studio token; paste it again"
        ) from None


@contextlib.contextmanager
def _translated(
    settings: LabelStudioConfig, shown: str, project: int, deadline: _Deadline
) -> Iterator[None]:
    """The SDK's and httpx's exceptions as one line that names the setting to fix."""
    import httpx
    import pydantic
    from label_studio_sdk.core.api_error import ApiError

    where = f"Label Studio at {shown}"
    try:
        yield
    except PullError:
        raise
    except ApiError as exc:
        code = exc.status_code
        if code == 401:
            raise PullError(
                f"{where} refused the token in {settings.token_env} (HTTP 401); check the "
                f"token and [labelstudio] token_env (a legacy token needs the server's "
                "legacy tokens enabled; a personal access token works as it is)"
            ) from None
        if code == 403:
            raise PullError(
                f"{where} does not let this token export project {project} (HTTP 403); "
                f"use a token of a member of the project, or fix [labelstudio] project"
            ) from None
        if code == 404:
            raise PullError(
                f"{where} has no project {project} (HTTP 404); check [labelstudio] project "
                "(the number after /projects/ in the project's address) and [labelstudio] url"
            ) from None
        raise PullError(
            f"{where} answered HTTP {code}; check [labelstudio] url and the server's log"
        ) from None
    except httpx.TimeoutException:
        deadline.check("the server stopped answering")
        raise PullError(
            f"{where} did not answer within {_REQUEST_SECONDS:.0f} s; check [labelstudio] url "
            "and that the server is up"
        ) from None
    except httpx.InvalidURL:
        raise PullError(f"{where}: not a usable address; check [labelstudio] url") from None
    except (httpx.HTTPError, OSError) as exc:
        reason = type(exc).__name__
        raise PullError(
            f"cannot reach {where} ({reason}); check [labelstudio] url and that the server is "
            "running"
        ) from None
    except (pydantic.ValidationError, ValueError, KeyError, TypeError, AttributeError):
        raise PullError(
            f"the server at {shown} did not answer like Label Studio; check [labelstudio] url"
        ) from None


# ------------------------------------------------------------------------------ the server


def _probe(client: LabelStudio, shown: str, deadline: _Deadline) -> None:
    """Tell a wrong address from a wrong project: every Label Studio answers /api/version."""
    from label_studio_sdk.core.api_error import ApiError

    try:
        client.versions.get(request_options=deadline.request())
    except ApiError as exc:
        if exc.status_code == 404:
            raise PullError(
                f"the server at {shown} is not Label Studio (no /api/version); "
                "check [labelstudio] url"
            ) from None
        raise


def _create(client: LabelStudio, project: int, deadline: _Deadline) -> int:
    from label_studio_sdk.types.serialization_option_request import SerializationOptionRequest
    from label_studio_sdk.types.serialization_options_request import SerializationOptionsRequest

    options = SerializationOptionsRequest(predictions=SerializationOptionRequest(only_id=False))
    created = client.projects.exports.create(
        id=project,
        title="retrain-gate pull",
        serialization_options=options,
        request_options=deadline.request(),
    )
    if created.id is None:
        raise ValueError("no export id")
    return int(created.id)


def _wait(
    client: LabelStudio, project: int, export_id: int, deadline: _Deadline, say: Progress
) -> None:
    started = time.monotonic()
    last_status, last_said = "", 0.0
    while True:
        export = client.projects.exports.get(
            id=project,
            export_pk=export_id,
            request_options=deadline.request(),
        )
        status = _status(export)
        elapsed = time.monotonic() - started
        if status == "completed":
            return
        if status == "failed":
            raise PullError(
                f"Label Studio reports snapshot {export_id} of project {project} failed; see "
                "the server's log (Data Manager > Export shows it too), then pull again"
            )
        if deadline.passed():
            raise PullError(
                f"snapshot {export_id} of project {project} was not ready after "
                f"{deadline.seconds:.0f} s (status {status}); raise "
                "[labelstudio] pull_timeout_seconds for a big project"
            )
        # A log gets a line when the status changes and every few seconds, not every poll.
        if status != last_status or elapsed - last_said >= _SAY_EVERY:
            say(f"waiting for snapshot {export_id}: {status} ({elapsed:.0f} s)")
            last_status, last_said = status, elapsed
        time.sleep(max(0.0, min(_POLL_SECONDS, deadline.left())))


def _status(export: Any) -> str:
    status = getattr(export, "status", None)
    value = getattr(status, "value", status)
    return str(value) if value is not None else "created"


# ---------------------------------------------------------------------------- the download


def _download(
    client: LabelStudio,
    project: int,
    export_id: int,
    export_dir: Path,
    deadline: _Deadline,
    limit_mb: float,
    record: list[tuple[str, str]],
    say: Progress,
) -> tuple[Path, str]:
    """Stream the snapshot into an exclusive hidden temporary, refuse what is too big, late
    or not a JSON list, and link it under a name that holds no one else's file."""
    import httpx

    raw = client.projects.exports.with_raw_response
    what = f"snapshot {export_id}"
    cap = int(limit_mb * _MB)
    with raw.download(
        id=project,
        export_pk=export_id,
        export_type="JSON",
        request_options=deadline.request(),
    ) as response:
        headers = response.headers
        name = _file_name(headers, project, export_id)
        promised = _content_length(headers)
        if promised is not None and promised > cap:
            raise _too_big(what, f"{promised:,} bytes announced", limit_mb)
        # Hidden (the watcher skips names starting with a dot, so it never sees a partial
        # file) and created with O_EXCL: a link planted under the name is never followed.
        fd, part = tempfile.mkstemp(
            dir=export_dir, prefix=f"{_PART_PREFIX}{os.getpid()}.", suffix=".part"
        )
        temporary = Path(part)
        try:
            digest = hashlib.sha256()
            size = 0
            # The descriptor itself, not a buffered file: a buffer still holding bytes when
            # the disk fills would fail again on close, and that error would hide this one.
            try:
                try:
                    for chunk in response.data:
                        size += len(chunk)
                        if size > cap:
                            raise _too_big(what, f"more than {cap:,} bytes sent", limit_mb)
                        _write(fd, chunk, export_dir, what, size)
                        digest.update(chunk)
                        deadline.check(f"{_bytes(size)} of {what} downloaded")
                except httpx.TimeoutException:
                    deadline.check(f"{_bytes(size)} of {what} downloaded")
                    raise PullError(
                        f"the download of {what} stalled after {size:,} bytes (nothing for "
                        f"{_REQUEST_SECONDS:.0f} s); pull again"
                    ) from None
                except httpx.HTTPError as exc:
                    raise PullError(
                        f"the download of {what} broke off after {size:,} bytes "
                        f"({type(exc).__name__}); pull again"
                    ) from None
                _sync(fd, export_dir, what, size)
            finally:
                os.close(fd)
            if size == 0:
                raise PullError(
                    f"Label Studio sent an empty {what}; pull again, or check the server's log"
                )
            _must_be_json_list(temporary, what)
            final = _place(temporary, export_dir, name, digest.hexdigest(), record, say)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    return final, digest.hexdigest()


def _bytes(size: int) -> str:
    return "1 byte" if size == 1 else f"{size:,} bytes"


def _content_length(headers: Any) -> int | None:
    value = {k.lower(): v for k, v in dict(headers).items()}.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _too_big(what: str, size: str, limit_mb: float) -> PullError:
    return PullError(
        f"{what} is over [limits] max_export_mb = {limit_mb:g} ({size}), so it was not kept; "
        "raise the limit, or pull a smaller project"
    )


def _disk_error(exc: OSError, export_dir: Path, what: str, size: int) -> PullError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PullError(
            f"{export_dir}: the disk is full (no space left after {size:,} bytes of {what}); "
            "free some space, then pull again"
        )
    return PullError(f"{export_dir}: cannot write {what} ({exc.strerror}); pull again")


def _write(fd: int, chunk: bytes, export_dir: Path, what: str, size: int) -> None:
    view = memoryview(chunk)
    try:
        while view:  # a write may take only part of it
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise _disk_error(exc, export_dir, what, size) from None


def _sync(fd: int, export_dir: Path, what: str, size: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _disk_error(exc, export_dir, what, size) from None


def _must_be_json_list(path: Path, what: str) -> None:
    """A Label Studio JSON snapshot is one JSON list; anything else is not kept."""
    import msgspec

    # Mapped, and the tasks only checked, not decoded: a snapshot near the size cap needs no
    # more memory than the page cache gives it.
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        try:
            tasks = msgspec.json.decode(m, type=list[msgspec.Raw])
        except msgspec.DecodeError:
            tasks = None
        finally:
            ok = tasks is not None
            del tasks
    if not ok:
        raise PullError(
            f"{what} is not a JSON list of tasks, so it was not kept; check [labelstudio] url "
            "(a proxy's error page?) and the server's log"
        )


def _place(
    temporary: Path,
    export_dir: Path,
    name: str,
    digest: str,
    record: list[tuple[str, str]],
    say: Progress,
) -> Path:
    """Link the download under `name`, or `name-2.json`... when that name holds a file pull
    did not write; a name holding pull's own identical snapshot is reused."""
    stem = name.removesuffix(".json")
    ours = dict((n, d) for d, n in record)
    for n in range(1, 1000):
        candidate = name if n == 1 else f"{stem}-{n}.json"
        final = export_dir / candidate
        if ours.get(candidate) == digest and _sha256_of(final) == digest:
            return final
        try:
            # A hard link never replaces an existing name: no race with a person saving one.
            os.link(temporary, final)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_error(exc, export_dir, "the snapshot", 0) from None
            # A file system without hard links: check, then rename (a narrow race at worst).
            if os.path.lexists(final):
                continue
            os.replace(temporary, final)
        if n > 1:
            say(f"{name} is taken by a file pull did not write; saving as {candidate}")
        return final
    raise PullError(f"{export_dir}: no free name for {name}; remove old copies of it")


def _file_name(headers: Any, project: int, export_id: int) -> str:
    disposition = {k.lower(): v for k, v in dict(headers).items()}.get("content-disposition", "")
    match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition)
    if match:
        name = os.path.basename(match.group(1).strip())
        if _SAFE_NAME.fullmatch(name):
            return name
    return f"project-{project}-snapshot-{export_id}.json"
