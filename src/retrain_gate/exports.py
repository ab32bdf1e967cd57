"""Reading one Label Studio JSON export into frame rows (§1-§3 of the gate semantics).

Decoding is typed (msgspec): only the fields the semantics read are turned into Python
objects, and region `value`s stay raw bytes until a geometric comparison needs them.
Anything that is not a usable JSON export is refused with a message that names the file
and says what to export instead; refusal never touches the store.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

import msgspec
import polars as pl

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.models import FRAME_SCHEMA

# ---------------------------------------------------------------- typed shapes


class Region(msgspec.Struct, frozen=True):
    id: Any = None
    type: Any = None
    origin: Any = None
    from_name: Any = None
    to_name: Any = None
    value: msgspec.Raw = msgspec.Raw(b"null")


class Prediction(msgspec.Struct, frozen=True):
    id: Any = None
    model_version: Any = None
    created_at: Any = None
    result: list[Region] | None = None


class Annotation(msgspec.Struct, frozen=True):
    id: Any = None
    was_cancelled: bool | None = False
    ground_truth: bool | None = False
    created_at: str | None = None
    updated_at: str | None = None
    result: list[Region] | None = None
    parent_prediction: int | None = None
    # Inline copy of the source prediction: a full object in snapshots, `{}` in Community exports.
    prediction: Prediction | None = None


PredictionRef = int | Prediction


def _task_type(field: str, frames_field: str | None) -> type[msgspec.Struct]:
    """A Task struct that decodes only the two keys of `task.data` the config names."""
    data_fields: list[tuple[str, Any, Any]] = [("path", Any, None)]
    rename = {"path": field}
    if frames_field is not None and frames_field != field:
        data_fields.append(("frames", Any, None))
        rename["frames"] = frames_field
    data_type = msgspec.defstruct("TaskData", data_fields, rename=rename, frozen=True)
    return msgspec.defstruct(
        "Task",
        [
            ("id", int),
            ("data", data_type),
            ("project", int | None, None),
            ("updated_at", str | None, None),
            ("annotations", list[Annotation] | None, None),
            ("completions", list[Annotation] | None, None),  # legacy name of `annotations`
            ("predictions", list[PredictionRef] | None, None),
        ],
        frozen=True,
    )


# ---------------------------------------------------------------- refusal messages

_BOM = b"\xef\xbb\xbf"
_TABULAR = {".csv": "CSV", ".tsv": "TSV"}
_OTHER_FORMATS = {
    ".xml": "a Pascal VOC XML file",
    ".txt": "a text file (YOLO labels?)",
    ".yaml": "a YAML file",
    ".yml": "a YAML file",
    ".zip": "a zip archive (COCO/YOLO export?)",
    ".npy": "a NumPy file",
    ".png": "an image",
    ".jpg": "an image",
    ".jpeg": "an image",
    ".conll": "a CoNLL file",
    ".md": "a Markdown file",
}
EXPORT_AS_JSON = 'export the project as "JSON" in Label Studio instead'


def _refuse_by_name(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in _TABULAR:
        return f"this is a {_TABULAR[suffix]} export: it has no predictions; {EXPORT_AS_JSON}"
    if suffix in _OTHER_FORMATS:
        return f"this is {_OTHER_FORMATS[suffix]}, not a Label Studio JSON export; {EXPORT_AS_JSON}"
    return None


def _describe_value(raw: bytes) -> str:
    """Why a JSON document that decoded is still not a list of Label Studio tasks."""
    top: Any
    try:
        top = msgspec.json.decode(raw, type=list[msgspec.Raw] | dict[str, msgspec.Raw])
    except msgspec.ValidationError:
        top = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return "not valid JSON"
    if isinstance(top, dict):
        keys = set(top)
        if {"images", "annotations", "categories"} <= keys:
            return f"this is a COCO export: it has no predictions; {EXPORT_AS_JSON}"
        if "task" in keys and "result" in keys:
            return (
                "this is a Label Studio export-storage file (one annotation per file, without "
                f"the task's predictions); {EXPORT_AS_JSON}"
            )
        if {"id", "data"} <= keys:
            return ""
        if not keys:
            return f"the JSON object is empty, not a Label Studio task; {EXPORT_AS_JSON}"
        return f"a JSON object without Label Studio task keys ('id', 'data'); {EXPORT_AS_JSON}"
    if isinstance(top, list):
        if not top:
            return "the export holds no tasks (an empty list); nothing to ingest"
        first = msgspec.json.decode(top[0])
        if isinstance(first, dict):
            keys = set(first)
            task_keys = {"annotations", "completions", "data"}
            if not keys & task_keys and keys & {"annotator", "annotation_id", "lead_time"}:
                return f"this is a JSON_MIN export: it has no predictions; {EXPORT_AS_JSON}"
            return ""
        return f"a list of {type(first).__name__} values, not of Label Studio tasks"
    return f"a JSON {type(top).__name__}, not a list of Label Studio tasks; {EXPORT_AS_JSON}"


_PATH_INDEX = re.compile(r"^\$\[(\d+)\]")


def _explain_validation(message: str) -> str:
    """msgspec says `Expected `int`, got `str` - at `$[3].id``; say it in task terms."""
    text, _, where = message.partition(" - at ")
    where = where.strip("`")
    match = _PATH_INDEX.match(where)
    if match:
        index = int(match.group(1))
        rest = where[match.end() :].lstrip(".")
        where = f"task #{index + 1} in the file" + (f", {rest}" if rest else "")
    text = text.replace("Object missing required field", "missing the required key")
    return f"{where}: {text}" if where else text


def decode_tasks(raw: bytes, path: Path, config: Config) -> list[Any]:
    """Decode export bytes into Task structs, or raise ExportRefused saying why."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw.strip():
        raise ExportRefused(path, "the file is empty; wait for the export to finish or re-export")
    task_type = _task_type(config.episodes.field, config.episodes.frames_field)
    try:
        decoded = msgspec.json.decode(raw, type=list[task_type] | task_type)  # type: ignore[valid-type]
    except msgspec.ValidationError as exc:
        shape = _describe_value(raw)
        if shape:
            raise ExportRefused(path, shape) from None
        raise ExportRefused(
            path, f"not a usable Label Studio JSON export ({_explain_validation(str(exc))})"
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ExportRefused(path, _explain_decode_error(raw, str(exc))) from None
    tasks = decoded if isinstance(decoded, list) else [decoded]
    if not tasks:
        raise ExportRefused(path, "the export holds no tasks (an empty list); nothing to ingest")
    return tasks


def _explain_decode_error(raw: bytes, message: str) -> str:
    if "truncated" in message.lower():
        return (
            "the JSON ends early (truncated): the export may still be downloading or was "
            "cut off; let it finish or export again"
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"not UTF-8 text (bad byte at offset {exc.start}); Label Studio writes UTF-8 JSON, "
            "so this file is damaged or not an export"
        )
    head = raw.lstrip()[:1]
    if head not in (b"[", b"{"):
        first_line = raw.splitlines()[0] if raw else b""
        if b"\t" in first_line:
            return f"this looks like a TSV export: it has no predictions; {EXPORT_AS_JSON}"
        if b"," in first_line:
            return f"this looks like a CSV export: it has no predictions; {EXPORT_AS_JSON}"
        return f"not JSON ({message}); {EXPORT_AS_JSON}"
    if "NaN" in message or "Infinity" in message:
        return f"not valid JSON ({message}): NaN/Infinity are not JSON numbers"
    return f"not valid JSON ({message}); export again from Label Studio"


# ---------------------------------------------------------------- §1-§3 per frame


def _number_free(value: Any) -> Any:
    """The value's structure with every number blanked (dict keys sorted)."""
    if isinstance(value, dict):
        return tuple((key, _number_free(value[key])) for key in sorted(value))
    if isinstance(value, list):
        return tuple(_number_free(item) for item in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "#"
    return value


def _numbers(value: Any, out: list[float]) -> list[float]:
    if isinstance(value, dict):
        for key in sorted(value):
            _numbers(value[key], out)
    elif isinstance(value, list):
        for item in value:
            _numbers(item, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(float(value))
    return out


def _region_groups(regions: Iterable[Region]) -> dict[Any, list[list[float]]]:
    groups: dict[Any, list[list[float]]] = {}
    for region in regions:
        value = msgspec.json.decode(region.value)
        key = (
            _hashable(region.from_name),
            _hashable(region.to_name),
            _hashable(region.type),
            _number_free(value),
        )
        groups.setdefault(key, []).append(_numbers(value, []))
    return groups


def _hashable(value: Any) -> Any:
    return _number_free(value) if isinstance(value, (dict, list)) else value


def geometrically_changed(
    annotation: Iterable[Region], source: Iterable[Region], tolerance: float
) -> bool:
    """§3 comparison for results without `origin`: keys, counts, then paired numbers."""
    mine, theirs = _region_groups(annotation), _region_groups(source)
    if mine.keys() != theirs.keys():
        return True
    for key, regions in mine.items():
        others = theirs[key]
        if len(regions) != len(others):
            return True
        for a, b in zip(sorted(regions), sorted(others), strict=True):
            if len(a) != len(b) or any(abs(x - y) > tolerance for x, y in zip(a, b, strict=True)):
                return True
    return False


def _live(regions: list[Region] | None) -> list[Region]:
    return [r for r in regions or () if r.type != "relation"]


def _stamp_of(annotation: Annotation) -> str:
    return annotation.updated_at or annotation.created_at or ""


def choose_annotation(annotations: list[Annotation]) -> Annotation | None:
    """Ground truth first, then the latest, then the highest id; cancelled ones never."""
    live = [a for a in annotations if not a.was_cancelled]
    if not live:
        return None
    return max(
        live,
        key=lambda a: (bool(a.ground_truth), _stamp_of(a), a.id if isinstance(a.id, int) else -1),
    )


@dataclass(frozen=True, slots=True)
class Source:
    result: list[Region] | None  # None: unknown content
    model_version: Any
    created_at: Any


def _prediction_key(p: Prediction) -> tuple[str, int]:
    created = p.created_at if isinstance(p.created_at, str) else ""
    return (created, p.id if isinstance(p.id, int) else -1)


def find_source(annotation: Annotation | None, predictions: list[PredictionRef]) -> Source | None:
    objects = [p for p in predictions if isinstance(p, Prediction)]
    parent = annotation.parent_prediction if annotation is not None else None
    if parent is not None:
        for p in objects:
            if p.id == parent:
                return Source(p.result, p.model_version, p.created_at)
    inline = annotation.prediction if annotation is not None else None
    if (
        inline is not None
        and inline.result is not None
        and (inline.id is None or parent is None or inline.id == parent)
    ):
        return Source(inline.result, inline.model_version, inline.created_at)
    if parent is not None:
        return Source(None, None, None)
    if objects:
        latest = max(objects, key=_prediction_key)
        return Source(latest.result, latest.model_version, latest.created_at)
    return None


_CHANGED_ORIGINS = frozenset({"prediction-changed", "manual"})


def correction(chosen: Annotation, source: Source, tolerance: float) -> bool | None:
    """True corrected, False accepted, None when it cannot be told."""
    regions = _live(chosen.result)
    if any(r.origin is not None for r in regions):
        if any(r.origin in _CHANGED_ORIGINS for r in regions):
            return True
        if source.result is not None:
            kept = {_hashable(r.id) for r in regions}
            return any(_hashable(r.id) not in kept for r in _live(source.result))
        return False
    if source.result is not None:
        return geometrically_changed(regions, _live(source.result), tolerance)
    return None


@dataclass(frozen=True, slots=True)
class Mapper:
    pattern: re.Pattern[str]

    def map(self, raw_path: Any) -> tuple[str | None, str | None, str | None]:
        if not isinstance(raw_path, str):
            return None, None, None
        path = urllib.parse.unquote(raw_path)
        match = self.pattern.search(path)
        if match is None:
            return path, None, None
        return path, match.group("task_subdir"), match.group("episode")


def frame_row(task: Any, mapper: Mapper, tolerance: float, frames_field: bool) -> dict[str, Any]:
    annotations: list[Annotation] = task.annotations or task.completions or []
    predictions: list[PredictionRef] = task.predictions or []
    stamps = [task.updated_at or ""] + [_stamp_of(a) for a in annotations]
    chosen = choose_annotation(annotations)
    if chosen is not None:
        status = "reviewed"
    elif annotations:
        status = "skipped"
    else:
        status = "open"
    source = find_source(chosen, predictions)
    corrected = unknown = False
    if chosen is not None and source is not None:
        verdict = correction(chosen, source, tolerance)
        corrected, unknown = verdict is True, verdict is None
    release = source.model_version if source is not None else None
    created = source.created_at if source is not None else None
    path, task_subdir, episode = mapper.map(task.data.path)
    episode_frames = None
    if frames_field:
        value = task.data.frames if hasattr(task.data, "frames") else task.data.path
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            episode_frames = value
    return {
        "project": task.project,
        "task_id": task.id,
        "stamp": max(stamps),
        "path": path,
        "task_subdir": task_subdir,
        "episode": episode,
        "episode_frames": episode_frames,
        "status": status,
        "has_source": chosen is not None and source is not None,
        "corrected": corrected,
        "correction_unknown": unknown,
        "release": release if isinstance(release, str) and release else None,
        "release_created_at": created if isinstance(created, str) else None,
    }


@dataclass(frozen=True)
class ParsedExport:
    path: Path
    frames: pl.DataFrame  # FRAME_SCHEMA
    tasks: int  # tasks in the file, duplicates included
    duplicate_ids: int  # tasks whose (project, id) repeated inside the file


Progress = Callable[[int, int], None]


def frames_from_tasks(
    tasks: list[Any],
    config: Config,
    *,
    arrival_mtime_ns: int,
    arrival_name: str,
    progress: Progress | None = None,
) -> pl.DataFrame:
    mapper = Mapper(re.compile(config.episodes.pattern))
    tolerance = config.corrections.tolerance
    frames_field = config.episodes.frames_field is not None
    rows = []
    step = max(1, len(tasks) // 50)
    for index, task in enumerate(tasks):
        rows.append(frame_row(task, mapper, tolerance, frames_field))
        if progress is not None and index % step == 0:
            progress(index, len(tasks))
    frame = pl.DataFrame(rows, schema={k: v for k, v in FRAME_SCHEMA.items() if k in rows[0]})
    frame = frame.with_columns(
        pl.lit(arrival_mtime_ns, dtype=pl.Int64).alias("arrival_mtime_ns"),
        pl.lit(arrival_name, dtype=pl.String).alias("arrival_name"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_position"),
    )
    # A task id repeated inside one file: the greatest stamp wins, then the later position.
    frame = (
        frame.sort(["stamp", "_position"])
        .unique(subset=["project", "task_id"], keep="last", maintain_order=True)
        .drop("_position")
    )
    return frame.select(list(FRAME_SCHEMA))


def read_export(
    path: Path,
    config: Config,
    *,
    raw: bytes | None = None,
    mtime_ns: int | None = None,
    progress: Progress | None = None,
) -> ParsedExport:
    """Parse one export file into frame rows; raise `ExportRefused` when it is not usable."""
    by_name = _refuse_by_name(path)
    if by_name:
        raise ExportRefused(path, by_name)
    if raw is None or mtime_ns is None:
        raw, mtime_ns = read_bytes(path, config)
    try:
        tasks = decode_tasks(raw, path, config)
        frames = frames_from_tasks(
            tasks, config, arrival_mtime_ns=mtime_ns, arrival_name=path.name, progress=progress
        )
    except RecursionError:
        raise ExportRefused(
            path, "the JSON is nested too deeply to be a Label Studio export; re-export it"
        ) from None
    return ParsedExport(path, frames, len(tasks), len(tasks) - frames.height)


def read_bytes(path: Path, config: Config) -> tuple[bytes, int]:
    """Read a file's bytes and mtime, refusing what is too big or unreadable."""
    try:
        stat = path.stat()
        if not S_ISREG(stat.st_mode):
            raise ExportRefused(path, "not a regular file (a FIFO, socket or device); remove it")
        limit = config.limits.max_export_mb * 1024 * 1024
        if stat.st_size > limit:
            raise ExportRefused(
                path,
                f"{stat.st_size / 2**20:,.0f} MB is over [limits] max_export_mb = "
                f"{config.limits.max_export_mb:g}; raise the limit or export a filtered view",
            )
        with path.open("rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ExportRefused(path, "the file disappeared before it could be read") from None
    except IsADirectoryError:
        raise ExportRefused(path, "this is a folder, not an export file") from None
    except PermissionError:
        raise ExportRefused(path, "no permission to read this file; fix its permissions") from None
    except OSError as exc:
        raise ExportRefused(path, f"cannot read the file ({exc.strerror})") from None
    return raw, stat.st_mtime_ns
