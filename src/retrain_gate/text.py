"""Showing untrusted text (file names, task names, typed names) literally and safely.

Export content and file names can hold ANSI/OSC escapes, bidi overrides or newlines; printed
raw they could restyle a terminal or hide text. `printable` makes every such character visible
as an escape, and bounds the length.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction

_MAX = 400
# The one policy for text from files and people. Characters a terminal or a text viewer may
# act on, or that reorder or hide text: controls (including C1 such as U+009B CSI), format
# characters (bidi overrides, zero-width), line and paragraph separators, surrogates and
# private-use characters. Shown as escapes, drawn marked in an input, refused in a name.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})


# The regression gate with fewer than two releases: neither a pass nor a failure
# (docs/gates.md); `passed` is null, as with too few episodes.
NOT_APPLICABLE = "not applicable yet"


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 episode`, `3 episodes` (with thousands separators)."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"


def percent(fraction: float | Fraction, digits: int = 1, *, up: bool = False) -> str:
    """A fraction as a percentage to `digits` decimals, without trailing zeros (19/200 ->
    "9.5%", 0.1 -> "10%"). Rounded down, or up for a figure held under a maximum, so that a
    failing figure never reads as meeting its threshold. The one way every figure in the tool
    is written as a percentage."""
    exact = fraction if isinstance(fraction, Fraction) else Fraction(repr(float(fraction)))
    sign = "-" if exact < 0 else ""
    scale = 10**digits
    scaled = abs(exact) * 100 * scale
    whole, part = divmod(math.ceil(scaled) if up else math.floor(scaled), scale)
    text = f"{whole}.{part:0{digits}d}".rstrip("0").rstrip(".") if digits else str(whole)
    return f"{sign}{text}%"


def beyond_decision(decision: str, reason: str) -> str:
    """What a reason says beyond its decision: READY's reason is "ready", and a regression's
    starts "regression: ", which after the decision word would say it twice."""
    rest = reason.strip()
    word = decision.lower()
    if rest.lower() == word:
        return ""
    if rest.lower().startswith(f"{word}:"):
        return rest[len(word) + 1 :].strip()
    return rest


def decision_reason(decision: str, reason: str) -> str:
    """The reason to show beside its decision word (`REGRESSION  v2 needs ...`, not
    `REGRESSION regression: v2 needs ...`); READY's reason says nothing more than the word,
    so it says what READY means. The recorded reason (--json, the ledger) stays as defined."""
    rest = beyond_decision(decision, reason)
    if not rest and decision == "READY":
        return "every gate passes"
    return rest or reason


def percent_shares(counts: Sequence[int], digits: int = 0) -> list[tuple[int, str]]:
    """Each count's share of their sum, as (units of 10**-digits percent, text), rounded so
    that the shown shares add up to exactly 100%: each is rounded down, and the units left
    over go to the largest remainders (ties: the earlier count). Rounding each share on its
    own can show 34% + 33% + 34%. For display only: a gate compares the exact share."""
    total = sum(counts)
    scale = 10**digits
    if total <= 0:
        return [(0, "0%") for _ in counts]
    exact = [Fraction(count * 100 * scale, total) for count in counts]
    units = [math.floor(value) for value in exact]
    left = 100 * scale - sum(units)
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(exact[i] - units[i]), i))
    for i in by_remainder[:left]:
        units[i] += 1
    return [(unit, _percent_text(unit, digits)) for unit in units]


def _percent_text(units: int, digits: int) -> str:
    whole, part = divmod(units, 10**digits)
    return (f"{whole}.{part:0{digits}d}".rstrip("0").rstrip(".") if digits else str(whole)) + "%"


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object, *, limit: int = _MAX) -> str:
    """`text` with control, format (bidi) and separator characters shown as escapes."""
    raw = str(text)
    out = []
    for char in raw:
        if is_unsafe(char):
            out.append(_escape(char))
        else:
            out.append(char)
    shown = "".join(out)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a JSON escape of an astral character is a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_safe(json_text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with every unsafe character
    written as a `\\uXXXX` escape: the same JSON value, but nothing a terminal acts on.

    `json.dumps` already escapes the ASCII controls inside strings (an ASCII control left in
    the text is indentation); this covers the rest (C1 controls such as U+009B, bidi
    overrides, zero-width characters). Non-ASCII characters only occur inside JSON strings,
    where an escape means the same character, so the value is unchanged.
    """
    if json_text.isascii():
        return json_text
    return "".join(
        _json_escape(char) if not char.isascii() and is_unsafe(char) else char for char in json_text
    )


def short_hash(value: str | None) -> str:
    """The first 8 hex digits of a hash, as people compare them; a dash for none."""
    return value[:8] if value else "—"


def article(count: int) -> str:
    """The article before a number read aloud: 'an 11-episode corpus', 'a 12-episode corpus'."""
    lead = count
    while lead >= 1000:
        lead //= 1000
    return "an" if str(count).startswith("8") or lead in (11, 18) else "a"


def clock(at: float) -> str:
    """Local wall-clock time of day for an epoch time: how `watch` and the dashboard stamp
    their lines."""
    return datetime.fromtimestamp(at).strftime("%H:%M:%S")


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: names and notes are typed by people, and a cell
    starting with `=`, `+`, `-`, `@`, tab or CR would run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
