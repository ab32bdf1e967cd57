"""`retrain-gate watch` as a real process: files dropped by cp, mv and a slow writer show up
exactly once in `check`, a partial file never does, and SIGTERM stops it within a second."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.lsbuild import ann, kp, task
from tests.waiting import CLI, wait_for
from tests.watchkit import Watch, check


def export_bytes(first_id: int, subdir: str) -> bytes:
    tasks = [
        task(
            first_id + i,
            f"/data/local-files/?d=e/{subdir}/ep{first_id}/f{i}.jpg",
            annotations=[ann(first_id + i, [kp(1, 1, origin="manual")])],
        )
        for i in range(3)
    ]
    return json.dumps(tasks).encode("utf-8")


def test_cp_mv_and_a_slow_writer_each_count_once(folder: Path, watch: Watch) -> None:
    staging = folder / "staging.json"
    staging.write_bytes(export_bytes(100, "pick"))
    shutil.copy(staging, folder / "exports" / "by-cp.json")
    wait_for(lambda: "by-cp.json: 3 frames" in watch.text(), timeout=20)

    (folder / "exports" / "by-mv.json.part").write_bytes(export_bytes(200, "stack"))
    os.rename(folder / "exports" / "by-mv.json.part", folder / "exports" / "by-mv.json")
    wait_for(lambda: "by-mv.json: 3 frames" in watch.text(), timeout=20)

    data = export_bytes(300, "pour")
    with (folder / "exports" / "slow.json").open("wb") as handle:
        for start in range(0, len(data), 200):
            handle.write(data[start : start + 200])
            handle.flush()
            time.sleep(0.05)
    wait_for(lambda: "slow.json: 3 frames" in watch.text(), timeout=20)

    wait_for(lambda: "have 3" in watch.text(), timeout=20)
    text = watch.text()
    for name in ("by-cp.json", "by-mv.json", "slow.json"):
        assert text.count(f"ingested {folder / 'exports' / name}") == 1, text
    assert ".part" not in text
    assert "refused" not in text  # the slow file was never read half-written
    assert watch.stop() < 1.5
    assert check(folder)["episodes"] == {"total": 3, "harvested": 3}


def test_a_refused_file_is_reported_and_the_watcher_keeps_going(folder: Path, watch: Watch) -> None:
    (folder / "exports" / "bad.csv").write_text("image,choice\n", encoding="utf-8")
    wait_for(lambda: "refused" in watch.text() and "bad.csv" in watch.text(), timeout=20)
    (folder / "exports" / "good.json").write_bytes(export_bytes(1, "pick"))
    wait_for(lambda: "good.json: 3 frames" in watch.text(), timeout=20)
    assert watch.proc.poll() is None


def test_a_second_watcher_follows_then_takes_over(folder: Path, watch: Watch) -> None:
    second_out = folder / "second.out"
    with second_out.open("wb") as out:
        second = subprocess.Popen([*CLI, "watch"], cwd=folder, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: "following pid" in second_out.read_text(), timeout=20)
            (folder / "exports" / "a.json").write_bytes(export_bytes(1, "pick"))
            wait_for(
                timeout=20, condition=lambda: "have 1" in second_out.read_text()
            )  # it follows the writer's state
            watch.stop()
            wait_for(lambda: "taking over" in second_out.read_text(), timeout=20)
            (folder / "exports" / "b.json").write_bytes(export_bytes(50, "stack"))
            wait_for(lambda: "b.json: 3 frames" in second_out.read_text(), timeout=20)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)


def test_an_edited_config_is_said_with_whether_it_loads(folder: Path, watch: Watch) -> None:
    """Settings apply from the next start: an edit says so (and what is wrong with it), and
    the watcher goes on with the settings it started with."""
    config = folder / "config.toml"
    config.write_text(config.read_text() + "[gates]\nmin_delta_fraction = 0.2\n", encoding="utf-8")
    kept = "the settings it started with stay in use until watch or the dashboard restarts"
    wait_for(lambda: f"config.toml changed; {kept}" in watch.text(), timeout=20)
    config.write_text("[gates\n", encoding="utf-8")
    wait_for(lambda: "cannot be used: config.toml: not valid TOML" in watch.text(), timeout=20)
    (folder / "exports" / "a.json").write_bytes(export_bytes(1, "pick"))
    wait_for(lambda: "a.json: 3 frames" in watch.text(), timeout=20)
    text = watch.text()
    assert text.count("config.toml changed") == 1, text  # once for each edit, not each second
    assert "Traceback" not in text


def test_each_gate_is_named_in_the_words_check_uses(folder: Path, watch: Watch) -> None:
    """watch's one-line summary and check's gate lines say the same verdicts: a gate that
    check calls ALERT or FAIL is never 'no' (which, for the regression gate, read as 'no
    regression')."""
    (folder / "exports" / "a.json").write_bytes(export_bytes(1, "pick"))
    wait_for(lambda: "a.json: 3 frames" in watch.text(), timeout=20)
    result = subprocess.run([*CLI, "check"], cwd=folder, capture_output=True, text=True, timeout=60)
    gates = ("delta", "spread", "eval", "regression")
    lines = [line.split() for line in result.stdout.splitlines()]
    verdicts = [words[:2] for words in lines if words and words[0] in gates]
    expected = "[" + "  ".join(f"{name} {verdict}" for name, verdict in verdicts) + "]"
    assert tuple(name for name, _ in verdicts) == gates
    assert "eval FAIL" in expected  # nothing pinned in this folder
    wait_for(lambda: expected in watch.text(), timeout=20)


def test_files_found_as_they_were_say_so(folder: Path, watch: Watch) -> None:
    """A restart's catch-up that finds every file as it was read says so (the dashboard's
    'catching up: 2 files' was otherwise the last word)."""
    for name, first in (("a.json", 1), ("b.json", 50)):
        (folder / "exports" / name).write_bytes(export_bytes(first, "pick"))
    wait_for(lambda: "a.json: 3 frames" in watch.text() and "b.json: 3 frames" in watch.text(), 20)
    watch.stop()

    again = Watch(folder)
    try:
        wait_for(lambda: "2 files as they were last read" in again.text(), timeout=20)
        text = again.text()
        assert "ingested" not in text
    finally:
        again.stop()
