"""The shapes of Label Studio JSON that the semantics read, and why a file is refused.

Decoding is typed (msgspec): only the fields the semantics read become Python objects, and
region lists stay raw bytes until a rule needs them. The structs hold no reference cycles, so
they are not tracked by the cycle collector (`gc=False`): a large export allocates millions of
them, and tracking them made the collector walk every one, over and over, during the read.
"""

from __future__ import annotations

import functools
import mmap
import re
from pathlib import Path
from typing import Any

import msgspec

_NULL = msgspec.Raw(b"null")

# the bytes of a file, in memory
Bytes = bytes | bytearray | memoryview | mmap.mmap


class Region(msgspec.Struct, frozen=True, gc=False):
    """What the origin rule reads of a result region; values are skipped, not decoded."""

    id: Any = None
    type: Any = None
    origin: Any = None


class FullRegion(msgspec.Struct, frozen=True, gc=False):
    """A region for the geometric comparison, decoded only when that comparison runs."""

    id: Any = None
    type: Any = None
    from_name: Any = None
    to_name: Any = None
    value: Any = None


class Prediction(msgspec.Struct, frozen=True, gc=False):
    id: Any = None
    model_version: Any = None
    created_at: Any = None
    # Raw: most predictions are never a frame's source, so their results are never decoded.
    result: msgspec.Raw = _NULL


class Annotation(msgspec.Struct, frozen=True, gc=False):
    id: Any = None
    was_cancelled: bool | None = False
    ground_truth: bool | None = False
    created_at: str | None = None
    updated_at: str | None = None
    result: msgspec.Raw = _NULL
    parent_prediction: int | None = None
    # Inline copy of the source prediction: a full object in snapshots, `{}` in Community exports.
    prediction: Prediction | None = None


PredictionRef = int | Prediction

REGIONS = msgspec.json.Decoder(list[Region] | None)
FULL_REGIONS = msgspec.json.Decoder(list[FullRegion] | None)


def is_known(result: msgspec.Raw) -> bool:
    """Whether a raw result holds something (not absent, not null)."""
    # a Raw spans exactly its value: null is these 4 bytes
    return result is not _NULL and (len(result) != 4 or bytes(result) != b"null")


@functools.cache  # one Task type per pair of keys: a config's settings rarely change
def task_type(field: str, frames_field: str | None) -> type[msgspec.Struct]:
    """A Task struct that decodes only the keys of `task.data` the config names."""
    data_fields: list[tuple[str, Any, Any]] = [("path", Any, None)]
    rename = {"path": field}
    if frames_field is not None and frames_field != field:
        data_fields.append(("frames", Any, None))
        rename["frames"] = frames_field
    data_type = msgspec.defstruct("TaskData", data_fields, rename=rename, frozen=True, gc=False)
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
        gc=False,
    )


@functools.cache
def task_decoder(field: str, frames_field: str | None) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(task_type(field, frames_field))


_TASK_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_ONE_TASK = msgspec.json.Decoder(msgspec.Raw)

# ---------------------------------------------------------------- refusals

BOM = b"\xef\xbb\xbf"
EXPORT_AS_JSON = 'export the project as "JSON" in Label Studio instead'
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


class Refused(Exception):
    """This file is not a usable Label Studio JSON export; `reason` says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refuse_by_name(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in _TABULAR:
        return f"this is a {_TABULAR[suffix]} export: it has no predictions; {EXPORT_AS_JSON}"
    if suffix in _OTHER_FORMATS:
        return f"this is {_OTHER_FORMATS[suffix]}, not a Label Studio JSON export; {EXPORT_AS_JSON}"
    return None


def split_tasks(raw: Bytes) -> list[msgspec.Raw]:
    """The bytes of each task of an export (a JSON list of tasks, or one task object),
    validated as JSON but not yet decoded; raise `Refused` saying why when it is not that."""
    view = memoryview(raw)
    if bytes(view[:3]) == BOM:
        view = view[3:]
    head = bytes(view[:64]).lstrip()[:1]
    if not head and not bytes(view).strip():
        raise Refused("the file is empty; wait for the export to finish or re-export")
    try:
        # one task is validated as JSON without making Python objects of it: one task of a GB
        # (a storage file) would otherwise cost many times that before its fields are read
        tasks = [_ONE_TASK.decode(view)] if head == b"{" else _TASK_LIST.decode(view)
    except msgspec.ValidationError as exc:
        shape = _describe_value(view)
        if shape:
            raise Refused(shape) from None
        try:
            msgspec.json.decode(view)
        except (msgspec.DecodeError, UnicodeDecodeError) as bad:
            raise Refused(explain_decode_error(bytes(view), str(bad))) from None
        raise Refused(f"not a list of Label Studio tasks ({exc}); {EXPORT_AS_JSON}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise Refused(explain_decode_error(bytes(view), str(exc))) from None
    if not tasks:
        raise Refused("the export holds no tasks (an empty list); nothing to ingest")
    return tasks


def task_refusal(
    whole: Bytes | None,
    task: msgspec.Raw,
    index: int,
    exc: Exception,
) -> Refused:
    """Why task number `index` did not decode as a Label Studio task: the file's shape when it
    is another format (JSON_MIN, COCO, a storage file; asked of `whole`, the file's bytes,
    when given), else the task and the decoder's words."""
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):  # bad text inside a string
        return Refused(explain_decode_error(bytes(whole if whole is not None else task), message))
    shape = _describe_value(whole) if whole is not None else ""
    if shape:
        return Refused(shape)
    text, _, where = message.partition(" - at ")
    where = where.strip("`").removeprefix("$").lstrip(".")
    text = text.replace("Object missing required field", "missing the required key")
    place = f"task #{index + 1} in the file" + (f", {where}" if where else "")
    return Refused(f"not a usable Label Studio JSON export ({place}: {text})")


def _describe_value(raw: Bytes) -> str:
    """Why a JSON document that decoded is still not a list of Label Studio tasks ("" when
    there is nothing to add to the decoder's own message)."""
    try:
        return _describe_shape(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return ""


def _describe_shape(raw: Bytes) -> str:
    if bytes(memoryview(raw)[:3]) == BOM:
        raw = memoryview(raw)[3:]
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


def explain_decode_error(raw: bytes, message: str) -> str:
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
