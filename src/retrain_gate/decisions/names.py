"""Validation of the typed name and note that go into every ledger entry.

A ledger entry is attributed to the name a person typed, so the name must read the same to every
reader: control and invisible formatting characters (bidi overrides, zero-width joiners) could
make one name look like another, or reorder the text of a note on screen, and are refused.
"""

from __future__ import annotations

import unicodedata

from retrain_gate.text import is_unsafe

NAME_MAX = 80
NOTE_MAX = 2000


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    return f"{code} {name}" if name else code


def _first_refused(text: str) -> tuple[int, str] | None:
    for index, char in enumerate(text):
        if is_unsafe(char):
            return index, char
    return None


def _check_characters(text: str, what: str) -> None:
    found = _first_refused(text)
    if found is not None:
        index, char = found
        raise ValueError(
            f"{what} contains a control or invisible formatting character "
            f"({_describe(char)}) at position {index + 1}; type it again as plain text"
        )


def validate_name(raw: str) -> str:
    """Return the name to record for `raw`, or raise `ValueError` saying what is wrong.

    Surrounding whitespace is dropped and the name is NFC-normalised, so that the same name typed
    on two keyboards (precomposed or combining accents) is recorded the same way.
    """
    if not isinstance(raw, str):
        raise ValueError(f"name must be text, not {type(raw).__name__}")
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise ValueError("name is empty; type the name of the person making this decision")
    _check_characters(name, "name")
    if len(name) > NAME_MAX:
        raise ValueError(f"name is {len(name)} characters long; at most {NAME_MAX} are allowed")
    return name


def validate_note(raw: str, required: bool) -> str:
    """Return the note to record for `raw`, or raise `ValueError` saying what is wrong.

    The note is one line of text: line breaks are refused like every other control character,
    because notes are shown on one line in the terminal and in CSV exports.
    """
    if not isinstance(raw, str):
        raise ValueError(f"note must be text, not {type(raw).__name__}")
    note = unicodedata.normalize("NFC", raw.strip())
    if required and not note:
        raise ValueError("a note is required here; say briefly why")
    _check_characters(note, "note")
    if len(note) > NOTE_MAX:
        raise ValueError(f"note is {len(note)} characters long; at most {NOTE_MAX} are allowed")
    return note
