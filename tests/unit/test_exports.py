"""§2-§3 of docs/semantics.md, one rule at a time, on hand-written exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrain_gate.config import Config, parse_config
from retrain_gate.errors import ExportRefused
from tests.lsbuild import ann, kp, pred, task, write_export
from tests.readkit import load

CONFIG = Config()


def frame(tmp_path: Path, t: dict[str, Any], config: Config = CONFIG) -> dict[str, Any]:
    path = write_export(tmp_path, "e.json", [t], mtime=1000)
    rows = load(path, config).frames.to_dicts()
    assert len(rows) == 1
    return rows[0]


# ---------------------------------------------------------------- annotation choice


def test_not_reviewed_without_annotations(tmp_path: Path) -> None:
    row = frame(tmp_path, task(1))
    assert row["status"] == "open"
    assert row["has_source"] is False


def test_only_cancelled_annotations_make_the_frame_skipped(tmp_path: Path) -> None:
    row = frame(tmp_path, task(1, annotations=[ann(1, cancelled=True), ann(2, cancelled=True)]))
    assert row["status"] == "skipped"


def test_ground_truth_wins_over_a_later_annotation(tmp_path: Path) -> None:
    # Annotation 1 is ground truth but older and unchanged from the prediction; annotation 2 is
    # later and moved the point: the ground truth one is used, so not corrected.
    p = pred(10, [kp(10, 10)])
    t = task(
        1,
        predictions=[p],
        annotations=[
            ann(1, [kp(10, 10)], updated="2026-01-01T00:00:00Z", ground_truth=True, parent=10),
            ann(2, [kp(30, 30)], updated="2026-03-01T00:00:00Z", parent=10),
        ],
    )
    row = frame(tmp_path, t)
    assert row["status"] == "reviewed"
    assert row["corrected"] is False


def test_latest_updated_at_then_created_at_then_highest_id(tmp_path: Path) -> None:
    p = pred(10, [kp(10, 10)])
    # 1 has no updated_at, created 2026-05: its created_at (2026-05) beats 2's updated_at (2026-04).
    t = task(
        1,
        predictions=[p],
        annotations=[
            ann(1, [kp(50, 50)], updated=None, created="2026-05-01T00:00:00Z", parent=10),
            ann(2, [kp(10, 10)], updated="2026-04-01T00:00:00Z", parent=10),
        ],
    )
    assert frame(tmp_path, t)["corrected"] is True
    # Same stamps: the highest id (3, unchanged) is chosen over 2 (moved).
    t = task(
        1,
        predictions=[p],
        annotations=[ann(2, [kp(50, 50)], parent=10), ann(3, [kp(10, 10)], parent=10)],
    )
    assert frame(tmp_path, t)["corrected"] is False


def test_cancelled_annotation_is_never_chosen(tmp_path: Path) -> None:
    p = pred(10, [kp(10, 10)])
    t = task(
        1,
        predictions=[p],
        annotations=[
            ann(1, [kp(10, 10)], updated="2026-01-01T00:00:00Z", parent=10),
            ann(2, [kp(90, 90)], updated="2026-09-01T00:00:00Z", cancelled=True, parent=10),
        ],
    )
    row = frame(tmp_path, t)
    assert (row["status"], row["corrected"]) == ("reviewed", False)


def test_a_lone_cancelled_annotation_leaves_the_frame_skipped(tmp_path: Path) -> None:
    p = pred(10, [kp(10, 10)])
    t = task(1, predictions=[p], annotations=[ann(1, [kp(90, 90)], cancelled=True, parent=10)])
    row = frame(tmp_path, t)
    # Skipped: no chosen annotation, so nothing is corrected and nobody reviewed the source.
    assert (row["status"], row["corrected"], row["has_source"]) == ("skipped", False, False)


# ---------------------------------------------------------------- stamp


def test_stamp_is_the_greatest_of_task_and_annotation_times(tmp_path: Path) -> None:
    t = task(
        1,
        updated="2026-01-05T00:00:00Z",
        annotations=[
            ann(1, updated="2026-01-07T00:00:00Z"),
            ann(2, updated=None, created="2026-01-09T00:00:00Z", cancelled=True),
        ],
    )
    assert frame(tmp_path, t)["stamp"] == "2026-01-09T00:00:00Z"


# ---------------------------------------------------------------- source prediction


def test_source_is_the_prediction_object_named_by_parent_prediction(tmp_path: Path) -> None:
    # parent 11 (release m2) even though prediction 12 is later.
    preds = [
        pred(11, [kp(10, 10)], version="m2", created="2026-01-02"),
        pred(12, [kp(40, 40)], version="m3", created="2026-01-03"),
    ]
    row = frame(tmp_path, task(1, predictions=preds, annotations=[ann(1, [kp(10, 10)], parent=11)]))
    assert (row["release"], row["corrected"], row["release_created_at"]) == (
        "m2",
        False,
        "2026-01-02",
    )


def test_inline_prediction_is_the_source_when_the_task_has_only_ids(tmp_path: Path) -> None:
    inline = pred(11, [kp(10, 10)], version="m2")
    row = frame(
        tmp_path,
        task(1, predictions=[11], annotations=[ann(1, [kp(12, 10)], parent=11, inline=inline)]),
    )
    # Moved by 2.0 > 0.5 tolerance, no origin: geometric comparison says corrected.
    assert (row["release"], row["corrected"], row["correction_unknown"]) == ("m2", True, False)


def test_inline_prediction_with_another_id_is_not_the_source(tmp_path: Path) -> None:
    inline = pred(99, [kp(10, 10)], version="m2")
    row = frame(
        tmp_path,
        task(1, predictions=[11], annotations=[ann(1, [kp(12, 10)], parent=11, inline=inline)]),
    )
    # Case 3: parent set but no content: source unknown, no release, correction unknown.
    assert row["release"] is None
    assert (row["has_source"], row["corrected"], row["correction_unknown"]) == (True, False, True)


def test_inline_prediction_used_when_parent_is_null(tmp_path: Path) -> None:
    inline = pred(99, [kp(10, 10)], version="m2")
    row = frame(tmp_path, task(1, annotations=[ann(1, [kp(10, 10)], parent=None, inline=inline)]))
    assert (row["release"], row["corrected"]) == ("m2", False)


def test_community_shape_reads_corrections_from_origin(tmp_path: Path) -> None:
    t = task(
        1,
        predictions=[11],
        annotations=[
            ann(
                1,
                [
                    kp(10, 10, origin="prediction"),
                    kp(20, 20, rid="r2", origin="prediction-changed"),
                ],
                parent=11,
            )
        ],
    )
    row = frame(tmp_path, t)
    assert (row["corrected"], row["correction_unknown"], row["release"]) == (True, False, None)


def test_community_shape_all_accepted_is_not_corrected(tmp_path: Path) -> None:
    t = task(
        1, predictions=[11], annotations=[ann(1, [kp(10, 10, origin="prediction")], parent=11)]
    )
    row = frame(tmp_path, t)
    assert (row["corrected"], row["correction_unknown"]) == (False, False)


def test_without_parent_the_latest_prediction_object_is_the_source(tmp_path: Path) -> None:
    preds = [
        pred(12, [kp(40, 40)], version="m3", created="2026-01-03"),
        pred(11, [kp(10, 10)], version="m2", created="2026-01-02"),
    ]
    row = frame(tmp_path, task(1, predictions=preds, annotations=[ann(1, [kp(40, 40)])]))
    assert (row["release"], row["corrected"]) == ("m3", False)


def test_open_frame_release_comes_from_its_latest_prediction(tmp_path: Path) -> None:
    row = frame(tmp_path, task(1, predictions=[pred(11, [kp(1, 1)], version="m5")]))
    assert (row["status"], row["release"], row["has_source"]) == ("open", "m5", False)


def test_labeled_from_scratch_is_reviewed_never_corrected(tmp_path: Path) -> None:
    row = frame(tmp_path, task(1, annotations=[ann(1, [kp(1, 1, origin="manual")])]))
    assert (row["status"], row["has_source"], row["corrected"], row["release"]) == (
        "reviewed",
        False,
        False,
        None,
    )


def test_empty_model_version_is_no_release(tmp_path: Path) -> None:
    row = frame(
        tmp_path,
        task(
            1,
            predictions=[pred(11, [kp(1, 1)], version="")],
            annotations=[ann(1, [kp(1, 1)], parent=11)],
        ),
    )
    assert row["release"] is None


# ---------------------------------------------------------------- corrections by origin


def test_deleted_prediction_region_counts_as_corrected(tmp_path: Path) -> None:
    p = pred(11, [kp(10, 10, rid="a"), kp(20, 20, rid="b")])
    t = task(
        1,
        predictions=[p],
        annotations=[ann(1, [kp(10, 10, rid="a", origin="prediction")], parent=11)],
    )
    assert frame(tmp_path, t)["corrected"] is True


def test_manual_region_counts_as_corrected(tmp_path: Path) -> None:
    p = pred(11, [kp(10, 10, rid="a")])
    t = task(
        1,
        predictions=[p],
        annotations=[
            ann(
                1,
                [kp(10, 10, rid="a", origin="prediction"), kp(5, 5, rid="n", origin="manual")],
                parent=11,
            )
        ],
    )
    assert frame(tmp_path, t)["corrected"] is True


@pytest.mark.parametrize(
    ("odd_origin", "other_origin", "corrected"),
    [
        ({"by": "prediction"}, "manual", True),  # a changed origin after an odd one still decides
        (["prediction"], "prediction", False),  # odd origins compare by structure, never raise
    ],
)
def test_origins_that_are_not_strings(
    tmp_path: Path, odd_origin: Any, other_origin: str, corrected: bool
) -> None:
    p = pred(11, [kp(10, 10, rid="a"), kp(20, 20, rid="b")])
    odd = kp(10, 10, rid="a")
    odd["origin"] = odd_origin
    t = task(
        1,
        predictions=[p],
        annotations=[ann(1, [odd, kp(20, 20, rid="b", origin=other_origin)], parent=11)],
    )
    assert frame(tmp_path, t)["corrected"] is corrected


def test_origin_wins_over_geometry(tmp_path: Path) -> None:
    # Dragged and dropped back: same coordinates, but Label Studio marked it changed.
    p = pred(11, [kp(10, 10, rid="a")])
    t = task(
        1,
        predictions=[p],
        annotations=[ann(1, [kp(10, 10, rid="a", origin="prediction-changed")], parent=11)],
    )
    assert frame(tmp_path, t)["corrected"] is True


# ---------------------------------------------------------------- corrections by geometry


@pytest.mark.parametrize(
    ("moved", "corrected"),
    [(0.5, False), (0.25, False), (0.5000001, True), (0.75, True)],
)
def test_tolerance_edge(tmp_path: Path, moved: float, corrected: bool) -> None:
    # |x' - x| > tolerance (0.5) is a correction; exactly 0.5 is not.
    p = pred(11, [kp(10.0, 20.0)])
    t = task(1, predictions=[p], annotations=[ann(1, [kp(10.0 + moved, 20.0)], parent=11)])
    assert frame(tmp_path, t)["corrected"] is corrected


def test_tolerance_is_configurable(tmp_path: Path) -> None:
    config = parse_config({"corrections": {"tolerance": 2.0}}, base=tmp_path)
    p = pred(11, [kp(10.0, 20.0)])
    t = task(1, predictions=[p], annotations=[ann(1, [kp(11.5, 20.0)], parent=11)])
    assert frame(tmp_path, t, config)["corrected"] is False


def test_regions_pair_after_sorting_by_their_numbers(tmp_path: Path) -> None:
    # Same two points listed in the other order, with other ids, scores and origins absent.
    p = pred(11, [kp(10, 10, rid="a"), kp(50, 50, rid="b")])
    mine = [kp(50.2, 50, rid="x"), kp(10, 10.3, rid="y")]
    mine[0]["score"] = 0.3
    t = task(1, predictions=[p], annotations=[ann(1, mine, parent=11)])
    assert frame(tmp_path, t)["corrected"] is False


def test_a_changed_label_is_a_different_key(tmp_path: Path) -> None:
    p = pred(11, [kp(10, 10, label="thumb")])
    t = task(1, predictions=[p], annotations=[ann(1, [kp(10, 10, label="index")], parent=11)])
    assert frame(tmp_path, t)["corrected"] is True


def test_an_added_region_is_a_different_count(tmp_path: Path) -> None:
    p = pred(11, [kp(10, 10)])
    t = task(
        1, predictions=[p], annotations=[ann(1, [kp(10, 10), kp(10, 10, rid="r2")], parent=11)]
    )
    assert frame(tmp_path, t)["corrected"] is True


def test_relations_are_ignored(tmp_path: Path) -> None:
    p = pred(11, [kp(10, 10)])
    relation = {"type": "relation", "from_id": "r1", "to_id": "r1", "direction": "right"}
    t = task(1, predictions=[p], annotations=[ann(1, [kp(10, 10), relation], parent=11)])
    assert frame(tmp_path, t)["corrected"] is False


def test_fields_outside_value_are_ignored(tmp_path: Path) -> None:
    p = pred(11, [kp(10, 10)])
    mine = kp(10, 10)
    mine["original_width"] = 1920
    mine["image_rotation"] = 90
    t = task(1, predictions=[p], annotations=[ann(1, [mine], parent=11)])
    assert frame(tmp_path, t)["corrected"] is False


# ---------------------------------------------------------------- mapping


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("/data/local-files/?d=ep/pick_cube/ep_0007/f_000123.jpg", ("pick_cube", "ep_0007")),
        (
            "/data/local-files/?d=ep%2Fgreifen_w%C3%BCrfel%2Fep_2%2Ff.jpg",
            ("greifen_würfel", "ep_2"),
        ),
        ("plainname.jpg", (None, None)),
        (17, (None, None)),
        (None, (None, None)),
    ],
)
def test_mapping_frames_to_episodes(
    tmp_path: Path, image: Any, expected: tuple[str | None, str | None]
) -> None:
    row = frame(tmp_path, task(1, image=image))
    assert (row["task_subdir"], row["episode"]) == expected


def test_custom_field_and_pattern(tmp_path: Path) -> None:
    config = parse_config(
        {"episodes": {"field": "img", "pattern": r"s3://b/(?P<task_subdir>\w+)-(?P<episode>\d+)_"}},
        base=tmp_path,
    )
    row = frame(tmp_path, task(1, image=None, img="s3://b/pour-12_0004.png"), config)
    assert (row["task_subdir"], row["episode"]) == ("pour", "12")


@pytest.mark.parametrize(("value", "expected"), [(40, 40), (0, None), ("40", None), (True, None)])
def test_frames_field(tmp_path: Path, value: Any, expected: int | None) -> None:
    config = parse_config({"episodes": {"frames_field": "n_frames"}}, base=tmp_path)
    row = frame(tmp_path, task(1, n_frames=value), config)
    assert row["episode_frames"] == expected


# ---------------------------------------------------------------- file shapes


def test_a_single_task_object_and_legacy_completions(tmp_path: Path) -> None:
    t = task(1)
    t["completions"] = [ann(1, [kp(1, 1, origin="manual")])]
    del t["annotations"]
    path = write_export(tmp_path, "one.json", t, mtime=1)
    rows = load(path, CONFIG).frames.to_dicts()
    assert [r["status"] for r in rows] == ["reviewed"]


def test_task_without_project_is_keyed_by_null_project(tmp_path: Path) -> None:
    row = frame(tmp_path, task(5, project=None))
    assert (row["project"], row["task_id"]) == (None, 5)


def test_duplicate_ids_in_one_file_keep_the_latest_stamp(tmp_path: Path) -> None:
    older = task(
        1, annotations=[ann(1, [kp(1, 1, origin="manual")], updated="2026-03-01T00:00:00Z")]
    )
    newer = task(1, updated="2026-01-01T00:00:00Z")  # no annotation, earlier stamp
    path = write_export(tmp_path, "dup.json", [older, newer], mtime=1)
    parsed = load(path, CONFIG)
    assert parsed.frames.height == 1 and parsed.duplicate_ids == 1
    assert parsed.frames.row(0, named=True)["status"] == "reviewed"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'[{"id": 1, "data": {"image": "a/b/c.jpg"}}]')
    assert load(path, CONFIG).frames.height == 1


REFUSALS: list[tuple[str, bytes, str]] = [
    ("empty.json", b"", "empty"),
    ("blank.json", b"  \n", "empty"),
    ("list.json", b"[]", "no tasks"),
    ("obj.json", b"{}", "empty"),
    ("num.json", b"42", "not a list of Label Studio tasks"),
    ("trunc.json", b'[{"id": 1, "data": {"image": "a/b', "truncated"),
    ("latin1.json", b'[{"id": 1, "data": {"image": "caf\xe9"}}]', "UTF-8"),
    ("nan.json", b'[{"id": 1, "data": {"image": NaN}}]', "not valid JSON"),
    ("noid.json", b'[{"data": {"image": "x"}}]', "key `id`"),
    ("strid.json", b'[{"id": "7", "data": {}}]', "id"),
    ("data.json", b'[{"id": 1, "data": "x"}]', "data"),
    (
        "resultnull.json",
        b'[{"id": 1, "data": {}, "annotations": [{"id": 1, "result": 5}]}]',
        "result",
    ),
    ("min.json", b'[{"image": "x", "id": 1, "annotator": 1, "annotation_id": 3}]', "JSON_MIN"),
    ("coco.json", b'{"images": [], "annotations": [], "categories": []}', "COCO"),
    ("storage.json", b'{"id": 1, "result": [], "task": {"id": 1}}', "export-storage"),
    ("t.csv", b"image,choice\nx,y\n", "CSV"),
    ("t.tsv", b"image\tchoice\n", "TSV"),
    ("csv.json", b"image,choice\nx,y\n", "CSV"),
    ("v.xml", b"<annotation/>", "Pascal VOC"),
    ("y.txt", b"0 0.5 0.5 0.1 0.1", "YOLO"),
    # the explanation of a refusal must not fail on what made the decode fail
    ("outofrange.json", b'[{"id": null, "data": {}, "zz": 1e400}]', "task #1"),
    ("scalars.json", b"1 2", "not JSON (JSON is malformed: trailing characters"),
    ("surrogate.json", b'[{"id": null, "data": {}, "predictions": "\xed\xa0\x80"}]', "task #1"),
    # a number too large for a float, in a value compared by position (no `origin`)
    (
        "huge.json",
        b'[{"id": 1, "data": {}, "annotations": [{"id": 1, "parent_prediction": 2, "result": '
        b'[{"type": "k", "value": {"x": 1' + b"0" * 400 + b'}}]}], "predictions": [{"id": 2, '
        b'"result": [{"type": "k", "value": {"x": 1}}]}]}]',
        "too large",
    ),
]


@pytest.mark.parametrize(("name", "content", "needle"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_file_and_the_problem(
    tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ExportRefused) as caught:
        load(path, CONFIG)
    assert needle in caught.value.reason
    assert str(path) in str(caught.value)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    config = parse_config({"limits": {"max_export_mb": 0.001}}, base=tmp_path)
    path = write_export(tmp_path, "big.json", [task(i) for i in range(40)], mtime=1)
    with pytest.raises(ExportRefused, match="max_export_mb"):
        load(path, config)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(ExportRefused, match="not a regular file"):
        load(fifo, CONFIG)


@pytest.mark.parametrize("where", ["top", "data", "value"])
def test_deeply_nested_json_is_refused(tmp_path: Path, where: str) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    text = {
        "top": deep,
        "data": '[{"id": 1, "data": {"image": "a/b/c", "deep": ' + deep + "}}]",
        "value": '[{"id": 1, "data": {}, "predictions": [{"id": 1, "result": [{"value": '
        + deep
        + '}]}], "annotations": [{"id": 1, "result": []}]}]',
    }[where]
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExportRefused, match="nested too deeply"):
        load(path, CONFIG)
