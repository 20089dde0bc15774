"""Log lines that cannot be used against the terminal reading them.

Capture file names, DNS names, SSIDs and exception messages can carry attacker bytes (ESC
sequences, BEL, NUL, a newline that forges a second log line); the formatter escapes the
message with `sensor.text.escape_text`, so each record stays one visible line.
"""

from __future__ import annotations

import logging
from typing import Any

from sensor.text import escape_text

__all__ = ["SafeFormatter"]


class SafeFormatter(logging.Formatter):
    """A Formatter whose message part is escaped, and whose tracebacks keep their line
    breaks but are escaped line by line and indented: an exception's message may quote the
    wire, and a line of it must not pass for a log record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging names it so
        record.message = escape_text(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # logging names it so
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # logging names it so
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join("  " + escape_text(line) for line in text.split("\n"))
