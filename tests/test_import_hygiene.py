"""The core never imports Textual: `retrain-gate check` and the core modules start without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = [
    "retrain_gate.config",
    "retrain_gate.exports",
    "retrain_gate.store",
    "retrain_gate.metrics",
    "retrain_gate.stats",
    "retrain_gate.evalset",
    "retrain_gate.ledger",
    "retrain_gate.actions",
    "retrain_gate.engine",
    "retrain_gate.watcher",
    "retrain_gate.service",
    "retrain_gate.cli",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def modules_loaded_by_check(folder: Path, modules: tuple[str, ...]) -> list[str]:
    """Run `check` on an empty project in a fresh interpreter; which of `modules` it loaded."""
    (folder / "exports").mkdir()
    (folder / "config.toml").write_text("", encoding="utf-8")
    code = (
        "import sys\n"
        "from retrain_gate.cli import main\n"
        f"rc = main(['check', '--config', {str(folder / 'config.toml')!r}])\n"
        f"print([m for m in {modules!r} if m in sys.modules])\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "WAIT" in result.stdout
    loaded: list[str] = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    return loaded


def test_check_runs_without_importing_textual(tmp_path: Path) -> None:
    assert modules_loaded_by_check(tmp_path, ("textual",)) == []


def test_check_with_nothing_new_loads_neither_the_reader_nor_watchdog(tmp_path: Path) -> None:
    """Start-up time: `check` with nothing to ingest must not pay for the export reader
    (msgspec, the two-process parse) or the watcher's watchdog."""
    reader_and_watcher = (
        "retrain_gate.loader",
        "retrain_gate.exports",
        "msgspec",
        "retrain_gate.service",
        "watchdog",
    )
    assert modules_loaded_by_check(tmp_path, reader_and_watcher) == []
