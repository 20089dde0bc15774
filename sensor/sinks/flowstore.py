"""FlowStore: ended flows -> immutable Parquet segments of the `flows` table, plus the catalog.

Layout (the analysts' contract, documented in docs/storage.md):

    <catalog>.duckdb                      views `flows`, `alerts`, ... (open it with DuckDB)
    <catalog>.data/flows/sensor=<name>/date=<YYYY-MM-DD>/<segment>.parquet

Writing, retries and the drop accounting are the SegmentWriter's (sinks/segments.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sensor.flow.state import FlowState
from sensor.sinks.catalog import ensure_catalog
from sensor.sinks.records import RecordBuffer
from sensor.sinks.schema import RECORD_COLUMNS, arrow_schema
from sensor.sinks.segments import (
    FlushTimer,
    SegmentWriter,
    StoreConfig,
    StoreStats,
    data_dir_for,
)

__all__ = ["FlowStore", "StoreConfig", "StoreStats", "data_dir_for"]


class FlowStore:
    """The `flows` sink. Single-threaded; call flush() regularly, close() at the end."""

    name = "flowstore"

    def __init__(self, cfg: StoreConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._records = RecordBuffer()
        self._writer = SegmentWriter(cfg, "flows", arrow_schema(RECORD_COLUMNS), "ts_start")
        self._timer = FlushTimer(cfg, clock)
        self.stats = self._writer.stats
        self.data_dir = self._writer.data_dir
        ensure_catalog(cfg.catalog, self.data_dir)

    def write_flow(self, flow: FlowState, reason: str) -> None:
        """Buffer the flow's record; writes a segment when enough rows are waiting."""
        self._records.append(flow, reason)
        if len(self._records) >= self.cfg.flush_rows:
            self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        """Write buffered rows if the row or time threshold is reached (or `force`)."""
        if not self._timer.due(force):
            return
        table = self._records.take()
        if table is not None:
            self._writer.add(table)
        self._writer.write_pending()

    @property
    def backlog(self) -> int:
        """Rows not yet in a segment."""
        return len(self._records) + self._writer.pending_rows

    def close(self) -> None:
        """Write everything still buffered."""
        self.flush(force=True)
