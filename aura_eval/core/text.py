"""Text from files made safe to print: one place for every layer that shows file contents on a terminal.

A state-file header, a results JSON or a data file can hold ESC sequences (clear the screen, move the
cursor, recolour), carriage returns and newlines (overwrite or fake a line), and Unicode bidi controls
(show text in another order than it has). `printable` shows each of them as a visible escape instead.
"""

from __future__ import annotations

import unicodedata

# Unicode's bidirectional embedding, override and isolate controls, and the implicit marks.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in NAMED_ESCAPES:
        return NAMED_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def needs_escape(char: str) -> bool:
    """C0 and C1 controls and DEL (category Cc), line and paragraph separators, and the bidi controls."""
    return char in BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Zl", "Zp")


def printable(value: object) -> str:
    """`str(value)` on one line with its control characters shown as escapes (ESC -> \\x1b, newline -> \\n,
    RIGHT-TO-LEFT OVERRIDE -> \\u202e); every other character, accents and emoji included, is kept."""
    text = value if isinstance(value, str) else str(value)
    if not any(needs_escape(c) for c in text):
        return text
    return "".join(_escape(c) if needs_escape(c) else c for c in text)
