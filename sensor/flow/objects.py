"""The flow table's object tier: flows as FlowState objects, found by key, queued by timeout.

Why apart from the table: this is where a run of packets meets its flow (idle and TCP-close
timeouts, interim records, the inspector's share of the payload), and with the pending tier
off (`columnar=False`) it is the whole table, the reference the tests compare the columnar
tier with. The table (table.py) decides how big both tiers may grow and calls `make_room`
before a flow is made here; the half-open tier (halfopen.py) hands its rows over (`adopt`)
when they become more than one side's payload-less packets.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from sensor.decode.columns import PacketColumns
from sensor.flow.group import Runs
from sensor.flow.initiator import client_is_src
from sensor.flow.key import FlowKey, flow_id_of
from sensor.flow.payloads import PayloadSink, PayloadWalk
from sensor.flow.state import ACK, SYN, FlowState
from sensor.flow.timeouts import CLOSED, OTHER, TCP, UDP, FlowTimeouts

__all__ = ["EndHook", "ObjectTier"]

EndHook = Callable[[FlowState, str], None]
Side = tuple[int, int, int]
"""Packets, bytes and flags sent from one side of the key."""
_FILTER_MASK = (1 << 20) - 1


class ObjectTier:
    """The FlowStates of one table, with LRU queues per timeout class and the unanswered."""

    def __init__(
        self,
        timeouts: FlowTimeouts,
        on_end: EndHook,
        inspector: PayloadSink | None,
        ended: Counter[str],
        make_room: Callable[[], None],
    ) -> None:
        """`ended` is the table's counter by end reason (shared with the half-open tier);
        `make_room` is the table's eviction, called before each new FlowState."""
        self._class_to = timeouts.by_class_ns()
        self._closed = self._class_to[CLOSED]
        self._active = timeouts.active_ns()
        self._on_end = on_end
        self._inspector = inspector
        self._payloads = PayloadWalk(inspector)
        self._make_room = make_room
        self.ended = ended
        self.flows: dict[FlowKey, FlowState] = {}
        """Never rebound (the table counts it): flush() clears it in place."""
        self._fcount = np.zeros(_FILTER_MASK + 1, dtype=np.int32)
        """FlowStates per key-hash bucket: most new keys of a flood need no dict lookup."""
        # OrderedDict, not dict: popping a plain dict from the front leaves dummies that every
        # later next(iter()) walks past, which made one expiry sweep quadratic under a flood.
        self._lru: tuple[OrderedDict[FlowKey, FlowState], ...] = tuple(
            OrderedDict() for _ in range(4)
        )
        self._unanswered: OrderedDict[FlowKey, FlowState] = OrderedDict()
        """Flows that have heard only one side yet, oldest first: a full table makes room
        from these (a SYN flood's half-open flows) before it touches an established flow."""
        self.created = 0
        self.shed = 0
        """Unanswered flows evicted to make room."""

    def new_batch(self) -> None:
        """A new batch of runs begins: its payload lists are made again when needed."""
        self._payloads.new_batch()

    def apply_runs(self, cols: PacketColumns, r: Runs, runs: Iterable[int]) -> None:
        """Apply these runs of the batch, in this order, to their FlowStates."""
        run, flows, active = self._run, self.flows, self._active
        for i in runs:
            run(cols, r, i, flows, active)

    def known(self, r: Runs, runs: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of these runs' keys have a FlowState: a counting filter by key hash, then
        the dict for the few it lets by."""
        known: npt.NDArray[np.bool_] = self._fcount[r.a["h"][runs] & _FILTER_MASK] > 0
        if known.any():
            flows = self.flows
            maybe = np.flatnonzero(known)
            keys = r.keys
            known[maybe] = [keys[i] in flows for i in runs[maybe].tolist()]
        return known

    def _run(
        self,
        cols: PacketColumns,
        r: Runs,
        i: int,
        flows: dict[FlowKey, FlowState],
        active: int,
    ) -> None:
        """Apply run i of the batch to its FlowState (made if need be)."""
        key = r.keys[i]
        flow = flows.get(key)
        start = r.t_first[i] if flow is None else flow.ts_start
        if r.t_last[i] - start >= active or (
            flow is not None and flow.closed and r.ends[i] - r.starts[i] > 1
        ):
            self._walk(cols, r, i)
            return
        flow = self._apply(
            key,
            r.t_first[i],
            r.t_last[i],
            r.first_flags[i],
            r.first_fwd[i],
            (r.n_fwd[i], r.b_fwd[i], r.f_fwd[i]),
            (r.n_rev[i], r.b_rev[i], r.f_rev[i]),
            r,
            i,
        )
        if flow.inspecting and r.payload[i]:
            self._payloads.feed(cols, r, flow, r.starts[i], r.ends[i])

    def _walk(self, cols: PacketColumns, r: Runs, i: int) -> None:
        """Apply a run in pieces: it crosses an interim deadline, or its flow is closing.

        Packets that may start, end or cut a flow are applied alone; those in between are
        summed in plain Python (`_span`) and applied together.
        """
        key, a, b = r.keys[i], r.starts[i], r.ends[i]
        idx = r.order[a:b]
        ts, fl, seqs = cols.ts[idx].tolist(), cols.flags[idx].tolist(), cols.seq[idx].tolist()
        ln, fw = cols.wirelen[idx].tolist(), r.fwd[a:b].tolist()
        k, n = 0, b - a
        while k < n:
            flow = self.flows.get(key)
            if flow is None or flow.closed or ts[k] - flow.ts_start >= self._active:
                j, one, none = k + 1, (1, ln[k], fl[k]), (0, 0, 0)
                fwd, rev = (one, none) if fw[k] else (none, one)
                flow = self._apply(key, ts[k], ts[k], fl[k], fw[k], fwd, rev, r, i)
                if flow.pkts_ts + flow.pkts_tc == 1 and fl[k] & (SYN | ACK) == SYN:
                    flow.syn_seq = seqs[k]  # created by this packet, not the run's first
            else:
                j, last, fwd, rev = _span(ts, ln, fl, fw, k, flow.ts_start + self._active)
                flow = self._apply(key, ts[k], last, fl[k], fw[k], fwd, rev, r, i)
            if flow.inspecting:
                self._payloads.feed(cols, r, flow, a + k, a + j)
            k = j

    def _apply(
        self,
        key: FlowKey,
        t0: int,
        t1: int,
        flags0: int,
        fwd0: bool,
        fwd: Side,
        rev: Side,
        r: Runs,
        i: int,
    ) -> FlowState:
        """Add packets from t0 to t1 to the key's flow: end it first if they come after its
        timeout or start a new connection, hand on an interim record if they cross the active
        deadline, make it if there is none."""
        flow = self.flows.get(key)
        if flow is not None:
            reason = self._ended_by(flow, t0, flags0)
            if reason:
                self._end(flow, reason)
                flow = None
            elif t0 - flow.ts_start >= self._active:
                self._interim(flow, t0)
        if flow is None:
            flow = self._create(key, t0, flags0, fwd0, r, i)
        flow.add(fwd, rev, t1)
        if not flow.answered and flow.pkts_ts and flow.pkts_tc:
            flow.answered = True
            del self._unanswered[key]
        if flow.closed and flow.lru_class != CLOSED:
            self._reclass(flow, CLOSED, t1)
        return flow

    def _ended_by(self, flow: FlowState, t0: int, flags0: int) -> str:
        """Why a packet at t0 with flags0 ends `flow` before it counts ("" if it does not)."""
        gap = t0 - flow.ts_last
        if flow.closed:
            if gap > self._closed or (flags0 & (SYN | ACK)) == SYN:
                return flow.closed
            return ""
        return "idle" if gap > self._class_to[flow.lru_class] else ""

    def _create(self, key: FlowKey, t0: int, flags0: int, fwd0: bool, r: Runs, i: int) -> FlowState:
        """A new FlowState for run i, made room for first."""
        self._make_room()
        proto = r.proto[i]
        from_src = client_is_src(proto, flags0, key, fwd0)
        cls = TCP if proto == 6 else UDP if proto == 17 else OTHER
        h = int(r.a["h"][i])
        flow = FlowState(
            key,
            flow_id_of(h, t0),
            fwd0 if from_src else not fwd0,
            proto,
            t0,
            t0,
            t0,
            r.vlan[i],
            r.tunnel[i],
            lru_ts=t0,
            lru_class=cls,
        )
        if proto == 6 and flags0 & (SYN | ACK) == SYN:
            flow.syn_seq = r.first_seq[i]
        flow.h = h
        self.adopt(flow)
        self.created += 1
        return flow

    def adopt(self, flow: FlowState) -> None:
        """Take a new flow in (made here or promoted from a pending row), unanswered yet;
        the inspector decides first whether to inspect it."""
        if self._inspector is not None:
            self._inspector.start(flow)
        key = flow.key
        self.flows[key] = flow
        self._fcount[flow.h & _FILTER_MASK] += 1
        self._lru[flow.lru_class][key] = flow
        self._unanswered[key] = flow

    def _reclass(self, flow: FlowState, cls: int, ts: int) -> None:
        """Move the flow to the queue of timeout class `cls`, as last touched at `ts`."""
        del self._lru[flow.lru_class][flow.key]
        flow.lru_class, flow.lru_ts = cls, ts
        self._lru[cls][flow.key] = flow

    def _interim(self, flow: FlowState, ts: int) -> None:
        """Hand on a copy of a long flow (`active`) and count it afresh from `ts`."""
        self.ended["active"] += 1
        self._on_end(dataclasses.replace(flow), "active")
        flow.reset_counters(ts)

    def _end(self, flow: FlowState, reason: str) -> None:
        """Take the flow out of every index and hand it on."""
        del self.flows[flow.key]
        self._fcount[flow.h & _FILTER_MASK] -= 1
        del self._lru[flow.lru_class][flow.key]
        if not flow.answered:
            del self._unanswered[flow.key]
        if self._inspector is not None:
            if flow.ext is not None:
                self._inspector.release(flow)
            self._inspector.forget(flow)
        self.ended[reason] += 1
        self._on_end(flow, reason)

    def evict_one(self) -> None:
        """End one flow to make room: the oldest nobody answered, else the least recently
        queued one."""
        if self._unanswered:
            self.shed += 1
            self._end(next(iter(self._unanswered.values())), "evicted")
            return
        fronts = [next(iter(d.values())) for d in self._lru if d]
        self._end(min(fronts, key=lambda f: f.lru_ts), "evicted")

    def expire(self, now: int) -> None:
        """End flows idle for longer than their timeout at packet time `now`."""
        for cls, lru in enumerate(self._lru):
            timeout = self._class_to[cls]
            while lru:
                flow = next(iter(lru.values()))
                if flow.lru_ts + timeout >= now:
                    break
                if flow.ts_last + timeout < now:
                    self._end(flow, flow.closed or "idle")
                else:  # touched since it was queued: queue it again at its last packet
                    flow.lru_ts = flow.ts_last
                    lru.move_to_end(flow.key)

    def flush(self, reason: str, now: int) -> None:
        """End every flow: those past their timeout at `now` as they would have at the next
        sweep, the rest for `reason`. The queues are emptied at once rather than flow by flow
        (a flood leaves a million)."""
        flows = list(self.flows.values())
        self.flows.clear()
        self._fcount[:] = 0
        for lru in self._lru:
            lru.clear()
        self._unanswered.clear()
        insp = self._inspector
        on_end, ended, class_to = self._on_end, self.ended, self._class_to
        for flow in flows:
            timed_out = flow.ts_last + class_to[flow.lru_class] < now
            why = flow.closed or ("idle" if timed_out else reason)
            if insp is not None:
                if flow.ext is not None:
                    insp.release(flow)
                insp.forget(flow)
            ended[why] += 1
            on_end(flow, why)


def _span(
    ts: list[int], ln: list[int], fl: list[int], fw: list[bool], k: int, deadline: int
) -> tuple[int, int, Side, Side]:
    """Packets k.. of a walked run up to `deadline`, summed per side: where they stop, the
    latest time, and what the lo side and the hi side sent."""
    acc = [0, 0, 0, 0, 0, 0]  # packets, bytes, flags: lo side then hi side
    j, last, n = k, ts[k], len(ts)
    while j < n and ts[j] < deadline:
        d = 0 if fw[j] else 3
        acc[d] += 1
        acc[d + 1] += ln[j]
        acc[d + 2] |= fl[j]
        last = max(last, ts[j])
        j += 1
    return j, last, (acc[0], acc[1], acc[2]), (acc[3], acc[4], acc[5])
