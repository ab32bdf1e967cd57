"""From the newcomer walkthrough of round 2: `watch` says what `check` says of a project.

A project built like a real Label Studio one with uploaded frames (/data/upload/<project>/...)
got warnings from `check` ("... are Label Studio uploads", "one episode holds ...%"), and
`check` listed a refused CSV export; `watch` on the same folder said neither, so someone who
only runs the watcher never learned that its figures were nonsense or that a file was refused.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from retrain_gate.config import load_config
from retrain_gate.tui.app import make_app
from tests.lsbuild import ann, kp, task, write_export
from tests.test_tui_actions import screen_text, sync
from tests.test_tui_actions import wait_for as wait_for_app
from tests.waiting import CLI, wait_for
from tests.watchkit import Watch

SAMPLES = Path(__file__).parent / "data" / "ls_samples"
UPLOADS = "are Label Studio uploads"


def upload_project(tmp_path: Path) -> Path:
    """Six frames uploaded to Label Studio project 4, one real CSV export beside them."""
    exports = tmp_path / "exports"
    tasks = [
        task(
            i,
            f"/data/upload/4/5e2cfa{i:02d}-video19-frame{i}.jpg",
            annotations=[ann(i, [kp(1, 1)])],
        )
        for i in range(1, 7)
    ]
    write_export(exports, "project-4-at-2026-11-26.json", tasks, mtime=1_000)
    shutil.copy(SAMPLES / "lssdk_csv_test2_result.csv", exports / "project-4.csv")
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n[watch]\nsettle_seconds = 0.3\n',
        encoding="utf-8",
    )
    return tmp_path


def test_watch_warns_of_a_pattern_that_maps_uploads_and_names_files_refused_before_it(
    tmp_path: Path,
) -> None:
    folder = upload_project(tmp_path)
    check = subprocess.run([*CLI, "check"], cwd=folder, capture_output=True, text=True)
    said = check.stdout + check.stderr
    assert UPLOADS in said and "project-4.csv" in said  # what watch must say too
    watch = Watch(folder)  # started after check: the refusal is already recorded
    try:
        wait_for(lambda: "WAIT" in watch.text(), timeout=30, what="the figures")
        wait_for(lambda: UPLOADS in watch.text(), timeout=10, what="the upload warning")
        wait_for(lambda: "project-4.csv" in watch.text(), timeout=10, what="the refused CSV")
        (folder / "exports" / "later.json").write_text("[]", encoding="utf-8")  # a new report
        wait_for(lambda: "later.json" in watch.text(), timeout=20, what="the next ingest")
    finally:
        watch.stop()
    text = watch.text()
    assert "Traceback" not in text
    # said once each, not again at every report
    assert text.count(UPLOADS) == 1, text
    assert sum("refused" in line and "project-4.csv" in line for line in text.splitlines()) == 1
    assert "'upload', episode '4'" in text  # the example that shows what went wrong
    # no release yet: the regression gate is not applicable, in check's word (it was "?")
    assert "regression n/a]" in text, text


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
@sync
async def test_the_dashboard_says_the_pattern_maps_uploads(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    config = load_config(upload_project(tmp_path) / "config.toml")
    app = make_app(config)
    async with app.run_test(size=size) as pilot:
        await wait_for_app(pilot, lambda: app.report is not None and app.report.frames.total == 6)
        await pilot.pause(0.3)
        text = screen_text(app)
    assert "[episodes] pattern looks wrong" in text
    # the finding, with the task and episode it made up, is on the screen, not cut off
    assert "6 frames are Label Studio uploads" in text
    assert "'upload', episode '4'" in text


def test_watch_warns_of_uploads_that_arrive_while_every_gate_stays_the_same(
    tmp_path: Path,
) -> None:
    # The spread is over the declared task only and the uploads are not labeled yet: the
    # new frames change no gate, and watch printed its lines only when a gate changed.
    exports = tmp_path / "exports"
    labeled = [
        task(1, "/data/local-files/?d=runs/pick/ep1/f1.jpg", annotations=[ann(1, [kp(1, 1)])])
    ]
    write_export(exports, "project-1-at-2026-11-25.json", labeled, mtime=1_000)
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n[gates]\ntasks = ["pick"]\n'
        "[watch]\nsettle_seconds = 0.3\n",
        encoding="utf-8",
    )
    watch = Watch(tmp_path)
    try:
        wait_for(lambda: "have 1" in watch.text(), timeout=30, what="the first figures")
        uploads = [task(i, f"/data/upload/4/5e2cfa{i:02d}-frame{i}.jpg") for i in range(2, 8)]
        write_export(exports, "project-1-at-2026-11-26.json", uploads, mtime=2_000)
        wait_for(lambda: "6 frames, 6 new" in watch.text(), timeout=20, what="the uploads")
        wait_for(lambda: UPLOADS in watch.text(), timeout=10, what="the upload warning")
    finally:
        watch.stop()
    assert "Traceback" not in watch.text()
