"""FlowStore: ended flows -> immutable Parquet segments in a hive tree, plus the catalog.

Layout (the analysts' contract, documented in docs/storage.md):

    <catalog>.duckdb                      views `flows`, ... (open it with DuckDB)
    <catalog>.data/flows/sensor=<name>/date=<YYYY-MM-DD>/<segment>.parquet

A segment is written to a temporary name and renamed into place, so a reader (or a restarted
sensor after kill -9) only ever sees whole files. If a write fails (disk full, permissions),
rows stay buffered and are retried; only past `max_buffered_rows` are the oldest dropped,
and every dropped row is counted.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sensor.errors import StorageError
from sensor.flow.state import FlowState
from sensor.sinks.catalog import ensure_catalog
from sensor.sinks.records import RecordBuffer
from sensor.sinks.schema import RECORD_COLUMNS, arrow_schema

__all__ = ["FlowStore", "StoreConfig", "StoreStats", "data_dir_for"]

log = logging.getLogger(__name__)

_US_PER_DAY = 86_400_000_000
_SCHEMA_PARTITION = "sensor=_schema/date=1970-01-01"


def data_dir_for(catalog: Path) -> Path:
    """Default segment tree beside the catalog: `x.duckdb` -> `x.data/`."""
    return catalog.with_name(catalog.stem + ".data")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where and how often the store writes."""

    catalog: Path
    sensor: str
    data_dir: Path | None = None
    flush_rows: int = 200_000
    flush_seconds: float = 30.0
    max_buffered_rows: int = 2_000_000


@dataclass(slots=True)
class StoreStats:
    """Counters the metrics endpoint exports."""

    rows_written: int = 0
    segments_written: int = 0
    write_errors: int = 0
    rows_dropped: int = 0
    last_flush_seconds: float = 0.0


class FlowStore:
    """The `flows` sink. Single-threaded; call flush() regularly, close() at the end."""

    name = "flowstore"

    def __init__(self, cfg: StoreConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.stats = StoreStats()
        self._clock = clock
        self._last = clock()
        self._records = RecordBuffer()
        self._pending: list[pa.Table] = []
        self._schema = arrow_schema(RECORD_COLUMNS)
        self._seq = 0
        self.data_dir = cfg.data_dir or data_dir_for(cfg.catalog)
        self._sensor = _partition_value(cfg.sensor)
        self._prepare()

    def _prepare(self) -> None:
        schema_dir = self.data_dir / "flows" / _SCHEMA_PARTITION
        try:
            schema_dir.mkdir(parents=True, exist_ok=True)
            marker = schema_dir / "schema.parquet"
            if not marker.exists():
                self._write_file(self._schema.empty_table(), schema_dir, "schema.parquet")
        except OSError as e:
            raise StorageError(f"{self.data_dir}: cannot create the segment tree: {e}") from None
        ensure_catalog(self.cfg.catalog, self.data_dir)

    def write_flow(self, flow: FlowState, reason: str) -> None:
        """Buffer the flow's record; writes a segment when enough rows are waiting."""
        self._records.append(flow, reason)
        if len(self._records) >= self.cfg.flush_rows:
            self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        """Write buffered rows if the row or time threshold is reached (or `force`)."""
        if not force and self._clock() - self._last < self.cfg.flush_seconds:
            return
        self._last = self._clock()
        table = self._records.take()
        if table is not None:
            self._pending.append(table)
        if not self._pending:
            return
        t0 = time.perf_counter()
        while self._pending:
            try:
                self._write_table(self._pending[0])
            except OSError as e:
                self.stats.write_errors += 1
                log.error(
                    "flow store: cannot write %d rows (%s); will retry",
                    sum(len(t) for t in self._pending),
                    e,
                )
                self._drop_excess()
                break
            self._pending.pop(0)
        self.stats.last_flush_seconds = time.perf_counter() - t0

    def _drop_excess(self) -> None:
        """Bound memory while the disk is unwritable: drop the oldest tables, counted."""
        while sum(len(t) for t in self._pending) > self.cfg.max_buffered_rows:
            lost = self._pending.pop(0)
            self.stats.rows_dropped += len(lost)
            log.error("flow store: buffer full, dropped %d oldest rows", len(lost))

    def _write_table(self, table: pa.Table) -> None:
        day_of = table.column("ts_start").cast(pa.int64()).to_numpy() // _US_PER_DAY
        days = np.unique(day_of).tolist()
        for day in days:
            part = table if len(days) == 1 else table.filter(pa.array(day_of == day))
            date = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
            folder = self.data_dir / "flows" / f"sensor={self._sensor}" / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            name = f"{time.time_ns()}-{os.getpid()}-{self._seq:06d}.parquet"
            self._write_file(part, folder, name)
            self.stats.segments_written += 1
        self.stats.rows_written += len(table)

    @staticmethod
    def _write_file(table: pa.Table, folder: Path, name: str) -> None:
        tmp = folder / f".{name}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """Write everything still buffered."""
        self.flush(force=True)


def _partition_value(name: str) -> str:
    """A sensor name safe as a hive partition value (no path separators or '=')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "sensor"
