"""EveFlowLog: flow records as EVE `flow` events in a JSON-lines file, for EVE readers.

It takes the flow store's own Arrow batches (FlowStore.exports), so every line carries the
same `flow_id` and `community_id` as the row in the `flows` table, and nothing is computed
twice. A write error is logged once per failure and counted; the rows are in the store.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from sensor.sinks.eve import flow_line_array

__all__ = ["EveFlowLog"]

log = logging.getLogger(__name__)


class EveFlowStats:
    """Counters for metrics (lines are `sent`; a failed write counts its lines as failed)."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0
        self.dropped = 0


class EveFlowLog:
    """A flow export writing one EVE flow event per record."""

    name = "eve_flows"

    def __init__(self, path: Path, host: str) -> None:
        self.path = path
        self.host = host
        self.stats = EveFlowStats()
        self.queue_depth = 0
        self._fd = -1

    def export_flows(self, table: pa.Table) -> None:
        """Append one line per record of a flushed batch.

        Live capture runs several workers on the same file, so lines go out in chunks of
        whole lines, each one write() on an O_APPEND descriptor: the kernel appends each
        chunk in one piece, and lines of two workers never interleave.
        """
        try:
            if self._fd < 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                self._fd = os.open(self.path, flags, 0o644)
            for at in range(0, len(table), _CHUNK_LINES):
                lines = flow_line_array(table.slice(at, _CHUNK_LINES), self.host)
                # the array's data buffer is the lines back to back: written as it is
                offsets = np.frombuffer(memoryview(lines.buffers()[1]), np.int32)
                first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
                _write_all(self._fd, memoryview(lines.buffers()[2] or b"")[first:last])
        except OSError as e:
            self.stats.failed += len(table)
            log.error("EVE flow log %s: cannot write (%s); rows are in the store", self.path, e)
            self.close()
            return
        self.stats.sent += len(table)

    def close(self) -> None:
        """Close the file (reopened on the next batch)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


_CHUNK_LINES = 4096
"""Lines built and written at a time (about 2.5 MB): small enough that the Arrow buffers
of one chunk are reused by the next instead of taking fresh memory from the kernel."""


def _write_all(fd: int, data: memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
