"""Tasks -> the frame table (models.FRAME_SCHEMA): one row per task, with §1's stamp, §2's
episode and §3's verdicts. Python computes the per-task columns; polars builds the table and
maps paths to episodes."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from retrain_gate.labelstudio.format import Prediction, is_known
from retrain_gate.labelstudio.semantics import VERDICT_COLUMNS, frame_verdict

if TYPE_CHECKING:
    import polars as pl

    from retrain_gate.config import Config

_INT64 = range(-(2**63), 2**63)

# What a task gives the frame table; the rest of its columns come from the file (frame_table).
TASK_COLUMNS = (*VERDICT_COLUMNS, "path", "episode_frames", "project", "task_id")
# A pending frame (semantics.Pending), by its key and the stamp of the version it belongs to.
PENDING_COLUMNS = ("project", "task_id", "stamp", "source_id", "residue")
# A prediction object seen in a file; `task_id` only where it was listed in task.predictions.
INDEX_COLUMNS = ("project", "pred_id", "task_id", "model_version", "created_at", "result")


class TaskProblem(ValueError):
    """One task of the file is malformed; the whole file is refused, naming the task."""

    def __init__(self, index: int, task_id: Any, detail: str) -> None:
        super().__init__(f"task #{index + 1} in the file (id {task_id}): {detail}")


class TaskColumns:
    """The per-task columns of a file's tasks. Tasks are added one at a time and turned into
    polars tables a chunk at a time (`seal`): a large file's Python objects never outlive
    their chunk, so what the read holds grows with the compact tables, not with the tasks."""

    def __init__(self, config: Config) -> None:
        self._tolerance = config.corrections.tolerance
        self._field = config.episodes.field
        self._frames_field = config.episodes.frames_field
        self._tasks = 0
        # rows made so far (sealed or not): a caller that adds tasks of several files to one
        # table tells each task's rows apart by these counts (storage.group_frames)
        self.pending_rows = 0
        self.prediction_rows = 0
        self._sealed: list[tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]] = []
        self._clear()

    def _clear(self) -> None:
        self.verdicts: list[tuple[Any, ...]] = []
        self.paths: list[Any] = []
        self.raw_frames: list[Any] = []
        self.projects: list[int | None] = []
        self.task_ids: list[int] = []
        # what the prediction index across files decides (predictions.py), a tuple a row
        self._pending: list[tuple[Any, ...]] = []  # PENDING_COLUMNS
        self._predictions: list[tuple[Any, ...]] = []  # INDEX_COLUMNS

    def __len__(self) -> int:
        return self._tasks

    def add(self, task: Any) -> None:
        """Add one decoded Task; raise TaskProblem when the rules cannot read it."""
        index = self._tasks
        if task.id not in _INT64 or (task.project is not None and task.project not in _INT64):
            raise TaskProblem(index, task.id, "the task or project id is beyond 64 bits")
        try:
            verdict, pending = frame_verdict(task, self._tolerance)
        except (ValueError, OverflowError) as exc:
            # OverflowError: an integer too large for a float in a value compared by position
            raise TaskProblem(index, task.id, str(exc)) from None
        self.verdicts.append(verdict)
        if pending is not None:
            self._pending.append(
                (task.project, task.id, verdict[0], pending.source_id, pending.residue)
            )
            self.pending_rows += 1
        self._index_predictions(task)
        path = task.data.path
        self.paths.append(path)
        if self._frames_field is None:
            self.raw_frames.append(None)
        elif self._frames_field == self._field:
            self.raw_frames.append(path)
        else:
            self.raw_frames.append(task.data.frames)
        self.projects.append(task.project)
        self.task_ids.append(task.id)
        self._tasks += 1

    def _index_predictions(self, task: Any) -> None:
        """§3: every prediction object with an integer id, from task.predictions (listed: it
        counts for rule 4, so its task is kept) and inline in annotations. An inline copy of a
        prediction the task lists is the same object: indexed once, as listed."""
        rows = self._predictions
        before = len(rows)
        listed: set[int] = set()
        for prediction in task.predictions or ():
            if type(prediction) is Prediction and type(prediction.id) is int:
                listed.add(prediction.id)
                # an id beyond 64 bits is one no file can refer to as an Int64: not indexed
                if prediction.id in _INT64:
                    rows.append(_prediction_row(task.project, task.id, prediction))
        for annotation in task.annotations or task.completions or ():
            inline = annotation.prediction
            if (
                inline is not None
                and type(inline.id) is int
                and inline.id not in listed
                and inline.id in _INT64
                and is_known(inline.result)
            ):
                rows.append(_prediction_row(task.project, None, inline))
        self.prediction_rows += len(rows) - before

    def seal(self) -> None:
        """Turn the tasks added since the last seal into tables (and let go of their rows)."""
        if not self.task_ids:
            return
        import polars as pl

        task_schema, pending_schema, index_schema = _schemas()
        frames = pl.DataFrame(self._columns(), schema=task_schema)
        pending = pl.DataFrame(self._pending, schema=pending_schema, orient="row")
        predictions = pl.DataFrame(self._predictions, schema=index_schema, orient="row")
        self._sealed.append((frames, pending, predictions))
        self._clear()

    def tables(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Every task's columns (per-task frame columns, pending rows, prediction rows), in
        file order."""
        import polars as pl

        self.seal()
        if not self._sealed:
            task_schema, pending_schema, index_schema = _schemas()
            return (
                pl.DataFrame(schema=task_schema),
                pl.DataFrame(schema=pending_schema),
                pl.DataFrame(schema=index_schema),
            )
        frames, pending, predictions = zip(*self._sealed, strict=True)
        return (
            pl.concat(frames, rechunk=False),
            pl.concat(pending, rechunk=False),
            pl.concat(predictions, rechunk=False),
        )

    def _columns(self) -> dict[str, list[Any]]:
        transposed = map(list, zip(*self.verdicts, strict=True))
        columns = dict(zip(VERDICT_COLUMNS, transposed, strict=True))
        columns["path"] = _decoded_paths(self.paths)
        columns["episode_frames"] = (
            self.raw_frames if self._frames_field is None else _positive_ints(self.raw_frames)
        )
        columns["project"] = self.projects
        columns["task_id"] = self.task_ids
        return columns


def _schemas() -> tuple[dict[str, pl.DataType], ...]:
    """The polars types of TASK_COLUMNS, PENDING_COLUMNS and INDEX_COLUMNS."""
    from retrain_gate.labelstudio.predictions import INDEX_SCHEMA, PENDING_SCHEMA
    from retrain_gate.models import FRAME_SCHEMA

    return (
        {name: FRAME_SCHEMA[name] for name in TASK_COLUMNS},
        {name: PENDING_SCHEMA[name] for name in PENDING_COLUMNS},
        {name: INDEX_SCHEMA[name] for name in INDEX_COLUMNS},
    )


def _prediction_row(project: Any, task_id: int | None, prediction: Prediction) -> tuple[Any, ...]:
    version, created = prediction.model_version, prediction.created_at
    return (
        project,
        prediction.id,
        task_id,
        version if isinstance(version, str) and version else None,
        created if isinstance(created, str) else None,
        bytes(prediction.result),
    )


def _decoded_paths(values: list[Any]) -> list[str | None]:
    # unquote only where there is something to decode: most paths have no '%'
    return [
        (urllib.parse.unquote(v) if "%" in v else v) if isinstance(v, str) else None for v in values
    ]


def _positive_ints(values: list[Any]) -> list[int | None]:
    return [
        v if type(v) is int and 0 < v < 2**63 else None  # bool is not a frame count
        for v in values
    ]


def _map_episodes(paths: pl.Series, pattern: str) -> tuple[pl.Series, pl.Series]:
    """§2: task_subdir and episode of each path (null when unmapped)."""
    # Only patterns polars' linear-time engine runs get past the config (config._unbounded):
    # Python's `re`, with look-around, can take unbounded time on a short path.
    groups = paths.str.extract_groups(pattern)
    return groups.struct.field("task_subdir"), groups.struct.field("episode")


def frame_table(
    frame: pl.DataFrame, config: Config, *, arrival_mtime_ns: int, arrival_name: str
) -> pl.DataFrame:
    """The frame table (FRAME_SCHEMA) of a file's tasks: in file order; when a task repeats
    inside the file, its version with the greatest stamp (then the later one) is kept."""
    import polars as pl

    from retrain_gate.models import FRAME_KEY, FRAME_SCHEMA

    subdirs, episodes = _map_episodes(frame["path"], config.episodes.pattern)
    frame = frame.with_columns(
        subdirs.alias("task_subdir"),
        episodes.alias("episode"),
        pl.lit(arrival_mtime_ns, dtype=pl.Int64).alias("arrival_mtime_ns"),
        pl.lit(arrival_name, dtype=pl.String).alias("arrival_name"),
    )
    if (
        frame["task_id"].n_unique() < frame.height
        and frame.select(pl.struct(FRAME_KEY).is_duplicated().any()).item()
    ):
        frame = (
            frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_position"))
            .sort(["stamp", "_position"])
            .unique(subset=FRAME_KEY, keep="last", maintain_order=True)
            .drop("_position")
        )
    return frame.select(list(FRAME_SCHEMA))
