"""Resource bounds: a folder of 10,000 files, and nothing that grows for the length of a session.

Structures that live as long as the TUI: the activity log (ACTIVITY_LINES), the watcher's
record of handed-over files (bounded by the files in the folder, pruned by rescans), the
refused-file records (store.MAX_REFUSED_RECORDS, and dropped once the file is gone), the
delta's history (SPARK_DAYS points). Caches (the ledger replay, the eval hash) hold one value.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual import events
from textual.widget import Widget
from textual.widgets import RichLog

from retrain_gate.config import load_config
from retrain_gate.decisions.ledger import Ledger
from retrain_gate.engine import CacheSizes, Engine
from retrain_gate.history import SPARK_DAYS, outlook
from retrain_gate.live.watcher import ExportWatcher, WatchCounts, WatchEvent
from retrain_gate.store import MAX_REFUSED_RECORDS, FrameStore
from retrain_gate.tui.app import ACTIVITY_LINES, make_app
from retrain_gate.tui.messages import Activity
from retrain_gate.tui.screens import HelpScreen
from tests.test_tui_actions import four_episodes, make_config, sync, wait_for
from tests.waiting import check_json


def many_files(folder: Path, count: int, *, bad_every: int = 7) -> tuple[int, int]:
    """`count` one-task exports, every `bad_every`-th one broken; (good, bad)."""
    folder.mkdir(parents=True, exist_ok=True)
    bad = 0
    for i in range(count):
        if i % bad_every == 0:
            data = b"[" if i % 2 else b""
            bad += 1
        else:
            data = json.dumps(
                [
                    {
                        "id": i,
                        "data": {"image": f"/d/?d=e/t{i % 5}/ep{i}/f.jpg"},
                        "annotations": [{"id": i, "result": [], "updated_at": "2026-01-01"}],
                    }
                ]
            ).encode()
        (folder / f"f{i:05d}.json").write_bytes(data)
    return count - bad, bad


def write_config(folder: Path) -> None:
    (folder / "eval").mkdir(exist_ok=True)
    (folder / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n', encoding="utf-8"
    )


def mtimes(state: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in state.iterdir() if p.suffix != ".lock"}


def assert_nothing_is_read_again(folder: Path) -> None:
    """An engine on the saved state finds no file to read (every one is known unchanged)."""
    engine = Engine(load_config(folder / "config.toml"), persist=False)
    results, _ = engine.refresh()
    assert results == []


def many_files_then_check_twice(tmp_path: Path, count: int, timeout: float) -> None:
    good, bad = many_files(tmp_path / "exports", count)
    write_config(tmp_path)
    first = check_json(tmp_path, timeout)
    assert first["frames"]["total"] == good
    assert len(first["refused_files"]) == bad
    state = tmp_path / "state"
    before = mtimes(state)
    second = check_json(tmp_path, timeout=60)
    assert second == first
    assert mtimes(state) == before  # nothing was written: nothing new was read
    assert_nothing_is_read_again(tmp_path)


def test_a_thousand_files_then_a_second_check_reads_nothing(tmp_path: Path) -> None:
    many_files_then_check_twice(tmp_path, 1_000, timeout=120)


@pytest.mark.slow
def test_ten_thousand_files_then_a_second_check_reads_nothing(tmp_path: Path) -> None:
    many_files_then_check_twice(tmp_path, 10_000, timeout=120)


def test_the_watcher_catches_up_with_ten_thousand_files_and_stays_bounded(
    tmp_path: Path,
) -> None:
    exports = tmp_path / "exports"
    many_files(exports, 10_000)
    handed: list[Path] = []
    events_seen: list[WatchEvent] = []
    watcher = ExportWatcher(
        exports,
        settle_seconds=0.2,
        max_wait_seconds=60,
        rescan_seconds=0.5,
        polling=False,
        on_changes=lambda ready, _removed: handed.extend(ready),
        on_event=events_seen.append,
    )
    watcher.start()
    try:
        deadline = time.monotonic() + 40
        while len(handed) < 10_000:
            assert time.monotonic() < deadline, f"only {len(handed)} handed over"
            time.sleep(0.1)
        time.sleep(1.2)  # two rescans: nothing is handed over again
        assert len(handed) == len(set(handed)) == 10_000
        assert watcher.counts() == WatchCounts(handed=10_000, pending=0, hints=0)
        for path in sorted(exports.iterdir())[:5_000]:
            path.unlink()
        deadline = time.monotonic() + 20
        while watcher.counts().handed > 5_000:  # a complete rescan forgets deleted files
            assert time.monotonic() < deadline, watcher.counts()
            time.sleep(0.1)
        assert watcher.counts() == WatchCounts(handed=5_000, pending=0, hints=0)
        assert len(events_seen) < 5_100  # one "vanished" at most per deleted file
    finally:
        assert watcher.close(5)


@sync
async def test_the_dashboard_answers_keys_during_a_ten_thousand_file_catch_up(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    many_files(config.paths.export_dir, 10_000)
    app = make_app(config, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one("#activity", RichLog)
        await wait_for(pilot, lambda: any("catching up: 10,000 files" in s.text for s in log.lines))
        service = app.service
        assert service is not None
        await wait_for(pilot, lambda: len(service.engine.store.registry()) >= 20)

        # A real key event (not Pilot's press, which waits for the app to be idle: it never
        # is while 10,000 files are read): the help opens at once, mid catch-up.
        pressed = time.monotonic()
        app.post_message(events.Key("question_mark", "?"))
        while not isinstance(app.screen, HelpScreen):
            assert time.monotonic() - pressed < 2.0, "the key was not handled"
            await asyncio.sleep(0.01)
        assert len(service.engine.store.registry()) < 10_000  # still catching up
        app.post_message(events.Key("escape", None))
        await wait_for(pilot, lambda: app.screen is app.screen_stack[0])

        watcher = service.watcher
        assert watcher is not None
        counts = watcher.counts()
        assert counts.pending + counts.handed <= 10_000
        assert threading.active_count() < 30  # no worker thread per report piling up
        assert len(log.lines) <= ACTIVITY_LINES
    # Quitting mid-ingest is clean (no message reaches a dashboard that is gone).


@sync
async def test_the_activity_log_is_bounded(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    app = make_app(config, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(3 * ACTIVITY_LINES):
            app.post_message(Activity(f"refused f{i}.json: empty", 0.0, level="warning"))
        await pilot.pause()
        log = app.query_one("#activity", RichLog)
        assert len(log.lines) == ACTIVITY_LINES
        assert f"f{3 * ACTIVITY_LINES - 1}.json" in log.lines[-1].text


def _live_widgets() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Widget))


@sync
async def test_screens_opened_and_closed_all_day_leave_no_widgets_behind(tmp_path: Path) -> None:
    """Every modal re-composes the Footer; Textual keeps the old keys (and up to 1024 style
    caches) alive unless the app releases them. Counted as live Widget objects, so the test
    sees what a days-long session would keep, whatever the timer's phase."""
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    app = make_app(config, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark", "escape")
        app.release_stale_widgets()
        await pilot.pause()
        before = _live_widgets()
        for _ in range(20):
            await pilot.press("question_mark", "escape")
        app.release_stale_widgets()
        await pilot.pause()
        after = _live_widgets()
    # Unreleased, 20 open/close pairs kept ~7 FooterKeys each (~140 widgets).
    assert after <= before + 5, (before, after)


def test_refused_records_are_bounded_and_forgotten_with_their_files(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    exports = config.paths.export_dir
    exports.mkdir()
    store = FrameStore(config.paths.state_dir, config, persist=False)
    count = MAX_REFUSED_RECORDS + 500
    for i in range(count):
        path = exports / f"bad{i:05d}.json"
        path.write_bytes(b"")
        assert store.ingest(path).outcome == "refused"
    refused = [k for k, v in store.registry().items() if v.outcome == "refused"]
    assert len(refused) == MAX_REFUSED_RECORDS
    assert refused[-1].endswith(f"bad{count - 1:05d}.json")  # the newest are kept
    for path in exports.iterdir():
        path.unlink()
    store.forget_missing()
    assert store.registry() == {}


def test_the_history_has_a_fixed_number_of_points(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    engine = Engine(config, persist=False)
    _, report = engine.refresh()
    start = datetime(2023, 1, 1, tzinfo=UTC)
    harvested = [start + timedelta(hours=7 * i) for i in range(4_000)]  # three years
    result = outlook(
        report,
        harvested,
        latest_activity=harvested[-1],
        ingests=[(float(i), "ingested") for i in range(10_000)],
    )
    assert len(result.daily_delta) == SPARK_DAYS


def test_engine_caches_hold_one_value(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    four_episodes(config.paths.export_dir)
    Ledger(config.paths.state_dir).append("report", "Kim", {"note": "worse"})
    engine = Engine(config, persist=False)
    for i in range(50):
        (config.paths.eval_set / "set.txt").write_text(f"eval v{i}\n", encoding="utf-8")
        os.utime(config.paths.eval_set / "set.txt", ns=(i * 10**9, i * 10**9))
        engine.refresh()
    assert engine.cache_sizes() == CacheSizes(ledger_replays=1, eval_hashes=1, eval_files=1)
