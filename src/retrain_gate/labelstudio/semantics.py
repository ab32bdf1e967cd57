"""The rules of docs/semantics.md §1-§3 over one task: its stamp, the annotation to use, the
prediction it started from, and whether the labeler corrected it.

Every rule costs time linear in the task's size (sets and dicts, never a pairwise loop), so a
crafted task cannot hold the reader for longer than its bytes take to read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from retrain_gate.labelstudio.format import (
    FULL_REGIONS,
    REGIONS,
    Annotation,
    FullRegion,
    Prediction,
    PredictionRef,
    Region,
    is_known,
)

# The verdict of one task, columns of the frame table in this order.
VERDICT_COLUMNS = (
    "stamp",
    "status",
    "has_source",
    "corrected",
    "correction_unknown",
    "release",
    "release_created_at",
)


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


R = TypeVar("R", Region, FullRegion)


def _live(regions: list[R] | None) -> list[R]:
    return [r for r in regions or () if r.type != "relation"]


def _choice_key(a: Annotation) -> tuple[bool, str, int]:
    stamp = a.updated_at or a.created_at or ""
    return (bool(a.ground_truth), stamp, a.id if isinstance(a.id, int) else -1)


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
        and is_known(inline.result)
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
    return _id_set([r.id for r in regions])


def _id_set(ids: list[Any]) -> set[Any]:
    try:
        return set(ids)
    except TypeError:  # an id that is a list or an object: compare by structure
        return {_hashable(i) for i in ids}


def _origins(regions: list[Region]) -> set[Any] | None:
    """The regions' origins (None when no region has one); None-valued origins left out.
    Stops at the first changed origin: that alone decides."""
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


def correction(result: msgspec.Raw | bytes, source: Source, tolerance: float) -> bool | None:
    """True corrected, False accepted, None when it cannot be told (`result`: the chosen
    annotation's, raw)."""
    regions = _live(REGIONS.decode(result))
    return _correction(regions, _origins(regions), result, source, tolerance)


def _correction(
    regions: list[Region],
    origins: set[Any] | None,
    result: msgspec.Raw | bytes,
    source: Source,
    tolerance: float,
) -> bool | None:
    if origins is not None:
        if not origins.isdisjoint(_CHANGED_ORIGINS):
            return True
        return source.result is not None and _deleted_a_region(_ids(regions), source.result)
    if source.result is not None:
        return geometrically_changed(
            _live(FULL_REGIONS.decode(result)),
            _live(FULL_REGIONS.decode(source.result)),
            tolerance,
        )
    return None


def _deleted_a_region(mine: set[Any], source_result: msgspec.Raw) -> bool:
    """The origin rule's second half: a region of the source the annotation no longer has
    (the callers answer False while the source's content is unknown)."""
    return not _ids(_live(REGIONS.decode(source_result))) <= mine


# A pending frame whose annotation has origins needs only its region ids to be decided later:
# kept as this tag and the ids' JSON, instead of the whole result (a few hundred bytes).
_IDS_RESIDUE = b"ids:"


_LIST_OR_NULL = frozenset(b"[n")  # a decoded JSON value starting with "n" is null


def _check_results(annotations: list[Annotation]) -> None:
    for number, annotation in enumerate(annotations):
        if memoryview(annotation.result)[0] not in _LIST_OR_NULL:
            raise ValueError(f"annotations[{number}].result must be a list of regions")


@dataclass(frozen=True, slots=True)
class Pending:
    """A frame whose source the prediction index across files decides (§3): known only by
    `source_id` (rule 3: a `parent_prediction` the task does not hold), or, with `source_id`
    None, by its task (rule 4: the version holds no prediction objects). `residue`: the chosen
    annotation's raw result, when the correction still depends on the source's."""

    source_id: int | None
    residue: bytes | None


def frame_verdict(task: Any, tolerance: float) -> tuple[tuple[Any, ...], Pending | None]:
    """§1 stamp and §3 status, source and correction of one task (see VERDICT_COLUMNS), and
    what is left for the prediction index to decide. Raises ValueError (or msgspec's errors)
    when a part the rules read is malformed."""
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
        pending = None
        if not any(type(p) is Prediction for p in predictions):
            pending = Pending(None, bytes(chosen.result) if chosen is not None else None)
        return (stamp, status, False, False, False, None, None), pending
    return verdict_with_source(stamp, status, chosen, source, tolerance)


def verdict_with_source(
    stamp: str, status: str, chosen: Annotation | None, source: Source, tolerance: float
) -> tuple[tuple[Any, ...], Pending | None]:
    corrected = unknown = False
    regions: list[Region] = []
    origins = None
    if chosen is not None:
        regions = _live(REGIONS.decode(chosen.result))
        origins = _origins(regions)
        verdict = _correction(regions, origins, chosen.result, source, tolerance)
        corrected, unknown = verdict is True, verdict is None
    pending = None
    if source.result is None and chosen is not None and chosen.parent_prediction is not None:
        # rule 3: only the index can name the release, and, unless a changed origin already
        # decided it, tell whether the labeler changed the prediction
        kept = None if corrected else residue(chosen, regions, origins)
        pending = Pending(chosen.parent_prediction, kept)
    return _verdict(stamp, status, chosen is not None, corrected, unknown, source), pending


def residue(chosen: Annotation, regions: list[Region], origins: set[Any] | None) -> bytes:
    """What deciding the correction later needs of the chosen annotation: its region ids
    when its regions carry an origin, else (a geometric comparison) its whole result."""
    if origins is not None:
        return _IDS_RESIDUE + msgspec.json.encode([r.id for r in regions])
    return bytes(chosen.result)


def _verdict(
    stamp: str, status: str, reviewed: bool, corrected: bool, unknown: bool, source: Source
) -> tuple[Any, ...]:
    release, created = source.model_version, source.created_at
    return (
        stamp,
        status,
        reviewed,
        corrected,
        unknown,
        release if isinstance(release, str) and release else None,
        created if isinstance(created, str) else None,
    )


def resolved_verdict(
    stamp: str,
    status: str,
    residue: bytes | None,
    source: Source,
    tolerance: float,
) -> tuple[Any, ...]:
    """The verdict of a pending frame once the index gives its source. Without a residue a
    reviewed frame was already decided corrected (a changed origin)."""
    reviewed = status == "reviewed"
    corrected = unknown = False
    if reviewed:
        verdict: bool | None
        if residue is None:
            verdict = True
        elif residue.startswith(_IDS_RESIDUE):
            verdict = source.result is not None and _deleted_a_region(
                _id_set(msgspec.json.decode(residue[len(_IDS_RESIDUE) :])), source.result
            )
        else:
            verdict = correction(residue, source, tolerance)
        corrected, unknown = verdict is True, verdict is None
    return _verdict(stamp, status, reviewed, corrected, unknown, source)
