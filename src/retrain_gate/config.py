"""Typed configuration: defaults from docs/semantics.md, overridden by `config.toml`.

Relative paths resolve against the folder of the config file, so a config can travel with
its data. Every validation problem becomes one `ConfigError` line that names the key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from retrain_gate.decisions.names import validate_name
from retrain_gate.errors import ConfigError
from retrain_gate.sources.url import BucketURL, looks_like_url, parse_bucket_url

DEFAULT_PATTERN = r"(?P<task_subdir>[^/]+)/(?P<episode>[^/]+)/[^/]+$"


class _Section(BaseModel):
    # strict: TOML has real types, so `"200"` for a count or `"yes"` for a flag is a mistake to
    # name, not a value to coerce (an int is still accepted where a float is expected).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# TOML has no path type: a path is written as a string.
_Path = Annotated[Path, Field(strict=False)]


# Where a bucket's objects are mirrored, under state_dir (sources/bucket.py).
MIRROR_DIR = Path("bucket") / "mirror"


class PathsConfig(_Section):
    # A folder, or a bucket URL (s3://, gs://, az://, abfs://) mirrored under state_dir.
    export_dir: _Path = Path("exports")
    state_dir: _Path = Path(".retrain-gate")
    eval_set: _Path = Path("eval")
    poll_seconds: float = Field(default=30.0, gt=0)
    # Set when export_dir names a bucket: export_dir is then its mirror folder (`resolved`).
    _bucket: BucketURL | None = PrivateAttr(default=None)

    @field_validator("export_dir", mode="before")
    @classmethod
    def _bucket_url_valid(cls, value: Any) -> Any:
        if isinstance(value, str) and looks_like_url(value):
            parse_bucket_url(value)  # raises ValueError naming what is wrong
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _keep_bucket_url(cls, data: Any, handler: Any) -> Any:
        # A URL is not a path (Path would fold "s3://" into "s3:/"): keep it beside.
        raw = data.get("export_dir") if isinstance(data, dict) else None
        model = handler(data)
        if isinstance(raw, str) and looks_like_url(raw):
            model._bucket = parse_bucket_url(raw)
        return model

    @property
    def bucket(self) -> BucketURL | None:
        """The bucket export_dir names, if it names one."""
        return self._bucket

    @property
    def export_source(self) -> str:
        """What the person wrote: the bucket URL, or the export folder."""
        return self._bucket.url if self._bucket is not None else str(self.export_dir)

    def shown(self, path: Path | str) -> str:
        """A path as a person names it: a file of a bucket's mirror by its URL (the mirror is
        retrain-gate's copy under state_dir, not a folder they know), anything else as is."""
        if self._bucket is None:
            return str(path)
        try:
            relative = Path(path).relative_to(self.export_dir).as_posix()
        except ValueError:
            return str(path)
        return self._bucket.url if relative == "." else f"{self._bucket.url}/{relative}"


def _unbounded(pattern: str) -> str | None:
    """Why polars' regex engine (the one ingest runs, linear in the path) refuses `pattern`."""
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.extract_groups(pattern)
    except pl.exceptions.ComputeError as exc:
        return str(exc).rsplit("error: ", 1)[-1].strip() or "not supported"
    return None


class EpisodesConfig(_Section):
    field: str = "image"
    pattern: str = DEFAULT_PATTERN
    frames_field: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_has_groups(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        missing = {"task_subdir", "episode"} - set(compiled.groupindex)
        if missing:
            names = " and ".join(f"(?P<{name}>...)" for name in sorted(missing))
            raise ValueError(f"needs the named group(s) {names}")
        problem = None if value == DEFAULT_PATTERN else _unbounded(value)
        if problem:
            raise ValueError(
                f"cannot be used: {problem}. Paths are matched by an engine whose time grows "
                "with the path's length only, which has no look-around and no back-references "
                "(with them, a short path can take unbounded time); write [episodes] pattern "
                "without them"
            )
        return value

    @field_validator("field")
    @classmethod
    def _field_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must name a key of task.data, such as 'image'")
        return value


class CorrectionsConfig(_Section):
    tolerance: float = Field(default=0.5, ge=0)


def _fraction(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError("must be a fraction in (0, 1], e.g. 0.10 for 10%")
    return value


class GatesConfig(_Section):
    min_delta_fraction: float = 0.10
    max_task_gini: float = 0.5
    max_task_share: float = 0.8
    initial_corpus_episodes: int = Field(default=0, ge=0)
    min_first_train_episodes: int = Field(default=20, ge=1)
    tasks: list[str] | None = None

    _check_fractions = field_validator("min_delta_fraction", "max_task_gini", "max_task_share")(
        classmethod(lambda cls, v: _fraction(v))
    )


class RegressionConfig(_Section):
    min_episodes: int = Field(default=10, ge=1)
    tolerance: float = Field(default=0.25, ge=0)
    alpha: float = 0.01

    _check_alpha = field_validator("alpha")(classmethod(lambda cls, v: _fraction(v)))


class WatchConfig(_Section):
    settle_seconds: float = Field(default=1.0, gt=0)
    max_wait_seconds: float = Field(default=120.0, gt=0)
    rescan_seconds: float = Field(default=60.0, gt=0)
    polling: bool = False


class CostConfig(_Section):
    gpu_hours_per_cycle: float | None = Field(default=None, ge=0)
    cost_per_gpu_hour: float | None = Field(default=None, ge=0)
    currency: str = "$"


class LimitsConfig(_Section):
    max_export_mb: float = Field(default=1024.0, gt=0)
    # No one file may hold the watcher for long: a read that runs past this is stopped and
    # the file refused with that reason (far above what a read takes: bench/RESULTS.md).
    max_read_seconds: float = Field(default=300.0, gt=0)


class Approver(_Section):
    """A name that may decide only when the command runs as `os_user` (a login on this host)."""

    name: str
    os_user: str

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        return validate_name(value)

    @field_validator("os_user")
    @classmethod
    def _os_user_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a login name, such as 'kpark'")
        return value.strip()


def _approver_list(value: Any) -> list[str | Approver] | None:
    """Each entry a name (stored as `validate_name` records it, so matching is exact) or a
    {name, os_user} table; one error naming the entry otherwise."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError('must be a list of names, e.g. ["Kim Park", "Lee Chan"]')
    out: list[str | Approver] = []
    for number, item in enumerate(value, start=1):
        try:
            if isinstance(item, str):
                out.append(validate_name(item))
            elif isinstance(item, dict):
                out.append(Approver.model_validate(item))
            else:
                raise ValueError("must be a name or a table {name = ..., os_user = ...}")
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ValueError(f"entry {number}: {key} {message}") from None
        except ValueError as exc:
            raise ValueError(f"entry {number}: {exc}") from None
    return out


class ApprovalsConfig(_Section):
    """Who may decide. Unset lists mean anyone, as the ledger records whatever name is typed."""

    # approve, decline and pin-eval; an entry is a name, or {name, os_user} to tie the name
    # to the login it must be typed from.
    approvers: list[str | Approver] | None = None
    ack_by: list[str | Approver] | None = None  # acknowledgements (unset: anyone)
    second_approver_for_override: bool = False

    _check_names = field_validator("approvers", "ack_by", mode="before")(
        classmethod(lambda cls, v: _approver_list(v))
    )


NotifyEvent = Literal[
    "alert_raised",
    "alert_acknowledged",
    "alert_ended",
    "ready",
    "wait",
    "approval",
    "pin",
    "refused",
    "watch_unreadable",
]
NOTIFY_EVENTS: tuple[str, ...] = NotifyEvent.__args__  # type: ignore[attr-defined]
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NotifyConfig(_Section):
    """Where to send what (live/notify/). URLs are Apprise URLs; `${NAME}` is expanded from the
    environment at send time, so a webhook's token need not be written in this file."""

    urls: list[str] = []
    events: list[NotifyEvent] = ["alert_raised", "ready", "approval"]
    unreadable_after_seconds: float = Field(default=300.0, gt=0)
    retry_seconds: float = Field(default=10.0, gt=0)
    give_up_after_seconds: float = Field(default=86400.0, gt=0)

    @field_validator("urls")
    @classmethod
    def _urls_look_like_urls(cls, value: list[str]) -> list[str]:
        for number, url in enumerate(value, start=1):
            # The URL itself is never repeated in the message: it may hold a token.
            if not (_URL.match(url) or _ENV.search(url)):
                raise ValueError(
                    f"entry {number} is neither an Apprise URL (scheme://...) nor names an "
                    "environment variable as ${NAME}"
                )
        return value


class LabelStudioConfig(_Section):
    """Where `retrain-gate pull` asks for snapshots. The token itself lives only in the
    environment variable named here, never in this file."""

    url: str | None = None
    project: int | None = Field(default=None, ge=1)
    token_env: str = "LABEL_STUDIO_API_KEY"
    # 0: pull only on demand; otherwise `watch` and the TUI pull on this schedule.
    pull_minutes: float = Field(default=0, ge=0)
    # The whole pull, building and downloading: a big project's snapshot takes minutes to
    # build, and a server that stalls or drips may not hold the next pull up for ever.
    pull_timeout_seconds: float = Field(default=600.0, gt=0)
    # Each pull is a full snapshot: the older ones it pulled are removed, or a schedule would
    # fill the disk (0 keeps them all). Files it did not pull are never touched.
    pull_keep: int = Field(default=3, ge=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be the server's address, e.g. 'http://localhost:8080'")
        return value

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                "must be the NAME of an environment variable that holds the token "
                "(e.g. LABEL_STUDIO_API_KEY), not the token itself"
            )
        return value


class Config(_Section):
    paths: PathsConfig = PathsConfig()
    episodes: EpisodesConfig = EpisodesConfig()
    corrections: CorrectionsConfig = CorrectionsConfig()
    gates: GatesConfig = GatesConfig()
    regression: RegressionConfig = RegressionConfig()
    watch: WatchConfig = WatchConfig()
    cost: CostConfig = CostConfig()
    limits: LimitsConfig = LimitsConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    notify: NotifyConfig = NotifyConfig()
    labelstudio: LabelStudioConfig = LabelStudioConfig()
    # Where the config was read from; not a key of the file.
    source: Path | None = Field(default=None, exclude=True)

    def resolved(self, base: Path) -> Config:
        """The same config with relative paths anchored at `base`."""

        def anchor(p: Path) -> Path:
            p = p.expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        bucket = self.paths.bucket
        state_dir = anchor(self.paths.state_dir)
        paths = PathsConfig(
            export_dir=state_dir / MIRROR_DIR if bucket else anchor(self.paths.export_dir),
            state_dir=state_dir,
            eval_set=anchor(self.paths.eval_set),
            poll_seconds=self.paths.poll_seconds,
        )
        paths._bucket = bucket
        return self.model_copy(update={"paths": paths})


def _as_written(value: object) -> str:
    """A bad value as the user can find it in their file: a string as a TOML literal
    string when it can be one (repr would double every backslash of a pattern)."""
    if isinstance(value, str) and "'" not in value and value.isprintable():
        return f"'{value}'"
    return repr(value)


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        section, _, key = loc.rpartition(".")
        where = f"[{section}]" if section else "the top level"
        return f"unknown key '{key}' in {where}; check the spelling or remove it"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind.endswith("_type") and isinstance(error.get("input"), str):
        message += "; write it without quotes"
    if (
        "input" in error
        and kind not in ("missing",)
        and not loc.startswith("notify.urls")
        and loc != "labelstudio.token_env"  # a token pasted here by mistake is never echoed
        and not (loc == "paths.export_dir" and kind == "value_error")  # a URL may hold one
    ):
        shown = error["input"]
        if loc == "labelstudio.url" and isinstance(shown, str):
            # a `user:pass@` in the address is a password
            shown = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", shown)
        got = _as_written(shown)
        return f"'{loc}' {message} (got {got if len(got) <= 120 else got[:119] + '…'})"
    return f"'{loc}' {message}"


def parse_config(data: dict[str, Any], *, base: Path, source: Path | None = None) -> Config:
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}{_describe(first)}") from None
    config = config.resolved(base)
    return config.model_copy(update={"source": source})


def load_config(path: Path) -> Config:
    """Read and validate a config file; a missing or bad file raises `ConfigError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no config file here; create one with `retrain-gate init {path}` "
            "or pass --config PATH"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the config is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses once per level of nesting
        raise ConfigError(
            f"{path}: not a usable config (arrays or tables nested too deeply to read)"
        ) from None
    return parse_config(data, base=path.resolve().parent, source=path)


# What `retrain-gate init` writes above each key. Every key of every section has one
# (tests/test_cli.py checks it), so a new key cannot be left out of the file.
KEY_HELP: dict[str, dict[str, str]] = {
    "paths": {
        "export_dir": "the folder where Label Studio JSON exports land, or a bucket:\n"
        "s3://bucket/prefix, gs://bucket/prefix, az://account/container/prefix or abfs://...\n"
        "(credentials only from the cloud's environment variables: docs/sources.md)",
        "state_dir": "where retrain-gate keeps its state: the ledger, merged frames, manifests",
        "eval_set": "the eval set (a file or a folder) whose hash the eval gate pins",
        "poll_seconds": "how often a bucket export_dir is listed by watch and the dashboard\n"
        "(only new or changed objects are downloaded)",
    },
    "episodes": {
        "field": "the key of task.data that holds the frame's path",
        "pattern": "regular expression searched in the URL-decoded path, with the named groups\n"
        "task_subdir and episode; e.g. /data/local-files/?d=pick_cube/ep_0007/f_0001.jpg",
        "frames_field": "a key of task.data holding the episode's total frame count. Set it when\n"
        "you use Label Studio's default export: that export leaves out unlabeled frames, so\n"
        "without it a half-labeled episode looks harvested",
    },
    "corrections": {
        "tolerance": "how far a point may move (percent of the image) and still count as\n"
        "accepted, for annotations that carry no origin",
    },
    "gates": {
        "min_delta_fraction": "delta gate: new harvested episodes needed, as a share of the corpus",
        "max_task_gini": "spread gate: the largest Gini of delta episodes per task",
        "max_task_share": "spread gate: the largest share of the delta from one task",
        "initial_corpus_episodes": "episodes the current model was trained on before the ledger",
        "min_first_train_episodes": "with an empty corpus: episodes needed for a first training",
        "tasks": "the task_subdirs the delta must spread over (default: those with work flowing)",
    },
    "regression": {
        "min_episodes": "harvested episodes each release needs before it is compared",
        "tolerance": "how much worse (corrections per episode) counts as worth acting on",
        "alpha": "the p-value below which a worse release is not noise",
    },
    "watch": {
        "settle_seconds": "a new file is read once its size has not changed for this long",
        "max_wait_seconds": "read a file still growing after this long anyway",
        "rescan_seconds": "how often the folder is listed again, in case an event was missed",
        "polling": "poll instead of file-system events (network mounts that send none)",
    },
    "cost": {
        "gpu_hours_per_cycle": "GPU hours one retrain costs (shown on the dashboard)",
        "cost_per_gpu_hour": "price of a GPU hour, in `currency`",
        "currency": "the currency symbol the dashboard shows",
    },
    "limits": {
        "max_export_mb": (
            "exports larger than this are refused (protects memory); `pull` keeps no bigger\n"
            "snapshot"
        ),
        "max_read_seconds": (
            "a file that takes longer than this to read is refused with that reason\n"
            "(no one file can hold the watcher)"
        ),
    },
    "notify": {
        "urls": (
            "Apprise URLs to send notifications to (json://, slack://, mailto://, ntfy://...);\n"
            'an entry may name an environment variable, e.g. "${SLACK_URL}", so no token is\n'
            "written here (docs/notify.md)"
        ),
        "events": (
            "what to send: alert_raised, alert_acknowledged, alert_ended, ready, wait,\n"
            "approval, pin, refused, watch_unreadable"
        ),
        "unreadable_after_seconds": "the watcher unable to read its folder this long is an event",
        "retry_seconds": "a failed delivery is retried after this, doubling each time",
        "give_up_after_seconds": "a message not delivered after this long is given up (and said)",
    },
    "labelstudio": {
        "url": "the Label Studio server `retrain-gate pull` asks for snapshots (docs/sources.md)",
        "project": "the project's id (the number in its URL)",
        "token_env": (
            "the NAME of the environment variable that holds the API token (never the token)"
        ),
        "pull_minutes": "watch and the dashboard pull a snapshot this often (0: only on demand)",
        "pull_timeout_seconds": (
            "a pull (building the snapshot on the server and downloading it) not done after\n"
            "this is an error"
        ),
        "pull_keep": "the newest snapshots pull wrote that are kept (0: all)",
    },
    "approvals": {
        "approvers": (
            "who may approve, decline and pin the eval set (unset: anyone); an entry is a\n"
            'name, or { name = "Kim Park", os_user = "kim" } to tie it to a login'
        ),
        "ack_by": "who may acknowledge an alert (unset: anyone)",
        "second_approver_for_override": (
            "an approval against WAIT needs a second, different approver to confirm it"
        ),
    },
}

# Shown, commented out, for keys whose default is "not set".
_UNSET_EXAMPLES: dict[str, Any] = {
    "frames_field": "n_frames",
    "tasks": ["pick_cube", "stack_blocks"],
    "gpu_hours_per_cycle": 2.0,
    "cost_per_gpu_hour": 40.0,
    "approvers": ["Kim Park", "Ana Souza"],
    "ack_by": ["Kim Park", "Ana Souza", "Lee Chen"],
    "url": "http://localhost:8080",
    "project": 3,
}


def default_config_toml() -> str:
    """A complete config with every key at its default, commented, for `retrain-gate init`.

    Keys whose default is "not set" are written commented out with an example value, so the
    file still reads back as the defaults.
    """
    config = Config()
    lines = [
        "# retrain-gate configuration. Every key is shown at its default (keys that are not set",
        "# by default are commented out, with an example); docs/gates.md explains each gate.",
        "# Relative paths are relative to this file's folder.",
    ]
    for section, keys in KEY_HELP.items():
        values = getattr(config, section).model_dump(mode="json")
        lines += ["", f"[{section}]"]
        for key, help_text in keys.items():
            lines += [f"# {line}" for line in help_text.splitlines()]
            value = values[key]
            if value is None:
                lines.append(f"# {_toml_line(key, _UNSET_EXAMPLES[key])}")
            else:
                lines.append(_toml_line(key, value))
    return "\n".join(lines) + "\n"


def _toml_line(key: str, value: Any) -> str:
    if isinstance(value, list):  # on one line, so that commenting it out is one `#`
        items = ", ".join(tomli_w.dumps({"v": item}).strip().removeprefix("v = ") for item in value)
        return f"{key} = [{items}]"
    return tomli_w.dumps({key: value}).strip()


def write_default_config(path: Path) -> None:
    if path.exists():
        raise ConfigError(f"{path}: already exists; not overwriting it (remove it first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:
        handle.write(default_config_toml())
