"""Reading one Label Studio JSON export into frame rows (§1-§3 of the gate semantics).

Only the frame table needs polars, imported there: everything up to the per-task columns
runs before `check` has imported polars (readahead.py) and in forked children (parallel.py).

Decoding is typed (msgspec): only the fields the semantics read are turned into Python
objects, and region `value`s stay raw bytes until a geometric comparison needs them.
Anything that is not a usable JSON export is refused with a message that names the file
and says what to export instead; refusal never touches the store.
"""

from __future__ import annotations

import functools
import gc
import mmap
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from retrain_gate.errors import ExportRefused

if TYPE_CHECKING:
    import polars as pl

    from retrain_gate.config import Config

# ---------------------------------------------------------------- typed shapes


_NULL = msgspec.Raw(b"null")


class Region(msgspec.Struct, frozen=True):
    """What the origin rule reads of a result region; values are skipped, not decoded."""

    id: Any = None
    type: Any = None
    origin: Any = None


class FullRegion(msgspec.Struct, frozen=True):
    """A region for the geometric comparison, decoded only when that comparison runs."""

    id: Any = None
    type: Any = None
    from_name: Any = None
    to_name: Any = None
    value: Any = None


class Prediction(msgspec.Struct, frozen=True):
    id: Any = None
    model_version: Any = None
    created_at: Any = None
    # Raw: most predictions are never a frame's source, so their results are never decoded.
    result: msgspec.Raw = _NULL


class Annotation(msgspec.Struct, frozen=True):
    id: Any = None
    was_cancelled: bool | None = False
    ground_truth: bool | None = False
    created_at: str | None = None
    updated_at: str | None = None
    result: msgspec.Raw = _NULL
    parent_prediction: int | None = None
    # Inline copy of the source prediction: a full object in snapshots, `{}` in Community exports.
    prediction: Prediction | None = None


_REGIONS = msgspec.json.Decoder(list[Region] | None)
_FULL_REGIONS = msgspec.json.Decoder(list[FullRegion] | None)


def _known(result: msgspec.Raw) -> bool:
    head = bytes(memoryview(result)[:4])
    return bool(head) and head != b"null"


PredictionRef = int | Prediction


@functools.cache
def _task_decoders(
    field: str, frames_field: str | None
) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]:
    task_type = _task_type(field, frames_field)
    return msgspec.json.Decoder(task_type), msgspec.json.Decoder(list[task_type])  # type: ignore[valid-type]


def task_decoder(config: Config, *, many: bool) -> msgspec.json.Decoder[Any]:
    """A decoder of one Task (or of a list of them) with the config's `data` keys."""
    one, listed = _task_decoders(config.episodes.field, config.episodes.frames_field)
    return listed if many else one


@functools.cache  # one Task type per config, shared by decode_tasks and the decoders above
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


def refuse_by_name(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in _TABULAR:
        return f"this is a {_TABULAR[suffix]} export: it has no predictions; {EXPORT_AS_JSON}"
    if suffix in _OTHER_FORMATS:
        return f"this is {_OTHER_FORMATS[suffix]}, not a Label Studio JSON export; {EXPORT_AS_JSON}"
    return None


def _describe_value(raw: bytes | bytearray) -> str:
    """Why a JSON document that decoded is still not a list of Label Studio tasks ("" when
    there is nothing to add to the decoder's own message)."""
    try:
        return _describe_shape(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return ""  # what failed the typed decode fails the untyped one too: that message says it


def _describe_shape(raw: bytes | bytearray) -> str:
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


R = TypeVar("R", Region, FullRegion)

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


def decode_tasks(raw: bytes | bytearray, path: Path, config: Config) -> list[Any]:
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


def _explain_decode_error(raw: bytes | bytearray, message: str) -> str:
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
    at = re.search(r"\(byte (\d+)\)", message)
    if at and raw[int(at.group(1)) :].lstrip(b"-").startswith((b"NaN", b"Infinity")):
        return f"not valid JSON ({message}): NaN and Infinity are not JSON numbers; re-export"
    return f"not valid JSON ({message}); export again from Label Studio"


# ---------------------------------------------------------------- §1-§3 per frame


def _shape(value: Any, numbers: list[float]) -> Any:
    """The value with every number blanked (dict keys sorted); the numbers go to `numbers`
    in reading order. One pass, since this runs for every region without an `origin`."""
    kind = type(value)
    if kind is float or kind is int:  # exact types: a bool is not a number here
        numbers.append(float(value))
        return "#"
    if kind is dict:
        return tuple([(key, _shape(value[key], numbers)) for key in sorted(value)])
    if kind is list:
        return tuple([_shape(item, numbers) for item in value])
    return value


def _hashable(value: Any) -> Any:
    return _shape(value, []) if isinstance(value, (dict, list)) else value


def _region_groups(regions: Iterable[FullRegion]) -> dict[Any, list[list[float]]]:
    groups: dict[Any, list[list[float]]] = {}
    for region in regions:
        numbers: list[float] = []
        key = (
            _hashable(region.from_name),
            _hashable(region.to_name),
            _hashable(region.type),
            _shape(region.value, numbers),
        )
        groups.setdefault(key, []).append(numbers)
    return groups


def geometrically_changed(
    annotation: Iterable[FullRegion], source: Iterable[FullRegion], tolerance: float
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


def _live(regions: list[R] | None) -> list[R]:
    return [r for r in regions or () if r.type != "relation"]


def _stamp_of(annotation: Annotation) -> str:
    return annotation.updated_at or annotation.created_at or ""


def _choice_key(a: Annotation) -> tuple[bool, str, int]:
    return (bool(a.ground_truth), _stamp_of(a), a.id if isinstance(a.id, int) else -1)


def choose_annotation(annotations: list[Annotation]) -> Annotation | None:
    """Ground truth first, then the latest, then the highest id; cancelled ones never."""
    if len(annotations) == 1:  # most frames: one reviewer
        only = annotations[0]
        return None if only.was_cancelled else only
    live = [a for a in annotations if not a.was_cancelled]
    if not live:
        return None
    return max(live, key=_choice_key)


@dataclass(frozen=True, slots=True)
class Source:
    result: msgspec.Raw | None  # None: unknown content
    model_version: Any
    created_at: Any


def _prediction_key(p: Prediction) -> tuple[str, int]:
    created = p.created_at if isinstance(p.created_at, str) else ""
    return (created, p.id if isinstance(p.id, int) else -1)


def find_source(annotation: Annotation | None, predictions: list[PredictionRef]) -> Source | None:
    parent = annotation.parent_prediction if annotation is not None else None
    if parent is not None:
        for p in predictions:
            if type(p) is Prediction and p.id == parent:
                return Source(p.result, p.model_version, p.created_at)
    inline = annotation.prediction if annotation is not None else None
    if (
        inline is not None
        and _known(inline.result)
        and (inline.id is None or parent is None or inline.id == parent)
    ):
        return Source(inline.result, inline.model_version, inline.created_at)
    if parent is not None:
        return Source(None, None, None)
    objects = [p for p in predictions if type(p) is Prediction]
    if objects:
        latest = max(objects, key=_prediction_key)
        return Source(latest.result, latest.model_version, latest.created_at)
    return None


_CHANGED_ORIGINS = frozenset({"prediction-changed", "manual"})


def _ids(regions: list[Region]) -> set[Any]:
    try:
        return {r.id for r in regions}
    except TypeError:  # an id that is a list or an object: compare by structure
        return {_hashable(r.id) for r in regions}


def _origins(regions: list[Region]) -> set[Any] | None:
    """The regions' origins (None when no region has one); None-valued origins left out.
    Stops at the first changed origin: that alone decides (returned as {"manual"})."""
    origins: set[Any] = set()
    for r in regions:
        origin = r.origin
        if origin is None:
            continue
        if type(origin) is not str:  # a list or an object: compare by structure
            origin = _hashable(origin)
        elif origin in _CHANGED_ORIGINS:
            return {origin}
        origins.add(origin)
    return origins or None


def correction(chosen: Annotation, source: Source, tolerance: float) -> bool | None:
    """True corrected, False accepted, None when it cannot be told."""
    regions = _live(_REGIONS.decode(chosen.result))
    origins = _origins(regions)
    if origins is not None:
        if not origins.isdisjoint(_CHANGED_ORIGINS):
            return True
        if source.result is not None:
            theirs = _live(_REGIONS.decode(source.result))
            return not _ids(theirs) <= _ids(regions)
        return False
    if source.result is not None:
        return geometrically_changed(
            _live(_FULL_REGIONS.decode(chosen.result)),
            _live(_FULL_REGIONS.decode(source.result)),
            tolerance,
        )
    return None


class TaskProblem(Exception):
    """One task of the file is malformed; the whole file is refused, naming the task."""

    def __init__(self, index: int, task_id: Any, detail: str) -> None:
        super().__init__(f"task #{index + 1} in the file (id {task_id}): {detail}")


_LIST_OR_NULL = frozenset(b"[n")  # a decoded JSON value starting with "n" is null


def _check_results(annotations: list[Annotation]) -> None:
    for number, annotation in enumerate(annotations):
        if memoryview(annotation.result)[0] not in _LIST_OR_NULL:
            raise ValueError(f"annotations[{number}].result must be a list of regions")


# Per-frame verdicts, columns of the frame table in this order.
_ROW_COLUMNS = (
    "stamp",
    "status",
    "has_source",
    "corrected",
    "correction_unknown",
    "release",
    "release_created_at",
)


def frame_verdict(task: Any, tolerance: float) -> tuple[Any, ...]:
    """§1 stamp and §3 status, source and correction of one task (see _ROW_COLUMNS)."""
    annotations: list[Annotation] = task.annotations or task.completions or []
    predictions: list[PredictionRef] = task.predictions or []
    _check_results(annotations)
    stamp = task.updated_at or ""
    for annotation in annotations:
        other = annotation.updated_at or annotation.created_at or ""
        if other > stamp:
            stamp = other
    chosen = choose_annotation(annotations) if annotations else None
    status = "reviewed" if chosen is not None else ("skipped" if annotations else "open")
    source = find_source(chosen, predictions)
    if source is None:
        return (stamp, status, False, False, False, None, None)
    corrected = unknown = False
    if chosen is not None:
        verdict = correction(chosen, source, tolerance)
        corrected, unknown = verdict is True, verdict is None
    release = source.model_version
    created = source.created_at
    return (
        stamp,
        status,
        chosen is not None,
        corrected,
        unknown,
        release if isinstance(release, str) and release else None,
        created if isinstance(created, str) else None,
    )


def _decoded_paths(values: list[Any]) -> list[str | None]:
    # unquote only where there is something to decode: most paths have no '%'
    return [
        (urllib.parse.unquote(v) if "%" in v else v) if isinstance(v, str) else None for v in values
    ]


def _map_episodes(paths: pl.Series, pattern: str) -> tuple[pl.Series, pl.Series]:
    """§2: task_subdir and episode of each path (null when unmapped)."""
    import polars as pl

    try:
        groups = paths.str.extract_groups(pattern)
        return groups.struct.field("task_subdir"), groups.struct.field("episode")
    except pl.exceptions.ComputeError:
        pass  # a Python-only regex feature (look-around, back-reference): use `re`
    compiled = re.compile(pattern)
    subdirs: list[Any] = []
    episodes: list[Any] = []
    for path in paths.to_list():
        match = compiled.search(path) if path is not None else None
        subdirs.append(match.group("task_subdir") if match else None)
        episodes.append(match.group("episode") if match else None)
    return pl.Series(subdirs, dtype=pl.String), pl.Series(episodes, dtype=pl.String)


def _positive_ints(values: list[Any]) -> list[int | None]:
    return [
        v if type(v) is int and v > 0 else None  # bool is not a frame count
        for v in values
    ]


@dataclass(frozen=True)
class ParsedExport:
    path: Path
    frames: pl.DataFrame  # FRAME_SCHEMA
    tasks: int  # tasks in the file, duplicates included
    duplicate_ids: int  # tasks whose (project, id) repeated inside the file


Progress = Callable[[int, int], None]


def task_columns(
    tasks: list[Any], config: Config, progress: Progress | None = None
) -> dict[str, list[Any]]:
    """The per-task columns Python computes: §1 stamp and §3 verdicts (_ROW_COLUMNS), the
    URL-decoded path, the raw frame count, project and id. Plain Python, no polars: it also
    runs in a forked child (parallel.py), where polars' thread pool does not exist."""
    tolerance = config.corrections.tolerance
    verdicts: list[tuple[Any, ...]] = []
    step = max(1, len(tasks) // 50)
    for index, task in enumerate(tasks):
        try:
            verdicts.append(frame_verdict(task, tolerance))
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError, OverflowError) as exc:
            # OverflowError: an integer too large for a float in a value compared by position
            raise TaskProblem(index, task.id, str(exc)) from None
        if progress is not None and index % step == 0:
            progress(index, len(tasks))
    transposed = zip(*verdicts, strict=True)
    columns: dict[str, list[Any]] = dict(zip(_ROW_COLUMNS, map(list, transposed), strict=True))
    raw_paths = [t.data.path for t in tasks]
    columns["path"] = _decoded_paths(raw_paths)
    frames_field = config.episodes.frames_field
    if frames_field is None:
        columns["raw_frames"] = [None] * len(tasks)
    elif frames_field == config.episodes.field:
        columns["raw_frames"] = raw_paths
    else:
        columns["raw_frames"] = [t.data.frames for t in tasks]
    columns["project"] = [t.project for t in tasks]
    columns["task_id"] = [t.id for t in tasks]
    return columns


_scan: ModuleType | None
try:  # compiled where a C compiler was there at install (pyproject.toml: ext-modules)
    from retrain_gate import _scan
except ImportError:  # pragma: no cover - the msgspec path reads every export then
    _scan = None

_SCAN_COLUMNS = (*_ROW_COLUMNS, "path", "raw_frames", "project", "task_id")


def scanned_columns(
    raw: bytes | bytearray | memoryview | mmap.mmap,
    config: Config,
    progress: Progress | None = None,
) -> tuple[dict[str, list[Any]], int] | None:
    """`task_columns` of the tasks in `raw` and their number, by the compiled scanner; None
    when the ordinary path must decide (no scanner, not a plain list of tasks, a task it
    refuses). The scanner reads the common case itself, paths URL-decoded, and lists the
    tasks it leaves to `frame_verdict` (unusual types, escaped strings)."""
    if _scan is None or (isinstance(raw, memoryview) and not raw.c_contiguous):
        return None
    if progress is not None:
        progress(0, 0)  # one pass of unknown length; the stage shows without a share
    episodes = config.episodes
    scanned = _scan.scan(raw, episodes.field, episodes.frames_field, config.corrections.tolerance)
    if scanned is None:
        return None
    *lists, fallbacks = scanned
    columns: dict[str, list[Any]] = dict(zip(_SCAN_COLUMNS, lists, strict=True))
    if fallbacks and not _fill_in(columns, raw, fallbacks, config):
        return None
    return columns, len(columns["task_id"])


def _fill_in(
    columns: dict[str, list[Any]],
    raw: bytes | bytearray | memoryview | mmap.mmap,
    fallbacks: list[tuple[int, int, int]],
    config: Config,
) -> bool:
    """The tasks the scanner left, read the ordinary way (`task_columns` of each alone);
    False when one is refused (the caller then reads the whole file the ordinary way, for the
    ordinary message)."""
    one = task_decoder(config, many=False)
    with memoryview(raw) as view:
        for index, start, end in fallbacks:
            try:
                alone = task_columns([one.decode(view[start:end])], config)
            except (msgspec.ValidationError, msgspec.DecodeError, TaskProblem, RecursionError):
                return False
            for name, values in alone.items():
                columns[name][index] = values[0]
    return True


def columns_of(
    view: memoryview, config: Config, progress: Progress | None = None
) -> tuple[dict[str, list[Any]], int]:
    """`task_columns` of a JSON list of tasks and their number: by the scanner where it can,
    else decoded by msgspec. Raises what decoding raises (msgspec errors, TaskProblem)."""
    scanned = scanned_columns(view, config, progress)
    if scanned is not None:
        return scanned
    tasks = task_decoder(config, many=True).decode(view)
    return task_columns(tasks, config, progress), len(tasks)


def frame_table(
    columns: dict[str, list[Any]], config: Config, *, arrival_mtime_ns: int, arrival_name: str
) -> pl.DataFrame:
    """The frame table (FRAME_SCHEMA) from `task_columns` of the file's tasks: in file order,
    or in stamp order when a task id repeats inside the file."""
    import polars as pl

    from retrain_gate.models import FRAME_KEY, FRAME_SCHEMA

    columns = dict(columns)
    raw_frames = columns.pop("raw_frames")
    if config.episodes.frames_field is None:
        columns["episode_frames"] = raw_frames
    else:
        columns["episode_frames"] = _positive_ints(raw_frames)
    schema = {name: dtype for name, dtype in FRAME_SCHEMA.items() if name in columns}
    frame = pl.DataFrame(columns, schema=schema)
    subdirs, episodes = _map_episodes(frame["path"], config.episodes.pattern)
    frame = frame.with_columns(
        subdirs.alias("task_subdir"),
        episodes.alias("episode"),
        pl.lit(arrival_mtime_ns, dtype=pl.Int64).alias("arrival_mtime_ns"),
        pl.lit(arrival_name, dtype=pl.String).alias("arrival_name"),
    )
    ids = frame["task_id"]
    if (
        ids.n_unique() < frame.height
        and frame.select(pl.struct(FRAME_KEY).is_duplicated().any()).item()
    ):
        # A task id repeated inside one file: the greatest stamp wins, then the later position.
        frame = (
            frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_position"))
            .sort(["stamp", "_position"])
            .unique(subset=FRAME_KEY, keep="last", maintain_order=True)
            .drop("_position")
        )
    return frame.select(list(FRAME_SCHEMA))


def frames_from_tasks(
    tasks: list[Any],
    config: Config,
    *,
    arrival_mtime_ns: int,
    arrival_name: str,
    progress: Progress | None = None,
) -> pl.DataFrame:
    return frame_table(
        task_columns(tasks, config, progress),
        config,
        arrival_mtime_ns=arrival_mtime_ns,
        arrival_name=arrival_name,
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off while one export is decoded and read.

    A 180 MB export allocates millions of objects that hold no reference cycles (structs,
    strings, lists); each allocation burst set off full collections over all of them, about
    a third of the parse's time. They are freed by reference counting when the parse ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parsed_from_columns(
    path: Path, columns: dict[str, list[Any]], tasks: int, config: Config, mtime_ns: int
) -> ParsedExport:
    """A ParsedExport from `task_columns` computed elsewhere (parallel.py)."""
    frames = frame_table(columns, config, arrival_mtime_ns=mtime_ns, arrival_name=path.name)
    return ParsedExport(path, frames, tasks, tasks - frames.height)


def read_export(
    path: Path,
    config: Config,
    *,
    raw: bytes | bytearray | None = None,
    mtime_ns: int | None = None,
    progress: Progress | None = None,
) -> ParsedExport:
    """Parse one export file into frame rows; raise `ExportRefused` when it is not usable."""
    by_name = refuse_by_name(path)
    if by_name:
        raise ExportRefused(path, by_name)
    if raw is None or mtime_ns is None:
        raw, mtime_ns = read_bytes(path, config)
    try:
        with collector_paused():
            scanned = scanned_columns(raw, config, progress)
            if scanned is not None:
                return parsed_from_columns(path, *scanned, config, mtime_ns)
            tasks = decode_tasks(raw, path, config)
            frames = frames_from_tasks(
                tasks, config, arrival_mtime_ns=mtime_ns, arrival_name=path.name, progress=progress
            )
    except RecursionError:
        raise ExportRefused(
            path, "the JSON is nested too deeply to be a Label Studio export; re-export it"
        ) from None
    except TaskProblem as exc:
        raise ExportRefused(path, f"not a usable Label Studio JSON export ({exc})") from None
    return ParsedExport(path, frames, len(tasks), len(tasks) - frames.height)


def read_bytes(path: Path, config: Config) -> tuple[bytearray, int]:
    """Read a file's bytes and mtime, refusing what is too big or unreadable.

    A bytearray: parallel.py decodes halves of it in place, without a copy."""
    with ExportSource(path, config) as source:
        return source.read_all(), source.mtime_ns


class ExportSource:
    """An export file opened for reading, its checks passed; its bytes read whole
    (`read_all`) or in parts into one buffer (`buffer`, `fill`) for parallel.py."""

    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self._buffer: mmap.mmap | None = None
        self._filled = 0
        try:
            stat = path.stat()
            if not S_ISREG(stat.st_mode):
                raise ExportRefused(
                    path, "not a regular file (a FIFO, socket or device); remove it"
                )
            limit = config.limits.max_export_mb * 1024 * 1024
            if stat.st_size > limit:
                raise ExportRefused(
                    path,
                    f"{stat.st_size / 2**20:,.0f} MB is over [limits] max_export_mb = "
                    f"{config.limits.max_export_mb:g}; raise the limit or export a filtered view",
                )
            self._handle = path.open("rb", buffering=0)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        self.size = stat.st_size
        self.mtime_ns = stat.st_mtime_ns

    def __enter__(self) -> ExportSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def read_all(self) -> bytearray:
        """The whole file as it is now (it may have grown or shrunk since the stat)."""
        try:
            self._handle.seek(0)
            raw = bytearray(self.size)
            got = self._handle.readinto(raw) or 0
            if got < len(raw):  # it shrank since the stat
                del raw[got:]
            else:  # or it grew
                raw += self._handle.read() or b""
        except OSError as exc:
            raise _unreadable(self.path, exc) from None
        return raw

    def buffer(self) -> mmap.mmap:
        """A buffer of the file's size that `fill` reads into. An anonymous private mapping:
        its pages cost nothing until read into (a bytearray is zeroed whole first), and a
        forked child's part lands in pages of its own."""
        if self._buffer is None:
            self._buffer = mmap.mmap(
                -1, max(self.size, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
            )
        return self._buffer

    def drop_buffer(self) -> None:
        self._buffer, self._filled = None, 0  # unmapped once nothing refers to it

    def fill(self, end: int) -> bool:
        """Make `buffer()[:end]` hold the file's bytes; False when the file is no longer the
        size it was (the caller then reads it the ordinary way). `end` = size also checks
        that nothing was appended."""
        view = memoryview(self.buffer())
        try:
            while self._filled < min(end, self.size):
                got = os.preadv(self._handle.fileno(), [view[self._filled : end]], self._filled)
                if got <= 0:
                    return False
                self._filled += got
            if end >= self.size and os.pread(self._handle.fileno(), 1, self.size):
                return False
        except OSError:
            return False
        finally:
            view.release()
        return True


def _unreadable(path: Path, exc: OSError) -> ExportRefused:
    if isinstance(exc, FileNotFoundError):
        return ExportRefused(path, "the file disappeared before it could be read")
    if isinstance(exc, IsADirectoryError):
        return ExportRefused(path, "this is a folder, not an export file")
    if isinstance(exc, PermissionError):
        return ExportRefused(path, "no permission to read this file; fix its permissions")
    return ExportRefused(path, f"cannot read the file ({exc.strerror})")
