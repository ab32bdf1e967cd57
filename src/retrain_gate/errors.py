"""Errors a person sees: each carries a message that names the file or key and says what to do."""

from __future__ import annotations

from pathlib import Path


class RetrainGateError(Exception):
    """An error with a message fit to show a user as it is (no traceback)."""


class ConfigError(RetrainGateError):
    """The config file is missing, unreadable or invalid."""


class ExportRefused(RetrainGateError):
    """A file in the export folder is not a usable Label Studio JSON export."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StateError(RetrainGateError):
    """The state folder cannot be read or written."""


class LedgerError(RetrainGateError):
    """The ledger cannot be read, written, or fails verification."""
