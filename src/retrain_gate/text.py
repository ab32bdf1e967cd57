"""Showing untrusted text (file names, task names, typed names) literally and safely.

Export content and file names can hold ANSI/OSC escapes, bidi overrides or newlines; printed
raw they could restyle a terminal or hide text. `printable` makes every such character visible
as an escape, and bounds the length.
"""

from __future__ import annotations

import unicodedata

_MAX = 400


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
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
            out.append(_escape(char))
        else:
            out.append(char)
    shown = "".join(out)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown
