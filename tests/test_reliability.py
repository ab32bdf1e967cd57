"""The bad-input catalogue (docs/reliability.md) through the real `check` and `watch`.

Every bad file gets a message naming it and the problem; the figures from the good files are
exactly what they are without the bad ones; the watcher keeps running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lsbuild import ann, kp, task
from tests.waiting import CLI, check_json

GOOD = [
    task(i, f"/d/?d=e/{s}/ep{i}/f.jpg", annotations=[ann(i, [kp(1, 1, origin="manual")])])
    for i, s in enumerate(["pick", "stack", "pour"], start=1)
]

BAD: dict[str, tuple[bytes, str]] = {
    # name: (content, words the refusal must contain)
    "empty.json": (b"", "empty"),
    "empty-list.json": (b"[]", "no tasks"),
    "empty-object.json": (b"{}", "empty"),
    "truncated.json": (json.dumps(GOOD).encode()[:-20], "truncated"),
    "latin1.json": ('[{"id": 9, "data": {"image": "café"}}]'.encode("latin-1"), "UTF-8"),
    "json-min.json": (
        b'[{"image": "a.jpg", "id": 1, "annotator": 1, "annotation_id": 2}]',
        "JSON_MIN",
    ),
    "export.csv": (b"image,choice\na.jpg,x\n", "CSV"),
    "export.tsv": (b"image\tchoice\na.jpg\tx\n", "TSV"),
    "coco.json": (b'{"images": [], "annotations": [], "categories": []}', "COCO"),
    "storage-1.json": (b'{"id": 5, "result": [], "task": {"id": 1, "data": {}}}', "export-storage"),
    "no-id.json": (b'[{"data": {"image": "e/x/y/z.jpg"}}]', "`id`"),
    "data-string.json": (b'[{"id": 1, "data": "e/x/y/z.jpg"}]', "data"),
    "result-number.json": (
        b'[{"id": 1, "data": {}, "annotations": [{"id": 1, "result": 7}]}]',
        "result must be a list",
    ),
    "nan.json": (b'[{"id": 1, "data": {"image": NaN}}]', "NaN"),
    "deep.json": (b"[" * 20000 + b"]" * 20000, "nested too deeply"),
    "voc.xml": (b"<annotation></annotation>", "Pascal VOC"),
    "yolo.txt": (b"0 0.5 0.5 0.2 0.2\n", "YOLO"),
    "name with spaces ü\nnewline.json": (b"[", "truncated"),
}

ACCEPTED: dict[str, bytes] = {
    # valid variants: ingested, no message
    "bom.json": b"\xef\xbb\xbf" + json.dumps([task(50, "/d/?d=e/pick/epB/f.jpg")]).encode(),
    "legacy.json": json.dumps(
        [{"id": 51, "data": {"image": "/d/?d=e/pick/epL/f.jpg"}, "completions": []}]
    ).encode(),
}


def project(folder: Path, with_bad: bool) -> Path:
    exports = folder / "exports"
    exports.mkdir(parents=True)
    (folder / "eval").mkdir()
    (exports / "good.json").write_text(json.dumps(GOOD), encoding="utf-8")
    for name, content in ACCEPTED.items():
        (exports / name).write_bytes(content)
    if with_bad:
        for name, (content, _) in BAD.items():
            (exports / name).write_bytes(content)
        os.mkfifo(exports / "fifo.json")
        os.symlink("loop.json", exports / "loop.json")
        big = exports / "huge.json"
        with big.open("wb") as handle:
            handle.truncate(2 * 1024**3)  # sparse: 2 GB on paper, nothing on disk
    (folder / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n'
        "[limits]\nmax_export_mb = 100\n[watch]\nsettle_seconds = 0.3\n",
        encoding="utf-8",
    )
    return folder


def figures(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("refused_files", "eval", "gates")}


def test_check_refuses_each_bad_file_and_keeps_the_figures(tmp_path: Path) -> None:
    clean = check_json(project(tmp_path / "clean", with_bad=False))
    dirty_folder = project(tmp_path / "dirty", with_bad=True)
    dirty = check_json(dirty_folder)
    assert figures(dirty) == figures(clean)
    refused = dirty["refused_files"]
    exports = dirty_folder / "exports"
    for name, (_, words) in BAD.items():
        assert words in refused[str(exports / name)], name
    assert "not a regular file" in refused[str(exports / "fifo.json")]
    assert "symbolic links" in refused[str(exports / "loop.json")]
    assert "max_export_mb" in refused[str(exports / "huge.json")]
    assert not any(str(exports / name) in refused for name in ACCEPTED)
    # Refusals are remembered: a second run neither re-reads them nor loses them.
    assert check_json(dirty_folder) == dirty


def test_hostile_file_names_are_printed_escaped(tmp_path: Path) -> None:
    folder = project(tmp_path, with_bad=False)
    (folder / "exports" / "\x1b]0;pwned\x07\x1b[31mred.csv").write_bytes(b"a,b\n")
    out = subprocess.run([*CLI, "check"], cwd=folder, capture_output=True, text=True)
    assert "\x1b" not in out.stdout + out.stderr
    assert "\\x1b]0;pwned\\x07\\x1b[31mred.csv" in out.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    folder = project(tmp_path, with_bad=False)
    locked = folder / "exports" / "locked.json"
    locked.write_text("[]", encoding="utf-8")
    locked.chmod(0)
    assert "permission" in check_json(folder)["refused_files"][str(locked)]


def test_watch_survives_the_catalogue(tmp_path: Path) -> None:
    folder = project(tmp_path, with_bad=False)
    log = folder / "watch.out"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "watch"], cwd=folder, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while "WAIT" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for name, (content, _) in BAD.items():
            (folder / "exports" / name.replace("\n", "_")).write_bytes(content)
        os.mkfifo(folder / "exports" / "fifo.json")
        while log.read_text(errors="replace").count("refused") < len(BAD) + 1:
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        (folder / "exports" / "late.json").write_text(
            json.dumps([task(99, "/d/?d=e/pick/epZ/f.jpg", annotations=[ann(1, [])])]),
            encoding="utf-8",
        )
        while "late.json: 1 frame, 1 new" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        assert proc.poll() is None
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
