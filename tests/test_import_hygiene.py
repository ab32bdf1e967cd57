"""The core never imports Textual: `retrain-gate check` and the core modules start without it."""

from __future__ import annotations

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


def test_check_runs_without_importing_textual(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "exports").mkdir()
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    code = (
        "import sys\n"
        "from retrain_gate.cli import main\n"
        f"rc = main(['check', '--config', {str(tmp_path / 'config.toml')!r}])\n"
        "assert 'textual' not in sys.modules, 'check imported textual'\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "WAIT" in result.stdout


def test_check_with_nothing_new_loads_neither_the_reader_nor_watchdog(tmp_path: Path) -> None:
    """Start-up time: `check` with nothing to ingest must not pay for the export reader
    (msgspec, the two-process parse) or the watcher's watchdog."""
    (tmp_path / "exports").mkdir()
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    code = (
        "import sys\n"
        "from retrain_gate.cli import main\n"
        f"rc = main(['check', '--config', {str(tmp_path / 'config.toml')!r}])\n"
        "loaded = [m for m in ('retrain_gate.loader', 'retrain_gate.exports', 'msgspec',\n"
        "                      'retrain_gate.service', 'watchdog') if m in sys.modules]\n"
        "assert not loaded, f'check imported {loaded}'\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "WAIT" in result.stdout
