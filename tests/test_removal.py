"""§1 with `watch` running: a removed or renamed export takes its versions with it, and what
left while nobody watched is removed when the writer starts (the rules in-process:
tests/unit/test_removal.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.lsbuild import write_export
from tests.unit.test_removal import DAY1, reviewed
from tests.waiting import wait_for
from tests.watchkit import Watch, check


def test_removed_and_renamed_exports_under_watch(folder: Path, watch: Watch) -> None:
    """The issue's sequence with `watch` running: `cp X A.json; rm A.json; cp X B.json`,
    then `mv B.json C.json`. No traceback; each removal said; the figures follow."""
    exports = folder / "exports"
    base = write_export(folder, "base.json", [reviewed(1, DAY1), reviewed(2, DAY1)], mtime=900)
    x = write_export(folder, "X.json", [reviewed(3, DAY1), reviewed(4, DAY1)], mtime=1_000)
    shutil.copy(base, exports / "base.json")
    shutil.copy(x, exports / "A.json")
    wait_for(lambda: "A.json: 2 frames" in watch.text(), timeout=20)
    assert check(folder)["frames"]["total"] == 4
    (exports / "A.json").unlink()
    wait_for(lambda: "removed" in watch.text() and "A.json: its versions" in watch.text())
    assert check(folder)["frames"]["total"] == 2
    shutil.copy(x, exports / "B.json")
    wait_for(lambda: "B.json: 2 frames" in watch.text(), timeout=20)
    assert check(folder)["frames"]["total"] == 4
    os.rename(exports / "B.json", exports / "C.json")
    wait_for(lambda: "C.json: 2 frames" in watch.text(), timeout=20)
    wait_for(lambda: "B.json: its versions" in watch.text(), timeout=20)
    assert check(folder)["frames"]["total"] == 4
    text = watch.text()
    assert "Traceback" not in text and "StopIteration" not in text and "failed" not in text
    assert watch.proc.poll() is None


def test_an_export_removed_while_no_writer_watched(folder: Path) -> None:
    """`check`, `rm F.json`, then `watch`: the watcher sees only what goes from its start,
    so the writer removes at start what left while nobody watched, and says so."""
    exports = folder / "exports"
    write_export(exports, "F.json", [reviewed(1, DAY1)], mtime=1_000)
    write_export(exports, "G.json", [reviewed(2, DAY1)], mtime=1_100)
    assert check(folder)["frames"]["total"] == 2
    (exports / "F.json").unlink()
    watch = Watch(folder)
    try:
        wait_for(lambda: "F.json: its versions leave the figures" in watch.text(), timeout=20)
        assert check(folder)["frames"]["total"] == 1
        assert "Traceback" not in watch.text()
    finally:
        watch.stop()


def test_a_rename_is_a_removal_at_once_not_at_the_next_rescan(folder: Path) -> None:
    """`mv B.json C.json` then `rm C.json` under `watch`: the rename's old name leaves with
    the rename itself (a walkthrough found B's removal waited for the next full rescan, so
    `rm C.json` left the figures at 4 while `check` said 2)."""
    config = folder / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("rescan_seconds = 2", "rescan_seconds = 600"),
        encoding="utf-8",
    )
    exports = folder / "exports"
    base = write_export(folder, "base.json", [reviewed(1, DAY1), reviewed(2, DAY1)], mtime=900)
    x = write_export(folder, "X.json", [reviewed(3, DAY1), reviewed(4, DAY1)], mtime=1_000)
    shutil.copy(base, exports / "base.json")
    watch = Watch(folder)
    try:
        wait_for(lambda: "base.json: 2 frames" in watch.text(), timeout=20)
        shutil.copy(x, exports / "B.json")
        wait_for(lambda: "B.json: 2 frames" in watch.text(), timeout=20)
        os.rename(exports / "B.json", exports / "C.json")
        wait_for(lambda: "B.json: its versions" in watch.text(), timeout=10)
        wait_for(lambda: "C.json: 2 frames" in watch.text(), timeout=10)
        assert check(folder)["frames"]["total"] == 4
        (exports / "C.json").unlink()
        wait_for(lambda: "C.json: its versions" in watch.text(), timeout=10)
        assert check(folder)["frames"]["total"] == 2
        assert "Traceback" not in watch.text()
    finally:
        watch.stop()
