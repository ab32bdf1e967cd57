"""`check`'s progress line on stderr: a bar on a terminal, a plain line now and then
elsewhere. A folder of many storage files is counted once, not also by each file's name."""

from __future__ import annotations

import io

from retrain_gate.progress import FILES_STAGE, TerminalProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_folder_of_files_is_counted_once_on_a_terminal() -> None:
    out = Terminal()
    bar = TerminalProgress(out, delay=0)
    bar.set_file("17048", 17048, 20000)  # a storage file's name is its annotation id
    bar(FILES_STAGE, 17047, 20000)
    line = out.getvalue()
    assert "85% reading files 17,047 of 20,000\x1b[K" in line, repr(line)
    assert "[17048/20000]" not in line


def test_an_export_is_named_with_its_place_in_the_batch() -> None:
    out = Terminal()
    bar = TerminalProgress(out, delay=0)
    bar.set_file("project-1.json", 1, 2)
    bar("reading", 5, 10)
    assert " 50% reading [1/2] project-1.json\x1b[K" in out.getvalue()
    bar.close()
    assert out.getvalue().endswith("\r\x1b[K")  # the line is wiped before the figures


def test_a_log_gets_a_plain_line() -> None:
    out = io.StringIO()
    bar = TerminalProgress(out, delay=0, every=0)
    bar.set_file("17048", 17048, 20000)
    bar(FILES_STAGE, 17047, 20000)
    assert out.getvalue() == "... reading files (17,047/20,000)\n"
