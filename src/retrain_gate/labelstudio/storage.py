"""Label Studio's target-storage files (docs/semantics.md §1).

Label Studio's "export storage" (local files, S3, GCS, Azure) writes a file on every annotation
save. By default one file per annotation, named by the annotation id with no extension, holding
the annotation with its task nested under `task` and no predictions; with the task-format
setting, one file per task (`<task id>.json`, or `<task id>` without the extension), holding one
task as in an export.

A task-format file is an export of one task (export.py). Per-annotation files are grouped by
frame: the frame's task fields come from the nested task of its newest file, its annotations are
every annotation file of that frame present now (one per annotation id, the newest kept).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from retrain_gate.labelstudio.export import ParsedExport, parsed
from retrain_gate.labelstudio.format import Annotation, Prediction, task_type
from retrain_gate.labelstudio.frames import TaskColumns, TaskProblem

if TYPE_CHECKING:
    from retrain_gate.config import Config

Kind = Literal["annotation", "task", "other"]

_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])


def is_storage_name(path: PurePath | str) -> bool:
    """Whether a file is read as a target-storage file: a name without an extension (the id
    Label Studio names it by). Exports, and task-format files saved as `<task id>.json`, have
    one and are read as exports."""
    return not PurePath(path).suffix


def classify(raw: bytes | bytearray) -> Kind:
    """Which storage shape a file without an extension holds: one annotation with its task
    nested, one task, or neither (a list is an export, not a storage file)."""
    if raw[:1024].lstrip()[:1] != b"{":
        return "other"
    try:
        keys = set(_TOP.decode(raw))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return "other"
    if {"task", "result"} <= keys:
        return "annotation"
    if {"id", "data"} <= keys:
        return "task"
    return "other"


@functools.cache
def _file_decoder(field: str, frames_field: str | None) -> msgspec.json.Decoder[Any]:
    task = task_type(field, frames_field)
    annotation_file = msgspec.defstruct(
        "AnnotationFile",
        [
            ("id", int),
            ("task", task),
            ("result", msgspec.Raw),  # required: without it the file is not an annotation
            ("was_cancelled", bool | None, False),
            ("ground_truth", bool | None, False),
            ("created_at", str | None, None),
            ("updated_at", str | None, None),
            ("parent_prediction", int | None, None),
            ("prediction", Prediction | None, None),
        ],
        frozen=True,
        gc=False,
    )
    return msgspec.json.Decoder(annotation_file)


@dataclass(frozen=True)
class AnnotationFile:
    """One decoded per-annotation file: its annotation, its nested task and its arrival."""

    path: Path
    annotation: Annotation
    task: Any  # format.task_type: what the nested task holds (no annotations, no predictions)
    arrival: tuple[int, str]  # (mtime_ns, name)

    @property
    def frame(self) -> tuple[int | None, int]:
        return (self.task.project, self.task.id)

    @property
    def stamp(self) -> str:
        return self.annotation.updated_at or self.annotation.created_at or ""


class StorageProblem(ValueError):
    """A per-annotation file that does not decode; `reason` says why."""


def read_annotation(
    raw: bytes | bytearray, path: Path, mtime_ns: int, config: Config
) -> AnnotationFile:
    decode = _file_decoder(config.episodes.field, config.episodes.frames_field).decode
    try:
        record = decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        text, _, where = str(exc).partition(" - at ")
        where = where.strip("`").removeprefix("$").lstrip(".")
        raise StorageProblem(
            "not a usable Label Studio storage file ("
            + (f"{where}: " if where else "")
            + f"{text})"
        ) from None
    annotation = Annotation(
        id=record.id,
        was_cancelled=record.was_cancelled,
        ground_truth=record.ground_truth,
        created_at=record.created_at,
        updated_at=record.updated_at,
        result=record.result.copy(),  # its own bytes: the file's can go before the merge
        parent_prediction=record.parent_prediction,
        prediction=record.prediction,
    )
    return AnnotationFile(path, annotation, record.task, (mtime_ns, path.name))


def group_frames(
    groups: Iterable[list[AnnotationFile]], config: Config
) -> tuple[ParsedExport, dict[tuple[int | None, int], str]]:
    """The frames of many tasks' annotation files present now (§1), as one table, and the
    frames whose task the rules cannot read (with the reason; left out of the table).

    Per frame: task fields from the newest file's nested task (greatest annotation stamp, then
    arrival), one annotation per id (the newest), no predictions (the index across files gives
    them). Its arrival is its newest file's, so it competes with exported versions of the frame
    by stamp, then arrival. One table for the whole batch: the per-table work is paid once, not
    once per frame."""
    import polars as pl

    columns = TaskColumns(config)
    make_task = task_type(config.episodes.field, config.episodes.frames_field)
    arrivals: list[tuple[int, str]] = []  # per frame
    pending_arrivals: list[tuple[int, str]] = []  # per pending row
    prediction_arrivals: list[tuple[int, str]] = []  # per prediction row
    problems: dict[tuple[int | None, int], str] = {}
    path = Path()
    for files in groups:
        if not files:
            continue
        ordered = sorted(files, key=lambda f: (f.stamp, f.arrival))
        newest = ordered[-1]
        by_id = {f.annotation.id if isinstance(f.annotation.id, int) else id(f): f for f in ordered}
        nested = newest.task
        task = make_task(
            id=nested.id,
            data=nested.data,
            project=nested.project,
            updated_at=nested.updated_at,
            annotations=[f.annotation for f in by_id.values()],
            completions=None,
            predictions=nested.predictions,
        )
        pending_before, predictions_before = columns.pending_rows, columns.prediction_rows
        try:
            columns.add(task)
        except TaskProblem as exc:
            problems[newest.frame] = str(exc)
            continue
        arrival = max(f.arrival for f in ordered)
        arrivals.append(arrival)
        pending_arrivals += [arrival] * (columns.pending_rows - pending_before)
        prediction_arrivals += [arrival] * (columns.prediction_rows - predictions_before)
        path = newest.path
    grouped = parsed(path, columns, config, (0, ""))

    def with_arrivals(table: pl.DataFrame, rows: list[tuple[int, str]]) -> pl.DataFrame:
        mtimes = pl.Series("arrival_mtime_ns", [a[0] for a in rows], dtype=pl.Int64)
        names = pl.Series("arrival_name", [a[1] for a in rows], dtype=pl.String)
        return table.with_columns(mtimes, names)

    return (
        ParsedExport(
            path,
            with_arrivals(grouped.frames, arrivals),
            grouped.tasks,
            0,
            with_arrivals(grouped.pending, pending_arrivals),
            with_arrivals(grouped.predictions, prediction_arrivals),
        ),
        problems,
    )
