"""Text from the wire, made safe to show a person: control characters escaped.

A span port carries whatever anyone sends. A User-Agent, DNS name or SSID can hold ESC
sequences that repaint a terminal, BEL, NUL, or a newline that forges a row of output. Every
place a person reads such text (query tables, CSV, logs, one-line errors) goes through here.
"""

from __future__ import annotations

import re

__all__ = ["escape_text", "first_line"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
"""C0/C1 controls and DEL; bidirectional marks, embeddings, overrides and isolates; zero-width
characters and the byte-order mark (they hide or reorder what a person reads)."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _one(m: re.Match[str]) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def escape_text(text: str) -> str:
    """`text` with C0/C1 controls, DEL and bidirectional overrides written as escapes
    (`\\x1b`, `\\n`, `\\u202e`), and backslashes doubled so an escape cannot be forged."""
    if not _CONTROL.search(text) and "\\" not in text:
        return text
    return _CONTROL.sub(_one, text.replace("\\", "\\\\"))


def first_line(e: BaseException) -> str:
    """An error's first line, escaped: DuckDB and OS messages can span lines (and quote
    text from the wire), while the sensor's errors are one line."""
    text = str(e).strip()
    return escape_text(text.splitlines()[0]) if text else type(e).__name__
