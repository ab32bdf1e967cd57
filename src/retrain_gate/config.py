"""Typed configuration: defaults from the gate semantics, overridden by `config.toml`.

Relative paths resolve against the folder of the config file, so a config can travel with
its data. Every validation problem becomes one `ConfigError` line that names the key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from retrain_gate.errors import ConfigError

DEFAULT_PATTERN = r"(?P<task_subdir>[^/]+)/(?P<episode>[^/]+)/[^/]+$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(_Section):
    export_dir: Path = Path("exports")
    state_dir: Path = Path(".retrain-gate")
    eval_set: Path = Path("eval")


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
    # the file refused with that reason (a 180 MB export reads in about a second).
    max_read_seconds: float = Field(default=300.0, gt=0)


class LabelStudioConfig(_Section):
    """Where `retrain-gate pull` asks for snapshots. The token itself lives only in the
    environment variable named here, never in this file."""

    url: str | None = None
    project: int | None = Field(default=None, ge=1)
    token_env: str = "LABEL_STUDIO_API_KEY"
    # 0: pull only on demand; otherwise `watch` and the TUI pull on this schedule.
    pull_minutes: float = Field(default=0, ge=0)
    # A big project's snapshot takes minutes to build on the server.
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
    labelstudio: LabelStudioConfig = LabelStudioConfig()
    # Where the config was read from; not a key of the file.
    source: Path | None = Field(default=None, exclude=True)

    def resolved(self, base: Path) -> Config:
        """The same config with relative paths anchored at `base`."""

        def anchor(p: Path) -> Path:
            p = p.expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        paths = PathsConfig(
            export_dir=anchor(self.paths.export_dir),
            state_dir=anchor(self.paths.state_dir),
            eval_set=anchor(self.paths.eval_set),
        )
        return self.model_copy(update={"paths": paths})


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        section, _, key = loc.rpartition(".")
        where = f"[{section}]" if section else "the top level"
        return f"unknown key '{key}' in {where}; check the spelling or remove it"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    # A token pasted into token_env by mistake must not be echoed back to the terminal.
    if "input" in error and kind not in ("missing",) and loc != "labelstudio.token_env":
        return f"'{loc}' {message} (got {error['input']!r})"
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
    return parse_config(data, base=path.resolve().parent, source=path)


def default_config_toml() -> str:
    """A complete config with every key at its default, for `retrain-gate init`."""
    data = Config().model_dump(mode="json", exclude_none=True)
    header = (
        "# retrain-gate configuration. Every key is shown at its default; see docs/gates.md.\n"
        "# Relative paths are relative to this file's folder.\n\n"
    )
    return header + tomli_w.dumps(data)


def write_default_config(path: Path) -> None:
    if path.exists():
        raise ConfigError(f"{path}: already exists; not overwriting it (remove it first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:
        handle.write(default_config_toml())
