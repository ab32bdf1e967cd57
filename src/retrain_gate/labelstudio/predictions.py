"""The prediction index across files (docs/semantics.md §3).

Every prediction object with an integer id seen in any ingested file is indexed by
`(project, pred_id)`; the copy from the file that arrived last wins. A frame whose source is
known only by id (rule 3), or whose version holds no prediction objects (rule 4), is *pending*:
its verdict is the one the rules give without the index until the index has its source, and is
decided again whenever the index gains a copy it depends on.

Plain polars joins, then §3's correction in Python for the frames a file touched: the cost of
an ingest is that file's frames and predictions, not the store's.
"""

from __future__ import annotations

from collections.abc import Collection

import msgspec
import polars as pl

from retrain_gate.labelstudio.format import is_known
from retrain_gate.labelstudio.semantics import VERDICT_COLUMNS, Source, resolved_verdict

_ARRIVAL: dict[str, pl.DataType] = {"arrival_mtime_ns": pl.Int64(), "arrival_name": pl.String()}
PENDING_SCHEMA: dict[str, pl.DataType] = {
    "project": pl.Int64(),
    "task_id": pl.Int64(),
    "stamp": pl.String(),
    "source_id": pl.Int64(),  # rule 3; null: rule 4 (by task)
    "residue": pl.Binary(),  # the chosen annotation's raw result, when the correction waits
    **_ARRIVAL,
}
INDEX_SCHEMA: dict[str, pl.DataType] = {
    "project": pl.Int64(),
    "pred_id": pl.Int64(),
    "task_id": pl.Int64(),  # set when some file listed it in its task's task.predictions
    "model_version": pl.String(),
    "created_at": pl.String(),
    "result": pl.Binary(),
    **_ARRIVAL,  # of the copy kept (the one that arrived last)
    # of the last file that listed it in its task's task.predictions (null: none did), so that
    # a store can tell when a removed file took that listing with it
    "listed_mtime_ns": pl.Int64(),
    "listed_name": pl.String(),
}
_LISTED = ["listed_mtime_ns", "listed_name"]
_KEY = ["project", "task_id"]
_VERSION = [*_KEY, "stamp", "arrival_mtime_ns", "arrival_name"]


def empty_pending() -> pl.DataFrame:
    return pl.DataFrame(schema=PENDING_SCHEMA)


def empty_index() -> pl.DataFrame:
    return pl.DataFrame(schema=INDEX_SCHEMA)


def stamped(rows: pl.DataFrame, arrival: tuple[int, str]) -> pl.DataFrame:
    """A pending or index table of one file's rows, stamped with the file's arrival."""
    return rows.with_columns(
        pl.lit(arrival[0], dtype=pl.Int64).alias("arrival_mtime_ns"),
        pl.lit(arrival[1], dtype=pl.String).alias("arrival_name"),
    )


def merge_index(current: pl.DataFrame, incoming: pl.DataFrame) -> pl.DataFrame:
    """Per (project, pred_id): the content of the copy that arrived last; listed in a task's
    predictions when any copy was (the task and the arrival of the last copy listed).
    `incoming`: a file's rows (INDEX_COLUMNS and its arrival)."""
    if incoming.is_empty():
        return current
    listed = pl.col("task_id").is_not_null()
    incoming = incoming.with_columns(
        pl.when(listed).then(pl.col("arrival_mtime_ns")).alias("listed_mtime_ns"),
        pl.when(listed).then(pl.col("arrival_name")).alias("listed_name"),
    ).select(list(INDEX_SCHEMA))
    both = pl.concat([current, incoming], how="vertical")
    listing = (
        both.filter(pl.col("task_id").is_not_null())
        .sort(_LISTED)
        .unique(subset=["project", "pred_id"], keep="last", maintain_order=False)
        .select("project", "pred_id", "task_id", *_LISTED)
    )
    latest = (
        both.sort(["arrival_mtime_ns", "arrival_name"])
        .unique(subset=["project", "pred_id"], keep="last", maintain_order=False)
        .drop("task_id", *_LISTED)
    )
    merged = latest.join(listing, on=["project", "pred_id"], how="left", nulls_equal=True)
    return merged.select(list(INDEX_SCHEMA)).sort(["project", "pred_id"], nulls_last=False)


def kept_pending(pending: pl.DataFrame, frames: pl.DataFrame) -> pl.DataFrame:
    """The pending rows of the versions the frame tables keep (one per version: a frame may
    have a version among the exports and one from its storage files, both kept)."""
    return pending.join(frames.select(_VERSION), on=_VERSION, how="semi", nulls_equal=True).unique(
        subset=_VERSION, keep="last", maintain_order=True
    )


def resolve(
    frames: pl.DataFrame,
    pending: pl.DataFrame,
    index: pl.DataFrame,
    arrivals: Collection[tuple[int, str]] | None,
    tolerance: float,
) -> pl.DataFrame:
    """`frames` with the pending frames the index can now decide decided. With `arrivals` (the
    files of one batch), only those these files could change: their own pending frames, and
    frames whose source they indexed."""
    if pending.is_empty() or index.is_empty():
        return frames
    by_id = pending.filter(pl.col("source_id").is_not_null()).join(
        index.drop("task_id"),
        left_on=["project", "source_id"],
        right_on=["project", "pred_id"],
        how="inner",
        nulls_equal=True,
        suffix="_source",
    )
    latest_listed = (
        index.filter(pl.col("task_id").is_not_null())
        .sort(["created_at", "pred_id"], nulls_last=False)
        .unique(subset=_KEY, keep="last", maintain_order=False)
        .drop("pred_id")
    )
    by_task = pending.filter(pl.col("source_id").is_null()).join(
        latest_listed, on=_KEY, how="inner", nulls_equal=True, suffix="_source"
    )
    matched = pl.concat([by_id, by_task.select(by_id.columns)], how="vertical")
    if arrivals is not None:
        batch = pl.DataFrame(
            list(arrivals),
            schema={"arrival_mtime_ns": pl.Int64(), "arrival_name": pl.String()},
            orient="row",
        )
        theirs = batch.rename(lambda name: f"{name}_source")
        matched = pl.concat(
            [
                matched.join(batch, on=list(batch.columns), how="semi"),
                matched.join(theirs, on=list(theirs.columns), how="semi"),
            ]
        ).unique(maintain_order=True)
    if matched.is_empty():
        return frames
    # the version the pending row belongs to, in this table (the other table holds the rest)
    matched = matched.join(
        frames.select(*_VERSION, "status"), on=_VERSION, how="inner", nulls_equal=True
    )
    if matched.is_empty():
        return frames
    rows = []
    for *version_key, status, residue, result, release, created in matched.select(
        *_VERSION, "status", "residue", "result", "model_version", "created_at"
    ).iter_rows():
        raw = msgspec.Raw(result)
        source = Source(raw if is_known(raw) else None, release, created)
        verdict = resolved_verdict(version_key[2], status, residue, source, tolerance)
        rows.append((*version_key, *verdict[2:]))
    names = (*_VERSION, *VERDICT_COLUMNS[2:])
    schema = {name: frames.schema[name] for name in names}
    updates = pl.DataFrame(rows, schema=schema, orient="row")
    decided = list(VERDICT_COLUMNS[2:])
    joined = frames.join(
        updates.with_columns(pl.lit(True).alias("_decided")),
        on=_VERSION,
        how="left",
        nulls_equal=True,
        suffix="_decided",
        maintain_order="left",
    )
    return joined.with_columns(
        pl.when(pl.col("_decided"))
        .then(pl.col(f"{name}_decided"))
        .otherwise(pl.col(name))
        .alias(name)
        for name in decided
    ).select(frames.columns)
