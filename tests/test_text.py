"""core.text.printable: control characters from files shown as escapes, everything else kept."""

from __future__ import annotations

import unicodedata

import pytest

from aura_eval.core.text import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clear screen, cursor home
        ("ok\rfake", "ok\\rfake"),
        ("a\nb\tc", "a\\nb\\tc"),
        ("\x00\x07\x7f", "\\x00\\x07\\x7f"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("abc\u202edef\u2066x\u2069", "abc\\u202edef\\u2066x\\u2069"),  # bidi override and isolate
        ("line\u2028sep\u2029", "line\\u2028sep\\u2029"),
    ],
)
def test_controls_are_escaped(raw, shown):
    assert printable(raw) == shown


def test_ordinary_text_is_kept():
    text = "SmolLM2-135M Ünïcödé 日本語 😀 \\x1b (a written backslash stays) C:\\models"
    assert printable(text) == text
    assert printable(42) == "42" and printable(None) == "None"


def test_nothing_printable_needs_a_terminal_control():
    """Slow reference over the whole BMP: no Cc/Zl/Zp or bidi control survives, and nothing else changes."""
    bidi = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    for code in range(0x10000):
        char = chr(code)
        out = printable(char)
        dangerous = unicodedata.category(char) in ("Cc", "Zl", "Zp") or code in bidi
        assert (out != char) == dangerous, hex(code)
        if dangerous:
            assert out.startswith("\\") and out.isascii() and out.isprintable(), hex(code)
