"""What `watch` and the dashboard say of one batch of files: a line per file for a few, one
counted line for many (a catch-up, a storage "Sync"), and every refused file by name."""

from __future__ import annotations

from pathlib import Path

from retrain_gate.live.events import (
    FILE_LINES,
    BatchRead,
    Ingested,
    Refused,
    Removed,
    batch_events,
)
from retrain_gate.store import IngestResult


def ingested(n: int, *, frames: int = 1, new: int = 1, changed: int = 0) -> list[IngestResult]:
    return [
        IngestResult(
            Path(f"/s/{i}"), "ingested", frames=frames, new_frames=new, changed_frames=changed
        )
        for i in range(n)
    ]


def refused(name: str) -> IngestResult:
    return IngestResult(Path(f"/s/{name}"), "refused", reason="not valid JSON")


def unchanged(n: int) -> list[IngestResult]:
    return [IngestResult(Path(f"/u/{i}"), "unchanged") for i in range(n)]


def test_a_few_files_get_a_line_each_and_unchanged_ones_none() -> None:
    results = [*ingested(FILE_LINES - 1), refused("bad"), *unchanged(50)]
    events = batch_events(results)
    assert [type(e) for e in events] == [Ingested] * (FILE_LINES - 1) + [Refused]
    assert events[0].text == "ingested /s/0: 1 frame, 1 new, 0 changed"


def test_many_files_are_counted_in_one_line_and_refused_ones_still_named() -> None:
    # 11 annotation files (1 frame each, 1 new) and one export of 40 frames (30 new, 4 changed)
    results = [
        *ingested(11),
        IngestResult(Path("/s/e.json"), "ingested", frames=40, new_frames=30, changed_frames=4),
        refused("bad-1"),
        *unchanged(3),
        refused("bad-2"),
    ]
    events = batch_events(results, shown=lambda p: f"s3://b/{Path(p).name}")
    assert [type(e) for e in events] == [BatchRead, Refused, Refused]
    summary = events[0]
    assert isinstance(summary, BatchRead)
    assert (summary.files, summary.ingested) == (12, True)
    assert summary.text == "ingested 12 files: 51 frames, 41 new, 4 changed"
    assert [e.text for e in events[1:]] == [
        "refused s3://b/bad-1: not valid JSON",
        "refused s3://b/bad-2: not valid JSON",
    ]


def test_each_outcome_of_a_large_batch_is_counted() -> None:
    removed = [
        IngestResult(Path(f"/s/r{i}"), "removed", reason="x", changed_frames=2) for i in range(3)
    ]
    results = [
        *ingested(6),
        *removed,
        IngestResult(Path("/s/d"), "duplicate", duplicate_of="/s/0"),
        IngestResult(Path("/s/i1"), "ignored", reason="x"),
        IngestResult(Path("/s/i2"), "ignored", reason="x"),
    ]
    [summary] = batch_events(results)
    assert isinstance(summary, BatchRead)
    assert summary.files == 12
    assert summary.text == (
        "ingested 6 files: 6 frames, 6 new, 0 changed; "
        "removed 3 files: their versions leave the figures (6 changed); "
        "skipped 1 file: the same content as files already ingested; "
        "ignored 2 files without an extension that are not Label Studio storage files"
    )


def test_a_batch_of_only_skipped_files_moves_no_ingest_time() -> None:
    results = [
        IngestResult(Path(f"/s/d{i}"), "duplicate", duplicate_of="/s/0")
        for i in range(FILE_LINES + 1)
    ]
    [summary] = batch_events(results)
    assert isinstance(summary, BatchRead)
    assert not summary.ingested


def test_ten_removals_are_named_and_eleven_counted() -> None:
    def gone(n: int) -> list[IngestResult]:
        return [IngestResult(Path(f"/s/{i}"), "removed", reason="gone") for i in range(n)]

    assert all(isinstance(e, Removed) for e in batch_events(gone(FILE_LINES)))
    [summary] = batch_events(gone(FILE_LINES + 1))
    assert isinstance(summary, BatchRead)
    assert summary.text == "removed 11 files: their versions leave the figures (0 changed)"
