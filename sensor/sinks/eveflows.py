"""EveFlowLog: flow records as EVE `flow` events in a JSON-lines file, for EVE readers.

It takes the flow store's own Arrow batches (FlowStore.exports), so every line carries the
same `flow_id` and `community_id` as the row in the `flows` table, and nothing is computed
twice. A write error is logged once per failure and counted; the rows are in the store.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TextIO

import pyarrow as pa

from sensor.sinks.eve import flow_lines

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
        self._out: TextIO | None = None

    def export_flows(self, table: pa.Table) -> None:
        """Append one line per record of a flushed batch."""
        text = "".join(flow_lines(table, self.host))
        try:
            if self._out is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._out = self.path.open("a", encoding="utf-8")
            self._out.write(text)
            self._out.flush()
        except OSError as e:
            self.stats.failed += len(table)
            log.error("EVE flow log %s: cannot write (%s); rows are in the store", self.path, e)
            self.close()
            return
        self.stats.sent += len(table)

    def close(self) -> None:
        """Close the file (reopened on the next batch)."""
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None
