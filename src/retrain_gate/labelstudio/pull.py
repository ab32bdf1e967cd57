"""`retrain-gate pull`: ask a Label Studio server for a snapshot and drop it in the export folder.

The snapshot is what `POST /api/projects/{id}/exports/` makes with full prediction objects
(`serialization_options.predictions.only_id = false`), the shape that names every release. It
lands under Label Studio's own file name, written under a hidden temporary name first and then
renamed, so the watcher sees one complete export appear, exactly as if a person had saved it.

The API token is read from the environment variable named by `[labelstudio] token_env`; it is
never written to the config, never put in a message, never printed. label-studio-sdk is
imported on first use only: it takes seconds to import and only `pull` needs it.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
# The names of the snapshots pull wrote, oldest first; hidden, so the watcher never reads it.
PULLED_RECORD = ".retrain-gate-pulled"
_REQUEST_SECONDS = 30.0


# One pull at a time per process: a scheduled pull and one asked for by a key would otherwise
# share the temporary name and the record of pulled files.
_ONE_AT_A_TIME = threading.Lock()


class PullError(RetrainGateError):
    """A pull that could not bring a snapshot; the message names the setting to fix."""


def _no_progress(message: str) -> None:
    del message


def pull_snapshot(config: Config, progress: Progress | None = None) -> Path:
    """Make a full snapshot on the server, wait for it, download it; return the file's path.

    Raises `PullError` (with nothing left in the export folder) when the server cannot be
    reached, refuses the token, does not know the project, or the snapshot fails or times out.
    """
    with _ONE_AT_A_TIME:
        return _pull(config, progress or _no_progress)


def _pull(config: Config, say: Progress) -> Path:
    if config.paths.bucket is not None:
        # The mirror folder belongs to the bucket: a file put there is removed by its sync.
        raise PullError(
            f"[paths] export_dir is a bucket ({config.paths.bucket.url}); pull writes only to "
            "a local folder: upload the snapshot into the bucket beside the storage objects "
            "instead, or pull with a config whose export_dir is a folder"
        )
    settings = config.labelstudio
    url, project = _required(settings)
    token = _token(settings)
    export_dir = config.paths.export_dir
    if not export_dir.is_dir():
        raise PullError(
            f"{export_dir}: the export folder does not exist; create it or fix [paths] export_dir"
        )
    client = _client(url, token)
    where = f"Label Studio at {url}"
    with _translated(settings, url, project):
        say(f"asking {where} for a snapshot of project {project}")
        _probe(client, url)
        export_id = _create(client, project)
    try:
        with _translated(settings, url, project):
            _wait(client, project, export_id, settings.pull_timeout_seconds, say)
            say(f"downloading snapshot {export_id}")
            path = _download(client, project, export_id, export_dir)
    finally:
        # Every scheduled pull makes a snapshot on the server: remove ours so they do not pile up.
        with contextlib.suppress(Exception):
            client.projects.exports.delete(id=project, export_pk=export_id)
    _forget_old(export_dir, path.name, settings.pull_keep, say)
    say(f"saved {path.name}")
    return path


def _forget_old(export_dir: Path, newest: str, keep: int, say: Progress) -> None:
    """Record `newest` as pulled and remove what pull itself wrote beyond the newest `keep`."""
    record = export_dir / PULLED_RECORD
    try:
        names = record.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        names = []
    except OSError as exc:
        say(f"cannot read {record} ({exc.strerror}); older pulled snapshots are kept")
        return
    # Two pulls of an unchanged project in one minute get the same name from Label Studio.
    names = [name for name in names if name != newest and _SAFE_NAME.fullmatch(name)]
    names.append(newest)
    drop = names[:-keep] if keep else []
    kept = names[len(drop) :]
    for name in drop:
        with contextlib.suppress(OSError):  # already gone, or not ours to remove after all
            (export_dir / name).unlink()
    temporary = record.with_name(f"{PULLED_RECORD}.{os.getpid()}.tmp")
    try:
        temporary.write_text("".join(f"{name}\n" for name in kept), encoding="utf-8")
        os.replace(temporary, record)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        say(f"cannot write {record} ({exc.strerror}); older pulled snapshots may stay")


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
    return token


def _client(url: str, token: str) -> LabelStudio:
    from label_studio_sdk.base_client import LabelStudioBase as LabelStudio

    return LabelStudio(base_url=url, api_key=token, timeout=_REQUEST_SECONDS, max_retries=0)


@contextlib.contextmanager
def _translated(settings: LabelStudioConfig, url: str, project: int) -> Iterator[None]:
    """The SDK's and httpx's exceptions as one line that names the setting to fix."""
    import httpx
    import pydantic
    from label_studio_sdk.core.api_error import ApiError

    where = f"Label Studio at {url}"
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
        raise PullError(
            f"{where} did not answer within {_REQUEST_SECONDS:.0f} s; check [labelstudio] url "
            "and that the server is up"
        ) from None
    except (httpx.HTTPError, OSError) as exc:
        reason = type(exc).__name__
        raise PullError(
            f"cannot reach {where} ({reason}); check [labelstudio] url and that the server is "
            "running"
        ) from None
    except (pydantic.ValidationError, ValueError):
        raise PullError(
            f"the server at {url} did not answer like Label Studio; check [labelstudio] url"
        ) from None


def _probe(client: LabelStudio, url: str) -> None:
    """Tell a wrong address from a wrong project: every Label Studio answers /api/version."""
    from label_studio_sdk.core.api_error import ApiError

    try:
        client.versions.get()
    except ApiError as exc:
        if exc.status_code == 404:
            raise PullError(
                f"the server at {url} is not Label Studio (no /api/version); "
                "check [labelstudio] url"
            ) from None
        raise


def _create(client: LabelStudio, project: int) -> int:
    from label_studio_sdk.types.serialization_option_request import SerializationOptionRequest
    from label_studio_sdk.types.serialization_options_request import SerializationOptionsRequest

    options = SerializationOptionsRequest(predictions=SerializationOptionRequest(only_id=False))
    created = client.projects.exports.create(
        id=project, title="retrain-gate pull", serialization_options=options
    )
    if created.id is None:
        raise ValueError("no export id")
    return int(created.id)


def _wait(client: LabelStudio, project: int, export_id: int, limit: float, say: Progress) -> None:
    started = time.monotonic()
    last_status, last_said = "", 0.0
    while True:
        status = _status(client.projects.exports.get(id=project, export_pk=export_id))
        elapsed = time.monotonic() - started
        if status == "completed":
            return
        if status == "failed":
            raise PullError(
                f"Label Studio reports snapshot {export_id} of project {project} failed; see "
                "the server's log (Data Manager > Export shows it too), then pull again"
            )
        if elapsed > limit:
            raise PullError(
                f"snapshot {export_id} of project {project} was not ready after {limit:.0f} s "
                f"(status {status}); raise [labelstudio] pull_timeout_seconds for a big project"
            )
        # A log gets a line when the status changes and every few seconds, not every poll.
        if status != last_status or elapsed - last_said >= _SAY_EVERY:
            say(f"waiting for snapshot {export_id}: {status} ({elapsed:.0f} s)")
            last_status, last_said = status, elapsed
        time.sleep(_POLL_SECONDS)


def _status(export: Any) -> str:
    status = getattr(export, "status", None)
    value = getattr(status, "value", status)
    return str(value) if value is not None else "created"


def _download(client: LabelStudio, project: int, export_id: int, export_dir: Path) -> Path:
    import httpx

    raw = client.projects.exports.with_raw_response
    with raw.download(id=project, export_pk=export_id, export_type="JSON") as response:
        name = _file_name(response.headers, project, export_id)
        final = export_dir / name
        # Hidden: the watcher skips names starting with a dot, so it never sees a partial file.
        temporary = export_dir / f".{name}.{os.getpid()}.part"
        try:
            size = 0
            with temporary.open("wb") as handle:
                try:
                    for chunk in response.data:
                        handle.write(chunk)
                        size += len(chunk)
                except httpx.HTTPError as exc:
                    raise PullError(
                        f"the download of snapshot {export_id} broke off after {size:,} bytes "
                        f"({type(exc).__name__}); pull again"
                    ) from None
                handle.flush()
                os.fsync(handle.fileno())
            if size == 0:
                raise PullError(
                    f"Label Studio sent an empty snapshot {export_id}; pull again, or check "
                    "the server's log"
                )
            os.replace(temporary, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    return final


def _file_name(headers: dict[str, str], project: int, export_id: int) -> str:
    disposition = {k.lower(): v for k, v in headers.items()}.get("content-disposition", "")
    match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition)
    if match:
        name = os.path.basename(match.group(1).strip())
        if _SAFE_NAME.fullmatch(name):
            return name
    return f"project-{project}-snapshot-{export_id}.json"
