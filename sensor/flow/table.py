"""FlowTable: bidirectional flows with idle, TCP-close and active timeouts, bounded in size.

Packet time is the clock: `now` only moves with the packets (and the live timer), so a replay
always gives the same flows. Flows that end go to `on_end(flow, reason)`; a long flow hands on
an interim copy (reason `active`) every `active` seconds under the same flow_id.

The table is two tiers and what spans them: FlowState objects (objects.py) and, unless
`columnar=False`, half-open flows as pending rows (halfopen.py, pending.py). This module
cuts each batch into runs and routes them, keeps the clock, and bounds the two tiers
together by count and by memory, shedding half-open flows before established ones.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from sensor.decode.columns import PacketColumns
from sensor.flow.group import runs_of_batch
from sensor.flow.halfopen import BulkEndHook, HalfOpenTier
from sensor.flow.objects import EndHook, ObjectTier
from sensor.flow.payloads import PayloadSink
from sensor.flow.timeouts import CLOSED, FlowTimeouts

__all__ = ["END_REASONS", "BulkEndHook", "EndHook", "FlowTable", "FlowTimeouts", "PayloadSink"]

END_REASONS = ("idle", "active", "fin", "rst", "eof", "evicted", "shutdown")


class FlowTable:
    """All live flows of one worker. Not thread-safe: one table per worker process."""

    def __init__(
        self,
        timeouts: FlowTimeouts,
        max_flows: int,
        on_end: EndHook,
        inspector: PayloadSink | None = None,
        on_end_bulk: BulkEndHook | None = None,
        columnar: bool = True,
        max_bytes: int = 0,
        sizes: tuple[int, int] = (1792, 448),
    ) -> None:
        """`on_end_bulk` takes flows that end as columns together (pending flows); without
        it they are made FlowStates and go to `on_end`. `columnar=False` keeps every flow a
        FlowState from its first packet: the reference the columnar tier is tested against.
        `max_bytes` (0: none) bounds the table by memory as well as by count, a FlowState and
        a pending row costing `sizes` bytes each (sensor/budget.py measures them)."""
        ns = timeouts.by_class_ns()
        self._idle, self._closed = ns[:3], ns[CLOSED]
        self._max = max_flows
        self._max_bytes = max_bytes
        self._flow_bytes, self._row_bytes = sizes
        self.ended: Counter[str] = Counter()
        self._inspector = inspector
        self._objects = ObjectTier(timeouts, on_end, inspector, self.ended, self._make_room)
        self._half = (
            HalfOpenTier(
                timeouts, self._objects, self._room, (on_end, on_end_bulk), inspector, self.ended
            )
            if columnar
            else None
        )
        self.now = 0
        self._top = (0, 0)

    @property
    def created(self) -> int:
        """Flows started (as FlowStates or as pending rows; a promoted row counts once)."""
        half = self._half
        return self._objects.created + (half.created if half is not None else 0)

    @property
    def shed(self) -> int:
        """Unanswered flows evicted to make room (the flood's share of `evicted`)."""
        half = self._half
        return self._objects.shed + (half.shed if half is not None else 0)

    def __len__(self) -> int:
        """Flows in the table now."""
        half = self._half
        return len(self._objects.flows) + (len(half.rows) if half is not None else 0)

    @property
    def bytes_used(self) -> int:
        """Estimated bytes of the flows held (FlowStates and pending rows), and of their
        fields beyond what a FlowState's size includes (the inspector charges them)."""
        rows = len(self._half.rows) if self._half is not None else 0
        extra = self._inspector.extra_bytes if self._inspector is not None else 0
        return len(self._objects.flows) * self._flow_bytes + rows * self._row_bytes + extra

    def _full(self, cost: int) -> bool:
        """No room for one more flow costing `cost` bytes."""
        if len(self) >= self._max:
            return True
        return bool(self._max_bytes) and self.bytes_used + cost > self._max_bytes

    def _room(self) -> int:
        """How many pending rows fit now."""
        room = self._max - len(self)
        if self._max_bytes:
            room = min(room, (self._max_bytes - self.bytes_used) // self._row_bytes)
        return max(room, 0)

    def _make_room(self) -> None:
        """Room for one more FlowState: evict until it fits (or the table is empty)."""
        while len(self) and self._full(self._flow_bytes):
            self._evict_one()

    def _evict_one(self) -> None:
        """Make room: the oldest flow nobody answered (pending rows first), else the least
        recently queued one."""
        half = self._half
        if half is not None and len(half.rows):
            half.shed_oldest(1)
            return
        self._objects.evict_one()

    def update(self, cols: PacketColumns) -> None:
        """Account every decoded packet of a batch to its flow, then expire idle flows."""
        sel = np.flatnonzero(cols.ok)
        if len(sel):
            r = runs_of_batch(cols, sel, self._idle, self._closed)
            objects, half = self._objects, self._half
            objects.new_batch()
            if half is None:
                objects.apply_runs(cols, r, range(len(r.starts)))
            else:
                todo, late = half.route(r, self.now)
                objects.apply_runs(cols, r, todo)
                if late:
                    objects.apply_runs(cols, r, half.start(r, late, self.now))
            # the clock is the second latest packet time: one packet stamped 2106 must not
            # end every open flow as idle; a jump that a second packet confirms is followed
            self._top = _top_two(cols.ts[sel], self._top)
            self.now = max(self.now, self._top[0])
        self.expire(self.now)

    def expire(self, now: int) -> None:
        """End flows idle for longer than their timeout at packet time `now`."""
        if self._half is not None:
            self._half.expire(now)
        self._objects.expire(now)

    def flush(self, reason: str) -> None:
        """End every flow (`eof` after a replay, `shutdown` on stop).

        Flows already past their timeout end as they would have at the next sweep.
        """
        if self._half is not None:
            self._half.flush(reason, self.now)
        self._objects.flush(reason, self.now)


def _top_two(ts: npt.NDArray[np.int64], top: tuple[int, int]) -> tuple[int, int]:
    """The two latest times among `top` and the batch's."""
    cand = [*top, int(ts[0])]
    if len(ts) >= 2:
        part = np.partition(ts, len(ts) - 2)[-2:]
        cand[2:] = [int(part[0]), int(part[1])]
    a, b = sorted(cand)[-2:]
    return a, b
