"""Hostile text end to end: task names, file names, model versions and typed names.

Rich markup, ANSI/OSC escape sequences, a C1 control, bidi overrides and a 10,000-character
name reach retrain-gate from exports (the path's task_subdir, `model_version`), from file
names and from people. They must be shown literally and safely (no raw escape bytes on the
terminal or the screen, markup shown as typed), stored verbatim in the ledger, and escaped in
CSV output against formula injection.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual.widgets import DataTable, Input, Static

from retrain_gate.config import Config
from retrain_gate.decisions.ledger import Ledger
from retrain_gate.text import json_safe, printable
from retrain_gate.tui.app import RetrainGateApp, make_app
from retrain_gate.tui.modals import DecisionModal, ReportModal
from retrain_gate.tui.screens import LedgerScreen
from tests.lsbuild import ann, kp, pred, task, write_export
from tests.test_tui_actions import make_config, screen_text, sync, wait_for
from tests.waiting import CLI, run_cli

# Raw bytes that must never reach a terminal: ESC, BEL, the C1 CSI and the bidi override.
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\u202e")

TASKS = {
    # key: task_subdir (from the image path; it cannot hold "/")
    "markup": "[red]x",
    "link": "[link=http:evil]click",
    "csi": "\x1b[31mred",
    "osc": "\x1b]0;title\x07",
    "osc8": "\x1b]8;;http:x\x07y",
    "bidi": "\u202eabc",
    "c1": "\x9b31m",
    "long": "L" * 10_000,
}
FORMULA_TASKS = ["=HYPERLINK(1)", "+1", "-1", "@SUM(A1)"]
BAD_RELEASE = "[red]v1\x1b[31m\u202e" + "V" * 10_000
FILE_NAME = "\x1b]0;pwned\x07[red]\u202e" + "n" * 150 + ".json"
BAD_FILE = "bad \x1b[31m\u202e[bold].json"


def hostile_tasks(names: list[str]) -> list[dict[str, Any]]:
    """Two harvested, corrected episodes per name: one pre-annotated by each release."""
    out = []
    tid = 0
    for name in names:
        for ep, version in enumerate([BAD_RELEASE, "v2"]):
            tid += 1
            out.append(
                task(
                    tid,
                    f"/d/?d=e/{name}/ep{ep}/f.jpg",
                    predictions=[pred(1000 + tid, [kp(1, 1)], version=version)],
                    annotations=[ann(2000 + tid, [kp(9, 9)], parent=1000 + tid)],
                )
            )
    return out


def write_project(folder: Path, names: list[str]) -> None:
    write_export(folder / "exports", FILE_NAME, hostile_tasks(names), mtime=1_764_000_000)
    (folder / "exports" / BAD_FILE).write_bytes(b"[")
    (folder / "eval").mkdir(exist_ok=True)
    (folder / "eval" / "set.txt").write_text("eval v1\n", encoding="utf-8")
    (folder / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\neval_set = "eval"\n'
        "[gates]\ninitial_corpus_episodes = 4\n[watch]\nsettle_seconds = 0.2\n",
        encoding="utf-8",
    )


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = run_cli(*args, cwd=folder)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def assert_clean(*texts: str) -> None:
    for text in texts:
        for char in FORBIDDEN:
            assert char not in text, f"raw {char!r} in the output"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_project(tmp_path, list(TASKS.values()))
    return tmp_path


# ---------------------------------------------------------------- CLI


def test_check_shows_hostile_names_escaped(folder: Path) -> None:
    out = run(folder, "check")
    assert out.returncode == 0
    assert_clean(out.stdout, out.stderr)
    assert printable(BAD_RELEASE)[:40] in out.stdout  # the release, escaped, in the detail
    assert "[red]v1\\x1b[31m\\u202e" in out.stdout  # markup literal, escapes visible
    assert printable(folder / "exports" / BAD_FILE) in out.stdout  # the refused file, escaped
    assert max(len(line) for line in out.stdout.splitlines()) < 2000  # 10k names are bounded


def test_watch_shows_hostile_names_escaped(folder: Path) -> None:
    log = folder / "watch.out"
    with log.open("wb") as handle:
        proc = subprocess.Popen([*CLI, "watch"], cwd=folder, stdout=handle, stderr=handle)
    try:
        deadline = time.monotonic() + 30
        while log.read_bytes().count(b"refused") < 1 or b"ingested" not in log.read_bytes():
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        time.sleep(0.5)  # the report line after the ingest
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    shown = log.read_text(encoding="utf-8")
    assert_clean(shown)
    assert printable(FILE_NAME) in shown
    assert printable(BAD_FILE) in shown
    assert "Traceback" not in shown


def test_typed_markup_is_a_valid_name_stored_verbatim(folder: Path) -> None:
    note = "[link=http://evil.example]click[/link] =cmd|' /C calc'!A0"
    assert run(folder, "check").returncode == 0
    out = run(folder, "report-regression", "--by", "[red]Kim[/]", "--note", note)
    assert out.returncode == 0, out.stderr
    assert "by [red]Kim[/]" in out.stdout
    [entry] = Ledger(folder / "state").entries()
    assert (entry.actor, entry.note) == ("[red]Kim[/]", note)  # verbatim
    text = run(folder, "ledger")
    assert "[red]Kim[/]" in text.stdout and note in text.stdout
    assert_clean(text.stdout, text.stderr)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("\u202eKim", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("Kim\x1b[31m", "U+001B"),
        ("Kim\x1b]0;title\x07", "U+001B"),
        ("\x9bKim", "U+009B"),
    ],
)
def test_names_with_escapes_or_bidi_are_refused(folder: Path, name: str, shown: str) -> None:
    out = run(folder, "report-regression", "--by", name, "--note", "worse")
    assert out.returncode == 2
    assert "control or invisible formatting character" in out.stderr
    assert shown in out.stderr
    assert_clean(out.stderr)
    assert Ledger(folder / "state").entries() == []


def test_ledger_csv_and_manifest_escape_formulas(tmp_path: Path) -> None:
    write_project(tmp_path, list(TASKS.values()) + FORMULA_TASKS)
    assert run(tmp_path, "pin-eval", "--by", "=Kim", "--note", "+first").returncode == 0
    approve = run(tmp_path, "approve", "--by", "@Kim", "--note=-ok")
    assert approve.returncode == 0, approve.stderr
    assert_clean(approve.stdout, approve.stderr)

    out = run(tmp_path, "ledger", "--csv")
    assert_clean(out.stdout)  # the approval's figures hold the task names: escaped there too
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["name"], r["reason"]) for r in rows] == [("'=Kim", "'+first"), ("'@Kim", "'-ok")]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
    # The payload cell is still the recorded value, exactly.
    entries = Ledger(tmp_path / "state").entries()
    assert [json.loads(r["payload"]) for r in rows] == [e.payload for e in entries]

    manifest = Path(entries[1].payload["manifest"])
    table = list(csv.DictReader(manifest.open(encoding="utf-8", newline="")))
    subdirs = {row["task_subdir"] for row in table}
    for formula in FORMULA_TASKS:
        assert "'" + formula in subdirs  # shown as text by a spreadsheet
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in table for cell in r.values())
    # The rest is verbatim: the manifest names the folders a training pipeline will read.
    assert TASKS["long"] in subdirs and TASKS["markup"] in subdirs and TASKS["csi"] in subdirs


def test_json_output_has_no_raw_bidi_or_c1(folder: Path) -> None:
    assert run(folder, "pin-eval", "--by", "Kim", "--note", "first").returncode == 0
    assert run(folder, "approve", "--by", "Kim", "--override", "--note", "x").returncode == 0
    check = run(folder, "check", "--json")
    ledger = run(folder, "ledger", "--json")
    assert json.loads(check.stdout)["task_counts"] == {}  # parsed back: the same values
    assert json.loads(ledger.stdout)[1]["payload"]["figures"]["top_task"] in TASKS.values()
    assert_clean(check.stdout, check.stderr, ledger.stdout, ledger.stderr)


# ---------------------------------------------------------------- TUI


def assert_screen_clean(app: RetrainGateApp) -> str:
    text = screen_text(app)
    assert_clean(text, app.export_screenshot())
    return text


def hostile_config(tmp_path: Path) -> Config:
    config = make_config(tmp_path, corpus=4)
    names = [TASKS[k] for k in ("markup", "link", "csi", "osc", "bidi", "long")]
    write_export(config.paths.export_dir, FILE_NAME, hostile_tasks(names), mtime=1_764_000_000)
    (config.paths.export_dir / BAD_FILE).write_bytes(b"[")
    return config


@sync
async def test_the_dashboard_shows_hostile_text_literally(tmp_path: Path) -> None:
    config = hostile_config(tmp_path)
    app = make_app(config, live=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: app.report is not None and app.report.frames.total == 12)
        await wait_for(pilot, lambda: "refused" in screen_text(app))
        await pilot.pause(0.3)
        text = assert_screen_clean(app)
        assert "[red]x" in text  # markup shown as typed, not applied
        assert "[link=http:evil]click" in text
        assert "\\x1b[31mred" in text  # escapes made visible
        assert "\\u202eabc" in text
        assert "[red]v1\\x1b[31" in text  # the release name
        assert "LLLLLLLLLL" in text and "L" * 200 not in text  # a 10k name is clipped
        assert printable(BAD_FILE) in text.replace("\n", "")  # the refused file in the log
        assert "pwned" in text  # the ingested file (its name escaped)

        # A person types markup in the report form: valid, recorded verbatim, shown literally.
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportModal))
        app.screen.query_one("#name", Input).value = "[red]Kim[/]"
        app.screen.query_one("#note", Input).value = "[link=http://x]see[/link] [bold]now"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: app.report is not None and app.report.decision == "REGRESSION"
        )
        await wait_for(pilot, lambda: not isinstance(app.screen, DecisionModal))
        await pilot.pause(0.2)
        text = assert_screen_clean(app)
        assert "by [red]Kim[/]" in text
        assert "[link=http://x]see[/link] [bold]now" in text

        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LedgerScreen))
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        text = assert_screen_clean(app)
        assert "[red]Kim[/]" in text and "[link=http://x]see[/link]" in text
    [entry] = Ledger(config.paths.state_dir).entries()
    assert entry.actor == "[red]Kim[/]"
    assert entry.note == "[link=http://x]see[/link] [bold]now"


@pytest.mark.parametrize("name", ["\u202eKim", "Kim\x1b[31m", "Ki\u200bm"])
@sync
async def test_the_form_refuses_names_with_escapes_or_bidi(tmp_path: Path, name: str) -> None:
    config = hostile_config(tmp_path)
    app = make_app(config, live=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: app.report is not None and app.report.frames.total == 12)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportModal))
        app.screen.query_one("#name", Input).value = name
        app.screen.query_one("#note", Input).value = "worse"
        await pilot.press("ctrl+s")
        error = app.screen.query_one("#error", Static)
        await wait_for(pilot, lambda: "invisible formatting" in str(error.render()))
        assert f"U+{ord(next(c for c in name if not c.isalnum())):04X}" in str(error.render())
        assert isinstance(app.screen, ReportModal)  # still open, nothing recorded
        assert_clean(str(error.render()))
        assert_clean(app.export_screenshot())
        assert "\ufffd" in screen_text(app)  # the typed character is marked, not drawn raw
    assert Ledger(config.paths.state_dir).entries() == []


def test_no_stray_files_from_hostile_names(folder: Path) -> None:
    """A file name with escapes is a file like any other: nothing is created beside it."""
    assert run(folder, "check").returncode == 0
    names = sorted(os.listdir(folder / "exports"))
    assert names == sorted([FILE_NAME, BAD_FILE])


@given(
    st.recursive(
        st.text() | st.integers() | st.none(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_json_safe_keeps_the_value_and_drops_raw_unsafe_characters(value: Any) -> None:
    for indent in (None, 2):
        text = json_safe(json.dumps(value, ensure_ascii=False, indent=indent))
        assert json.loads(text) == value
        assert not any(
            not c.isascii() and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co")
            for c in text
        )
