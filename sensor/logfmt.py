"""Log lines that cannot be used against the terminal reading them.

Capture file names, DNS names, SSIDs and exception messages can carry attacker bytes (ESC
sequences, BEL, NUL, a newline that forges a second log line); the formatter escapes every
control character of the message, so each record stays one visible line.
"""

from __future__ import annotations

import logging
import re

__all__ = ["SafeFormatter", "escape_controls"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def escape_controls(text: str) -> str:
    """`text` with C0/C1 control characters (and line separators) written as escapes."""
    return _CONTROL.sub(_escape, text)


class SafeFormatter(logging.Formatter):
    """A Formatter whose message part is escaped (tracebacks keep their own line breaks)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)
