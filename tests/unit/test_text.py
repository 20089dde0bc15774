"""Wire text shown to a person: every control, format and invisible character is escaped,
and a backslash is doubled so an escape cannot be spelt out (found by review)."""

from __future__ import annotations

import pytest

from sensor.report.words import clean
from sensor.text import escape_text


@pytest.mark.parametrize("show", [escape_text, clean])
def test_a_spelt_out_escape_reads_differently_from_a_real_one(show: object) -> None:
    assert callable(show)
    assert show("\x1b[31m.chatgpt.com") == "\\x1b[31m.chatgpt.com"
    assert show("\\x1b[31m.chatgpt.com") == "\\\\x1b[31m.chatgpt.com"


@pytest.mark.parametrize("ch", ["\u200b", "\u200e", "\u200f", "\u061c", "\ufeff", "\u2060"])
def test_invisible_and_direction_marks_are_shown(ch: str) -> None:
    """Zero-width characters, direction marks and the byte-order mark hide or reorder what
    a person reads (`paypal\u200b.com` looks like `paypal.com`)."""
    code = f"\\u{ord(ch):04x}"
    assert escape_text(f"a{ch}b") == f"a{code}b"
    assert clean(f"a{ch}b") == f"a{code}b"
