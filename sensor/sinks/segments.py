"""SegmentWriter: Arrow tables -> immutable Parquet segments in a hive tree, for one table.

    <data_dir>/<table>/sensor=<name>/date=<YYYY-MM-DD>/<segment>.parquet

A segment is written to a temporary name and renamed into place, so a reader (or a restarted
sensor after kill -9) only ever sees whole files. If a write fails (disk full, permissions),
tables stay pending and are retried; only past `max_buffered_rows` are the oldest dropped,
and every dropped row is counted. An empty `schema.parquet` under `sensor=_schema` keeps the
table's view valid before the first segment exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sensor.errors import StorageError
from sensor.sinks.flushtimer import FlushTimer
from sensor.sinks.storeconfig import StoreConfig, StoreStats, data_dir_for, partition_value

__all__ = [
    "FlushTimer",
    "RowTable",
    "SegmentWriter",
    "StoreConfig",
    "StoreStats",
    "data_dir_for",
    "partition_value",
]

log = logging.getLogger(__name__)

_US_PER_DAY = 86_400_000_000
_MAX_DAYS = 64
"""Day partitions one flush may write. Past that (a forged or broken clock: 20,000 distinct
days made 40,004 files once) the rows of the rarest days are filed under the busiest day;
their own `ts` is kept. Several captures of different dates replayed together stay apart."""
_SCHEMA_PARTITION = "sensor=_schema/date=1970-01-01"


class SegmentWriter:
    """Pending Arrow tables of one table name; `write_pending()` turns them into segments."""

    def __init__(
        self,
        cfg: StoreConfig,
        table: str,
        schema: pa.Schema,
        time_column: str,
        distinct: frozenset[str] = frozenset(),
    ) -> None:
        """`distinct`: columns whose values are mostly all different (ids, hashes, times):
        written without a dictionary (Parquet would build one and give it up per page: a
        quarter of a flood's write time)."""
        self.cfg = cfg
        self.table = table
        self.schema = schema
        self.time_column = time_column
        names = schema.names
        self._options: dict[str, Any] = {
            "compression": "zstd",
            "use_dictionary": [c for c in names if c not in distinct] if distinct else True,
        }
        self.stats = StoreStats()
        self.data_dir = cfg.data_dir or data_dir_for(cfg.catalog)
        self._pending: list[pa.Table] = []
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: tuple[list[pa.Table], Future[float]] | None = None
        """The tables the thread is writing (those it has not written yet), and its job."""
        self._seq = 0
        self._sensor = self.sensor_partition = partition_value(cfg.sensor)
        schema_dir = self.data_dir / table / _SCHEMA_PARTITION
        self._remove_stale_temporaries()
        try:
            schema_dir.mkdir(parents=True, exist_ok=True)
            if not (schema_dir / "schema.parquet").exists():
                self._write_file(schema.empty_table(), schema_dir, "schema.parquet", self._options)
        except OSError as e:
            raise StorageError(f"{self.data_dir}: cannot create the segment tree: {e}") from None

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of writers that died (kill -9) mid-write: never visible to readers
        (hidden names), but they would take space forever. A live writer's are left alone."""
        root = self.data_dir / self.table / f"sensor={self._sensor}"
        if not root.is_dir():
            return
        for tmp in root.glob("date=*/.*.tmp"):
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)
                log.info("%s store: removed %s, left by a writer that stopped", self.table, tmp)

    @property
    def pending_rows(self) -> int:
        """Rows not yet in a segment, the one write in flight included."""
        held = self._inflight[0] if self._inflight is not None else []
        return sum(len(t) for t in self._pending) + sum(len(t) for t in list(held))

    def add(self, table: pa.Table) -> None:
        """Queue a table for the next write."""
        self._pending.append(table)

    def write_pending(
        self,
        final: bool = False,
        background: bool = False,
        build: Callable[[], pa.Table] | None = None,
    ) -> None:
        """Write every pending table; on an OS error keep them (bounded) and retry later.

        `final` (the sensor is stopping): there is no later, so rows that cannot be written
        are counted as dropped and said so, and the caller's exit status reports it.
        `background`: the write goes to the writer's own thread (made at the first use) and
        this returns at once; Parquet encoding releases the GIL, so on a second core it
        overlaps the packet path (a flood's records cost half their time there). At most one
        write is in flight: the next call first waits for it, and a write that failed is back
        in front of the pending tables, retried like any other. `build`: one more table,
        still to be made (records' columns), made by the thread too, after the pending ones;
        in the foreground it is made here.
        """
        self.settle()
        thread = background and not final
        if build is not None and not thread:
            self._pending.append(build())
            build = None
        if not self._pending and build is None:
            return
        if thread:
            self._submit(build)
        else:
            self._write_here(final)

    def _submit(self, build: Callable[[], pa.Table] | None) -> None:
        """Hand every pending table (and `build`) to the writer's thread, made at first use."""
        held, self._pending = self._pending, []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"{self.table}-writer")
        self._inflight = (held, self._pool.submit(self._job, held, build))
        self.stats.flushes += 1

    def _write_here(self, final: bool) -> None:
        """Write the pending tables in this thread, oldest first; the first OS error stops
        the write, and what is not written stays pending (or is dropped if `final`)."""
        t0 = time.perf_counter()
        self._merge(self._pending)
        while self._pending:
            try:
                self._write_table(self._pending[0])
            except OSError as e:
                self._write_failed(e, final)
                break
            self._pending.pop(0)
        took = time.perf_counter() - t0
        self.stats.last_flush_seconds = took
        self.stats.flush_seconds_total += took
        self.stats.flushes += 1

    def _write_failed(self, e: OSError, final: bool) -> None:
        """Count a failed foreground write; at exit drop what is left, else keep it for the
        retry, bounded."""
        self.stats.write_errors += 1
        if final:
            self._drop_all(e)
        else:
            log.error(
                "%s store: cannot write %d rows (%s); will retry",
                self.table,
                self.pending_rows,
                e,
            )
            self._drop_excess()

    @staticmethod
    def _merge(tables: list[pa.Table]) -> None:
        """One segment (per day) for all: fewer, larger files (in place)."""
        if len(tables) > 1:
            with contextlib.suppress(pa.ArrowInvalid):  # schemas differ: one by one
                tables[:] = [pa.concat_tables(tables)]

    def _job(self, held: list[pa.Table], build: Callable[[], pa.Table] | None) -> float:
        """The writer thread's job: make the table still to be made, write them all; the
        seconds the writing took. `held` keeps what is not written yet (for `settle`)."""
        if build is not None:
            held.append(build())
        self._merge(held)
        t0 = time.perf_counter()
        while held:
            self._write_table(held[0])
            held.pop(0)
        return time.perf_counter() - t0

    def settle(self) -> None:
        """Wait for the write in flight, if any; what it did not write goes back in front."""
        if self._inflight is None:
            return
        held, write = self._inflight
        self._inflight = None
        try:
            took = write.result()
        except OSError as e:
            self._pending[:0] = held
            self.stats.write_errors += 1
            log.error("%s store: cannot write %d rows (%s); will retry", self.table,
                      sum(len(t) for t in held), e)  # fmt: skip
            self._drop_excess()
        except BaseException:
            self._pending[:0] = held  # retried at the next write, as in the foreground
            raise
        else:
            self.stats.last_flush_seconds = took
            self.stats.flush_seconds_total += took

    def close(self) -> None:
        """Wait for the write in flight and stop the writer's thread."""
        try:
            self.settle()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _drop_all(self, e: OSError) -> None:
        lost = self.pending_rows
        self._pending.clear()
        self.stats.rows_dropped += lost
        log.error("%s store: %d rows lost, cannot write them at exit (%s)", self.table, lost, e)

    def _drop_excess(self) -> None:
        """Bound memory while the disk is unwritable: drop the oldest tables, counted."""
        excess = self.pending_rows - self.cfg.max_buffered_rows
        while excess > 0 and self._pending:
            first = self._pending[0]
            if len(first) <= excess:
                self._pending.pop(0)
                lost = len(first)
            else:  # pending tables are merged: drop only the oldest rows of the first
                self._pending[0] = first.slice(excess)
                lost = excess
            excess -= lost
            self.stats.rows_dropped += lost
            log.error("%s store: buffer full, dropped %d oldest rows", self.table, lost)

    def _write_table(self, table: pa.Table) -> None:
        day_of = table.column(self.time_column).cast(pa.int64()).to_numpy() // _US_PER_DAY
        days_u, counts = np.unique(day_of, return_counts=True)
        if len(days_u) > _MAX_DAYS:
            keep = days_u[np.argsort(-counts, kind="stable")[:_MAX_DAYS]]
            far = ~np.isin(day_of, keep)
            self.stats.rows_misdated += int(far.sum())
            day_of = np.where(far, keep[0], day_of)
        days = np.unique(day_of).tolist()
        for day in days:
            part = table if len(days) == 1 else table.filter(pa.array(day_of == day))
            date = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
            folder = self.data_dir / self.table / f"sensor={self._sensor}" / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            name = f"{time.time_ns()}-{os.getpid()}-{self._seq:06d}.parquet"
            self._write_file(part, folder, name, self._options)
            self.stats.segments_written += 1
        self.stats.rows_written += len(table)

    @staticmethod
    def _write_file(table: pa.Table, folder: Path, name: str, options: dict[str, Any]) -> None:
        tmp = folder / f".{name}.{os.getpid()}.tmp"  # unique: workers write side by side
        try:
            pq.write_table(table, tmp, **options)
            os.replace(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RowTable:
    """Rows kept as dicts until the flush timer says write them: the small tables (alerts,
    access points) that are not built column-wise like the flow records."""

    def __init__(
        self,
        cfg: StoreConfig,
        table: str,
        schema: pa.Schema,
        time_column: str,
        clock: Callable[[], float],
    ) -> None:
        self.writer = SegmentWriter(cfg, table, schema, time_column)
        self.rows: list[dict[str, Any]] = []
        self._timer = FlushTimer(cfg, clock)
        self.closing = False
        """Set by the owner's close(): the next forced flush is the last one."""

    @property
    def backlog(self) -> int:
        return len(self.rows) + self.writer.pending_rows

    def flush(self, force: bool = False) -> None:
        # by rows too: a beacon flood makes a row per fake access point, 200,000 in seconds
        if not self._timer.due(force or len(self.rows) >= self.writer.cfg.flush_rows):
            return
        if self.rows:
            rows, self.rows = self.rows, []
            self.writer.add(pa.Table.from_pylist(rows, schema=self.writer.schema))
        self.writer.write_pending(final=force and self.closing)
