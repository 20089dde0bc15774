"""FlowStore: ended flows -> immutable Parquet segments of the `flows` table, plus the catalog.

Layout (the analysts' contract, documented in docs/storage.md):

    <catalog>.duckdb                      views `flows`, `alerts`, ... (open it with DuckDB)
    <catalog>.data/flows/sensor=<name>/date=<YYYY-MM-DD>/<segment>.parquet

Writing, retries and the drop accounting are the SegmentWriter's (sinks/segments.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from sensor.budget import RECORD_BYTES
from sensor.errors import StorageError
from sensor.flow.pending import EndedBatch
from sensor.flow.state import FlowState
from sensor.sinks.catalog import Catalog, check_catalog_path
from sensor.sinks.records import Held, RecordBuffer
from sensor.sinks.retention import apply_retention, compact
from sensor.sinks.schema import RECORD_COLUMNS, ROLLUP_COLUMNS, arrow_schema
from sensor.sinks.segments import (
    FlushTimer,
    SegmentWriter,
    StoreConfig,
    StoreStats,
    data_dir_for,
)

__all__ = ["FlowExport", "FlowStore", "StoreConfig", "StoreStats", "data_dir_for", "rollup"]

log = logging.getLogger(__name__)

_RETENTION_SECONDS = 3600.0
_DISTINCT = frozenset({"flow_id", "community_id", "ts_start", "ts_end", "src_port"})
"""Flow record columns that differ from row to row (no Parquet dictionary for them)."""
_KEYS = ["minute", "site", "category", "provision", "action"]
_US_PER_MINUTE = 60_000_000


def rollup(table: pa.Table) -> pa.Table:
    """Per-minute counts of a batch of flow records by site, category, provision, action."""
    none = pa.scalar("none")
    t = pa.table(
        {
            "minute": _minutes(table.column("ts_start")),
            "site": table.column("site"),
            "category": pc.coalesce(table.column("category"), none),
            "provision": pc.coalesce(table.column("provision"), none),
            "action": pc.coalesce(table.column("action"), none),
            "bytes": pc.add(table.column("bytes_toserver"), table.column("bytes_toclient")),
            "src_ip": table.column("src_ip"),
        }
    )
    g = t.group_by(_KEYS).aggregate(
        [("bytes", "count"), ("bytes", "sum"), ("src_ip", "count_distinct")]
    )
    out = g.rename_columns([*_KEYS, "records", "bytes", "hosts"])
    return out.select([c.name for c in ROLLUP_COLUMNS]).cast(arrow_schema(ROLLUP_COLUMNS))


def _minutes(ts: pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """Times floored to the minute (UTC) by integer division: what pc.floor_temporal gives,
    at a twentieth of its cost (its calendar arithmetic was a flood's rollup time)."""
    us = ts.cast(pa.int64()).to_numpy()
    floored: pa.Array[Any] = pa.array(us // _US_PER_MINUTE * _US_PER_MINUTE).cast(ts.type)
    return floored


def _summary(table: pa.Table) -> tuple[int, pa.Table | None]:
    """A new table of records: its newest start (retention's clock, us) and its rollup
    (None if that failed: flow rows are never lost over a summary)."""
    newest = pc.max(table.column("ts_start")).cast(pa.int64()).as_py()
    try:
        return newest or 0, rollup(table)
    except pa.ArrowException:
        log.exception("rollup of %d rows failed", len(table))
        return newest or 0, None


class FlowExport(Protocol):
    """A consumer of the store's flushed record batches: formats and queues, never waits."""

    name: str

    def export_flows(self, table: pa.Table) -> None:
        """Take one batch of flow records (RECORD_COLUMNS)."""
        ...

    def close(self) -> None:
        """Deliver what is pending (bounded wait) and release resources."""
        ...


class FlowStore:
    """The `flows` sink. Single-threaded; call flush() regularly, close() at the end."""

    name = "flowstore"

    def __init__(
        self,
        cfg: StoreConfig,
        clock: Callable[[], float] = time.monotonic,
        catalog: Catalog | None = None,
    ) -> None:
        """`catalog`: the one the sensor's other stores share (None: this store's own)."""
        self.cfg = cfg
        check_catalog_path(cfg.catalog, cfg.adopt)  # before anything is created beside it
        self._records = RecordBuffer(site=cfg.site)
        self._writer = SegmentWriter(
            cfg, "flows", arrow_schema(RECORD_COLUMNS), "ts_start", _DISTINCT
        )
        self._rollups = SegmentWriter(cfg, "rollups", arrow_schema(ROLLUP_COLUMNS), "minute")
        self._timer = FlushTimer(cfg, clock)
        """When records leave the buffer: `flush_seconds` of packet or wall time."""
        self._wall = FlushTimer(cfg, clock)
        """When segments are written: `flush_seconds` of wall time (never given packet time)."""
        self._taken = 0
        """Records taken out of the buffer since segments were last written."""
        self._making = 0
        """Records the writer thread is making a table of (not yet its pending rows)."""
        self._done: deque[tuple[int, pa.Table | None]] = deque()
        """(newest start, rollup) of tables the writer thread made (thread-safe appends)."""
        self._clock = clock
        self._next_retention = 0.0
        self._newest_us = 0
        """Newest record start seen: packet time is the clock, also for retention, so a
        replay of an old capture is not deleted as soon as it is written."""
        self.stats = self._writer.stats
        self.exports: list[FlowExport] = []
        """Where each flushed batch also goes (EVE flow lines, IPFIX), as the same table."""
        self.data_dir = self._writer.data_dir
        self.catalog = catalog or Catalog(cfg.catalog, self.data_dir, cfg.adopt)
        self.catalog.ensure()
        self._catalog_missing = False
        """The catalog was found deleted and could not be made again yet (said once)."""

    def write_flow(self, flow: FlowState, reason: str) -> None:
        """Buffer the flow's record; writes a segment when enough rows are waiting."""
        self._records.append(flow, reason)
        if self._waiting() >= self.cfg.flush_rows:
            self.flush(force=True)

    def write_bare(self, batch: EndedBatch) -> None:
        """Field-less records (verdict none) of flows that ended together, as columns; a
        segment is written every `flush_rows` rows, as one by one."""
        nums, reasons, step = batch.record_numbers(), batch.reasons, self.cfg.flush_rows
        at = 0
        while at < len(reasons):
            waiting = self._waiting()
            take = step - waiting if waiting < step else step
            self._records.append_bare(nums[at : at + take], reasons[at : at + take])
            at += take
            if self._waiting() >= step:
                self.flush(force=True)

    def advance(self, now_ns: int) -> None:
        """Packet time has reached `now_ns`: `flush_seconds` count it (see FlushTimer)."""
        self._timer.advance(now_ns)

    def flush(self, force: bool = False, final: bool = False) -> None:
        """Move records on if a threshold is reached (or `force`); `final`: the last flush,
        rows that cannot be written are counted as lost.

        Two steps. Every `flush_seconds` of packet or wall time, the buffered records become
        an Arrow table (a tenth of their size as Python objects) and go to the exports (EVE
        flow lines, IPFIX) and the rollups. Segments are written when `flush_rows` records
        are waiting in either form, every `flush_seconds` of wall time (so live, records
        reach the views within that), and at the end. A replay of a sparse capture (the
        benchmark's averages 8 packets per second) would otherwise write a segment of a few
        hundred records per 30 s of its packet time: a file each, 3 us per row to write
        instead of 1, and many small files to read."""
        wall = self._wall.due(force or final)
        if not self._timer.due(wall):
            return
        self._collect()
        by_count = self._waiting() >= self.cfg.flush_rows
        build = None
        if by_count and not final and not self.exports:
            # records arriving faster than flush_rows per flush interval (a flood, a busy
            # link): the writer's thread makes them a table, sums them up and writes the
            # segment while packets go on; on wall time (a quiet link, where an analyst
            # waits for them), with exports (which want the table now) and at the end, here
            held = self._records.detach()
            if held is not None:
                self._making = len(held)
                build = partial(self._made, held)
        else:
            self._writer.settle()  # one table made at a time (the records' caches)
            table = self._records.take()
            if table is not None:
                self._done.append(_summary(table))
                self._collect()
                self._writer.add(table)
                self._taken += len(table)
                self._export(table)
        if not wall and not by_count:
            return
        self._taken = 0  # what a failed write keeps is retried at the next write, not sooner
        self._writer.write_pending(final, background=by_count, build=build)
        self._collect()
        self._rollups.write_pending(final)
        self._restore_catalog()
        if self._clock() >= self._next_retention:
            self._writer.settle()  # retention and compaction see every segment written
            self.retain()

    def _made(self, held: Held) -> pa.Table:
        """The writer thread's part: detached records as a table, summed up there too
        (handed back through `_done`, taken by `_collect`)."""
        try:
            table = self._records.build(held)
        finally:
            self._making = 0  # from here on they are the writer's pending rows (or lost)
        self._done.append(_summary(table))
        return table

    def _waiting(self) -> int:
        """Rows waiting for a segment, in the budget's units: the records buffered, those
        made a table and not yet written, and the buffered records' fields beyond a
        record's measured size counted as rows of RECORD_BYTES (a flood of records whose
        every field is at its cap is written sooner instead of outgrowing the share)."""
        return len(self._records) + self._taken + self._records.extra_bytes // RECORD_BYTES

    def _collect(self) -> None:
        """What the new tables gave: retention's clock and their rollups."""
        while self._done:
            newest, summary = self._done.popleft()
            self._newest_us = max(self._newest_us, newest)
            if summary is not None:
                self._rollups.add(summary)

    def _restore_catalog(self) -> None:
        """Make the catalog again if someone deleted it (a clean-up job, an analyst's `rm`):
        the segments are all there, only the views that read them are gone. One stat per
        flush; said once per disappearance, and retried at each flush until it works."""
        catalog = self.catalog.path
        if catalog.exists():
            self._catalog_missing = False
            return
        try:
            self.catalog.ensure()
        except (StorageError, OSError) as e:
            if not self._catalog_missing:
                log.error("catalog %s was deleted and cannot be made again yet: %s", catalog, e)
            self._catalog_missing = True
            return
        self._catalog_missing = False
        log.warning("catalog %s was deleted; made it again (the segments were kept)", catalog)

    def _export(self, table: pa.Table) -> None:
        for exp in self.exports:
            try:
                exp.export_flows(table)
            except Exception:  # an export must never cost the store its rows
                log.exception("flow export %s failed on %d rows", exp.name, len(table))

    def retain(self) -> None:
        """Apply the retention limits now (also hourly from flush)."""
        self._next_retention = self._clock() + _RETENTION_SECONDS
        if not self.cfg.retain or not self._newest_us:
            return
        today = dt.datetime.fromtimestamp(self._newest_us / 1e6, dt.UTC).date()
        try:
            apply_retention(
                self.data_dir,
                self._writer.sensor_partition,
                dict(self.cfg.retention_days),
                today,
                self.cfg.max_disk_bytes,
            )
            tables = ("flows", "rollups", "alerts", "wireless_aps", "health")
            for table in tables if self.cfg.compact else ():
                compact(self.data_dir, table, self._writer.sensor_partition, today)
        except OSError as e:
            log.error("retention failed: %s", e)

    @property
    def backlog(self) -> int:
        """Rows not yet in a segment (those the writer thread is making a table of too)."""
        return len(self._records) + self._making + self._writer.pending_rows

    def close(self) -> None:
        """Write everything still buffered (what cannot be written is counted as dropped),
        then close the exports."""
        try:
            self.flush(final=True)
        finally:
            self._writer.close()
        for exp in self.exports:
            exp.close()

    @property
    def rows_lost(self) -> int:
        """Rows of flows and rollups that were dropped, never written."""
        return self._writer.stats.rows_dropped + self._rollups.stats.rows_dropped
