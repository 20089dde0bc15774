"""The progress bar `sensor replay` draws on stderr (`--progress`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the pipeline calls the bar with its own objects
    from sensor.capture.base import PacketSource
    from sensor.pipeline import Summary

__all__ = ["Progress"]


class Progress:
    """A one-line progress bar on stderr, redrawn at most twice a second."""

    def __init__(self) -> None:
        self._next = 0.0
        self._t0 = time.monotonic()

    def __call__(self, src: PacketSource, s: Summary) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.5
        total = src.stats.bytes_total or 0
        pct = f"{100 * src.stats.bytes_read / total:5.1f}%" if total else "    ?"
        rate = s.packets / max(now - self._t0, 1e-9)
        name = Path(src.name).name[:30]
        sys.stderr.write(f"\r{name:30} {pct} {s.packets:>12,} packets {rate:>10,.0f}/s")
        sys.stderr.flush()

    def done(self) -> None:
        """End the bar's line, so what follows starts on its own."""
        sys.stderr.write("\n")
