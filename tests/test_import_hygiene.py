"""`retrain-gate check` starts without Textual, and without the reader when nothing is new.

Which module may import which is stated by the import contracts in pyproject.toml
(`lint-imports`, run by .ci/run); this checks what those cannot: what one real run loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path


def modules_loaded_by_check(folder: Path, modules: tuple[str, ...]) -> list[str]:
    """Run `check` on an empty project in a fresh interpreter; which of `modules` it loaded."""
    (folder / "exports").mkdir()
    (folder / "eval").mkdir()
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
    (msgspec) or the watcher's watchdog."""
    reader_and_watcher = (
        "retrain_gate.loader",
        "retrain_gate.labelstudio.export",
        "msgspec",
        "retrain_gate.live.service",
        "watchdog",
    )
    assert modules_loaded_by_check(tmp_path, reader_and_watcher) == []
