"""Log lines that cannot be used against the terminal reading them.

Capture file names, DNS names, SSIDs and exception messages can carry attacker bytes (ESC
sequences, BEL, NUL, a newline that forges a second log line); the formatter escapes the
message with `sensor.text.escape_text`, so each record stays one visible line.
"""

from __future__ import annotations

import logging

from sensor.text import escape_text

__all__ = ["SafeFormatter"]


class SafeFormatter(logging.Formatter):
    """A Formatter whose message part is escaped (tracebacks keep their own line breaks)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging names it so
        record.message = escape_text(record.message)
        return super().formatMessage(record)
