from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrain_gate.decisions.names import NAME_MAX, NOTE_MAX, validate_name, validate_note

BIDI_CONTROLS = [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice", "Alice"),
        ("  Alice Ng \n", "Alice Ng"),
        ("Zoë Ørsted", "Zoë Ørsted"),
        ("李小龍", "李小龍"),
        ("O'Brien-Smith", "O'Brien-Smith"),
        ("x" * NAME_MAX, "x" * NAME_MAX),
    ],
)
def test_valid_names(raw: str, expected: str) -> None:
    assert validate_name(raw) == expected


def test_name_is_nfc_normalized() -> None:
    decomposed = "Zoe\u0308"
    assert validate_name(decomposed) == "Zo\u00eb"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t "])
def test_empty_name_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        validate_name(raw)


def test_long_name_refused() -> None:
    with pytest.raises(ValueError, match=f"81 characters.*at most {NAME_MAX}"):
        validate_name("x" * 81)


def test_length_counts_after_stripping() -> None:
    assert validate_name("  " + "x" * NAME_MAX + "  ") == "x" * NAME_MAX


@pytest.mark.parametrize("char", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_controls_refused(char: str) -> None:
    with pytest.raises(ValueError, match=f"U\\+{ord(char):04X}") as info:
        validate_name(f"ali{char}ce")
    assert "position 4" in str(info.value)


@pytest.mark.parametrize(
    "char",
    [
        *["\x00", "\x07", "\x1b", "\n", "\r", "\t", "\x7f", "\x85"],
        *["\u200b", "\u200d", "\ufeff", "\u2028", "\u2029", "\u00ad"],
    ],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_control_and_invisible_characters_refused(char: str) -> None:
    with pytest.raises(ValueError, match="control or invisible"):
        validate_name(f"al{char}ice")


def test_lone_surrogate_refused() -> None:
    with pytest.raises(ValueError, match="U\\+D800"):
        validate_name("a\ud800b")


def test_non_string_refused() -> None:
    with pytest.raises(ValueError, match="text"):
        validate_name(42)  # type: ignore[arg-type]


@given(st.text(max_size=120))
def test_name_property(raw: str) -> None:
    try:
        name = validate_name(raw)
    except ValueError as exc:
        assert str(exc)
        return
    assert 1 <= len(name) <= NAME_MAX
    assert name == name.strip()
    assert all(unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Zl", "Zp"} for c in name)


# ---------------------------------------------------------------- notes


def test_note_optional_may_be_empty() -> None:
    assert validate_note("   ", required=False) == ""


def test_note_required() -> None:
    with pytest.raises(ValueError, match="required"):
        validate_note("  ", required=True)
    assert validate_note(" approving early: demo ", required=True) == "approving early: demo"


def test_note_length() -> None:
    assert validate_note("y" * NOTE_MAX, required=False) == "y" * NOTE_MAX
    with pytest.raises(ValueError, match=f"{NOTE_MAX + 1} characters"):
        validate_note("y" * (NOTE_MAX + 1), required=False)


@pytest.mark.parametrize("char", [*BIDI_CONTROLS, "\n", "\x1b", "\u200b"])
def test_note_control_characters_refused(char: str) -> None:
    with pytest.raises(ValueError, match="note contains a control"):
        validate_note(f"looks fine {char}really", required=False)
