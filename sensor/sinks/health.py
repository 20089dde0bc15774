"""HealthSink: what the sensor saw and missed -> the `health` table, so a report can say how
far to trust its figures.

Kernel drops, decode errors, damaged capture records and lost rows are otherwise only
Prometheus counters, gone when the process ends. Every `storage.flush_seconds` of packet time
(and at exit) the sink reads the pipeline's counters and writes one row of the change since
its previous row: deltas, so a sum over any period is right, and a missing interval shows as
a gap rather than as a wrong total.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sensor.flow.pending import EndedBatch
from sensor.flow.state import FlowState
from sensor.sinks.schema import HEALTH_COLUMNS, arrow_schema
from sensor.sinks.segments import RowTable, StoreConfig

if TYPE_CHECKING:
    from sensor.pipeline import Pipeline

__all__ = ["HealthSink", "Tally"]


@dataclass(frozen=True, slots=True)
class Tally:
    """Running totals of one worker since it started (the columns of a `health` row)."""

    packets: int = 0
    bytes: int = 0
    decode_errors: int = 0
    capture_errors: int = 0
    kernel_drops: int = 0
    extractor_errors: int = 0
    sink_errors: int = 0
    rows_lost: int = 0

    def minus(self, before: Tally) -> Tally:
        """The change since `before`."""
        now, was = dataclasses.astuple(self), dataclasses.astuple(before)
        return Tally(*(a - b for a, b in zip(now, was, strict=True)))

    def empty(self) -> bool:
        """Nothing counted: a run that read nothing writes no row of zeros at 1970."""
        return not any(dataclasses.astuple(self))


class HealthSink:
    """A sink of counters, not of flows: `watch()` gives it the pipeline to read."""

    name = "health"

    def __init__(
        self,
        cfg: StoreConfig,
        rows_lost: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self._table = RowTable(cfg, "health", arrow_schema(HEALTH_COLUMNS), "ts", clock)
        self.store_stats = self._table.writer.stats
        self._rows_lost = rows_lost
        self._pipeline: Pipeline | None = None
        self._kernel_drops: Callable[[], int] = lambda: 0
        self._sent = Tally()
        self._last_ns: int | None = None
        """Packet time of the previous row (or of the first packet, before any row)."""

    def watch(self, pipeline: Pipeline, kernel_drops: Callable[[], int] | None = None) -> None:
        """Read this pipeline's counters, and the kernel's drops of a live source."""
        self._pipeline = pipeline
        if kernel_drops is not None:
            self._kernel_drops = kernel_drops

    def tally(self) -> Tally:
        """The totals now (zeros before `watch`)."""
        if self._pipeline is None:
            return Tally()
        s = self._pipeline.summary
        return Tally(
            packets=s.packets,
            bytes=s.bytes,
            decode_errors=sum(s.decode_errors.values()),
            capture_errors=sum(s.capture_errors.values()),
            kernel_drops=self._kernel_drops(),
            extractor_errors=sum(s.extractor_errors.values()),
            sink_errors=sum(s.sink_errors.values()),
            rows_lost=self._rows_lost(),
        )

    def write_flow(self, flow: FlowState, reason: str) -> None:
        pass

    def write_bare(self, batch: EndedBatch) -> None:
        """Records are not this sink's business."""

    def _now_ns(self) -> int:
        """Packet time: the flow table's, or the radio's when 802.11 frames came later (a
        capture of the air alone has no flow: its rows were dated by the wall clock)."""
        p = self._pipeline
        return max(p.table.now, p.wireless.last) if p is not None else 0

    def _take(self, now_ns: int) -> None:
        """Queue a row of the change since the previous one. Without any packet time (a
        run that read no frame) the wall clock dates it, so damage is never left out."""
        total = self.tally()
        delta = total.minus(self._sent)
        if not now_ns and delta.empty():
            return
        ts_us = now_ns // 1000 if now_ns else int(time.time() * 1e6)
        self._table.rows.append({"ts": ts_us, **dataclasses.asdict(delta), "site": self.cfg.site})
        self._sent = total
        self._last_ns = now_ns

    @property
    def backlog(self) -> int:
        return self._table.backlog

    def flush(self, force: bool = False) -> None:
        """A row when a flush interval of packet time has passed; segments as the store's
        timer says."""
        now = self._now_ns()
        if self._last_ns is None:
            self._last_ns = now or None
        elif now - self._last_ns >= self.cfg.flush_seconds * 1e9:
            self._take(now)
        self._table.flush(force)

    def close(self) -> None:
        """The last row (what the run counted since the previous one), then write all."""
        if self._pipeline is not None:
            self._take(self._now_ns())
        self._table.closing = True
        self._table.flush(force=True)
