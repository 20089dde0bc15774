"""FlowTable: bidirectional flows with idle, TCP-close and active timeouts, bounded in size.

Packet time is the clock: `now` only moves with the packets (and the live timer), so a replay
always gives the same flows. Flows that end go to `on_end(flow, reason)`; a long flow hands on
an interim copy (reason `active`) every `active` seconds under the same flow_id.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sensor.decode.columns import PacketColumns
from sensor.flow.group import Runs, runs_of_batch
from sensor.flow.key import FlowKey
from sensor.flow.state import ACK, SYN, FlowState

__all__ = ["END_REASONS", "FlowTable", "FlowTimeouts"]

END_REASONS = ("idle", "active", "fin", "rst", "eof", "evicted", "shutdown")
_TCP, _UDP, _OTHER, _CLOSED = 0, 1, 2, 3
_NS = 1_000_000_000
_FLOW_ID_MASK = (1 << 63) - 1

EndHook = Callable[[FlowState, str], None]


class PayloadSink(Protocol):
    """Who gets the first payload packets of flows (the Inspector)."""

    def start(self, flow: FlowState) -> None:
        """A new flow: decide whether to inspect it (sets flow.inspecting), name it."""
        ...

    def feed(self, flow: FlowState, data: bytes, from_client: bool, ts: int, seq: int) -> None:
        """One payload packet, in capture order; sets flow.inspecting False when done."""
        ...

    def release(self, flow: FlowState) -> None:
        """The flow ended while still inspected: free what it held (budgeted memory)."""
        ...


class _Payloads:
    """The batch's payload-carrying packets as Python lists, made once per batch."""

    __slots__ = ("fwd", "lens", "offs", "pos", "seqs", "ts")

    def __init__(self, cols: PacketColumns, r: Runs) -> None:
        pos = np.flatnonzero(cols.pl_len[r.order] > 0)
        idx = r.order[pos]
        self.pos = pos.tolist()
        self.offs = cols.pl_off[idx].tolist()
        self.lens = cols.pl_len[idx].tolist()
        self.ts = cols.ts[idx].tolist()
        self.seqs = cols.seq[idx].tolist()
        self.fwd = r.fwd[pos].tolist()


_MAX_TIMEOUT_S = 366 * 86_400.0


@dataclass(frozen=True, slots=True)
class FlowTimeouts:
    """Seconds of silence after which a flow ends, and the interim-record interval."""

    tcp: float = 300.0
    udp: float = 120.0
    other: float = 60.0
    tcp_closed: float = 5.0
    """Linger after both FINs or a RST, so the last ACKs still count to the flow."""
    active: float = 300.0
    """Long flows emit an interim record this often (end_reason `active`)."""

    def __post_init__(self) -> None:
        for name in ("tcp", "udp", "other", "tcp_closed", "active"):
            if not 0 < getattr(self, name) <= _MAX_TIMEOUT_S:
                raise ValueError(f"timeout {name} must be positive and at most a year")


class FlowTable:
    """All live flows of one worker. Not thread-safe: one table per worker process."""

    def __init__(
        self,
        timeouts: FlowTimeouts,
        max_flows: int,
        on_end: EndHook,
        inspector: PayloadSink | None = None,
    ) -> None:
        t = timeouts
        self._idle = (int(t.tcp * _NS), int(t.udp * _NS), int(t.other * _NS))
        self._class_to = (*self._idle, int(t.tcp_closed * _NS))
        self._closed = int(t.tcp_closed * _NS)
        self._active = int(t.active * _NS)
        self._max = max_flows
        self._on_end = on_end
        self._inspector = inspector
        self._payloads: _Payloads | None = None
        self._flows: dict[FlowKey, FlowState] = {}
        # OrderedDict, not dict: popping a plain dict from the front leaves dummies that every
        # later next(iter()) walks past, which made one expiry sweep quadratic under a flood.
        self._lru: tuple[OrderedDict[FlowKey, FlowState], ...] = tuple(
            OrderedDict() for _ in range(4)
        )
        self._unanswered: OrderedDict[FlowKey, FlowState] = OrderedDict()
        """Flows that have heard only one side yet, oldest first: a full table makes room
        from these (a SYN flood's half-open flows) before it touches an established flow."""
        self.now = 0
        self._top = (0, 0)
        self.created = 0
        self.shed = 0
        """Unanswered flows evicted to make room (the flood's share of `evicted`)."""
        self.ended: Counter[str] = Counter()

    def __len__(self) -> int:
        """Flows in the table now."""
        return len(self._flows)

    def update(self, cols: PacketColumns) -> None:
        """Account every decoded packet of a batch to its flow, then expire idle flows."""
        sel = np.flatnonzero(cols.ok)
        if len(sel):
            r = runs_of_batch(cols, sel, self._idle, self._closed)
            flows, active = self._flows, self._active
            self._payloads = None
            for i, key in enumerate(r.keys):
                flow = flows.get(key)
                start = r.t_first[i] if flow is None else flow.ts_start
                if r.t_last[i] - start >= active or (
                    flow is not None and flow.closed and r.ends[i] - r.starts[i] > 1
                ):
                    self._walk(cols, r, i)
                else:
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
                        self._inspect(cols, r, flow, r.starts[i], r.ends[i])
            # the clock is the second latest packet time: one packet stamped 2106 must not
            # end every open flow as idle; a jump that a second packet confirms is followed
            self._top = _top_two(cols.ts[sel], self._top)
            self.now = max(self.now, self._top[0])
        self.expire(self.now)

    def _walk(self, cols: PacketColumns, r: Runs, i: int) -> None:
        """Apply a run in pieces: it crosses an interim deadline, or its flow is closing.

        Packets that may start, end or cut a flow are applied alone; those in between are
        summed in plain Python and applied together.
        """
        key, a, b = r.keys[i], r.starts[i], r.ends[i]
        idx = r.order[a:b]
        ts, fl, seqs = cols.ts[idx].tolist(), cols.flags[idx].tolist(), cols.seq[idx].tolist()
        ln, fw = cols.wirelen[idx].tolist(), r.fwd[a:b].tolist()
        k, n = 0, b - a
        while k < n:
            flow = self._flows.get(key)
            if flow is None or flow.closed or ts[k] - flow.ts_start >= self._active:
                one, none = (1, ln[k], fl[k]), (0, 0, 0)
                flow = self._apply(
                    key, ts[k], ts[k], fl[k], fw[k], one if fw[k] else none,
                    none if fw[k] else one, r, i,
                )  # fmt: skip
                if flow.pkts_ts + flow.pkts_tc == 1 and fl[k] & (SYN | ACK) == SYN:
                    flow.syn_seq = seqs[k]  # created by this packet, not the run's first
                if flow.inspecting:
                    self._inspect(cols, r, flow, a + k, a + k + 1)
                k += 1
                continue
            deadline = flow.ts_start + self._active
            acc = [0, 0, 0, 0, 0, 0]  # packets, bytes, flags: lo side then hi side
            j, last = k, ts[k]
            while j < n and ts[j] < deadline:
                d = 0 if fw[j] else 3
                acc[d] += 1
                acc[d + 1] += ln[j]
                acc[d + 2] |= fl[j]
                last = max(last, ts[j])
                j += 1
            flow = self._apply(
                key, ts[k], last, fl[k], fw[k], (acc[0], acc[1], acc[2]),
                (acc[3], acc[4], acc[5]), r, i,
            )  # fmt: skip
            if flow.inspecting:
                self._inspect(cols, r, flow, a + k, a + j)
            k = j

    def _inspect(self, cols: PacketColumns, r: Runs, flow: FlowState, lo: int, hi: int) -> None:
        """Hand the payload packets at positions [lo, hi) of `order` to the inspector."""
        p = self._payloads
        if p is None:
            p = self._payloads = _Payloads(cols, r)
        assert self._inspector is not None
        feed, data, client = self._inspector.feed, cols.data, flow.client_is_lo
        k = bisect_left(p.pos, lo)
        while k < len(p.pos) and p.pos[k] < hi and flow.inspecting:
            o = p.offs[k]
            feed(flow, bytes(data[o : o + p.lens[k]]), p.fwd[k] == client, p.ts[k], p.seqs[k])
            k += 1

    def _apply(
        self,
        key: FlowKey,
        t0: int,
        t1: int,
        flags0: int,
        fwd0: bool,
        fwd: tuple[int, int, int],
        rev: tuple[int, int, int],
        r: Runs,
        i: int,
    ) -> FlowState:
        flow = self._flows.get(key)
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
        if flow.closed and flow.lru_class != _CLOSED:
            self._reclass(flow, _CLOSED, t1)
        return flow

    def _ended_by(self, flow: FlowState, t0: int, flags0: int) -> str:
        gap = t0 - flow.ts_last
        if flow.closed:
            if gap > self._closed or (flags0 & (SYN | ACK)) == SYN:
                return flow.closed
            return ""
        return "idle" if gap > self._class_to[flow.lru_class] else ""

    def _create(self, key: FlowKey, t0: int, flags0: int, fwd0: bool, r: Runs, i: int) -> FlowState:
        if len(self._flows) >= self._max:
            self._evict_one()
        proto = r.proto[i]
        client_is_src = _client_is_src(proto, flags0, key, fwd0)
        cls = _TCP if proto == 6 else _UDP if proto == 17 else _OTHER
        flow = FlowState(
            key,
            hash((key, t0)) & _FLOW_ID_MASK,
            fwd0 if client_is_src else not fwd0,
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
        if self._inspector is not None:
            self._inspector.start(flow)
        self._flows[key] = flow
        self._lru[cls][key] = flow
        self._unanswered[key] = flow
        self.created += 1
        return flow

    def _reclass(self, flow: FlowState, cls: int, ts: int) -> None:
        del self._lru[flow.lru_class][flow.key]
        flow.lru_class, flow.lru_ts = cls, ts
        self._lru[cls][flow.key] = flow

    def _interim(self, flow: FlowState, ts: int) -> None:
        self.ended["active"] += 1
        self._on_end(dataclasses.replace(flow), "active")
        flow.reset_counters(ts)

    def _end(self, flow: FlowState, reason: str) -> None:
        del self._flows[flow.key]
        del self._lru[flow.lru_class][flow.key]
        if not flow.answered:
            del self._unanswered[flow.key]
        if flow.ext is not None and self._inspector is not None:
            self._inspector.release(flow)
        self.ended[reason] += 1
        self._on_end(flow, reason)

    def _evict_one(self) -> None:
        """Make room: the oldest flow nobody answered, else the least recently queued one."""
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

    def flush(self, reason: str) -> None:
        """End every flow (`eof` after a replay, `shutdown` on stop).

        Flows already past their timeout end as they would have at the next sweep. The
        queues are emptied at once rather than flow by flow (a flood leaves a million).
        """
        flows = list(self._flows.values())
        self._flows.clear()
        for lru in self._lru:
            lru.clear()
        self._unanswered.clear()
        release = self._inspector.release if self._inspector is not None else None
        on_end, ended, now, class_to = self._on_end, self.ended, self.now, self._class_to
        for flow in flows:
            timed_out = flow.ts_last + class_to[flow.lru_class] < now
            why = flow.closed or ("idle" if timed_out else reason)
            if flow.ext is not None and release is not None:
                release(flow)
            ended[why] += 1
            on_end(flow, why)


def _top_two(ts: npt.NDArray[np.int64], top: tuple[int, int]) -> tuple[int, int]:
    """The two latest times among `top` and the batch's."""
    cand = [*top, int(ts[0])]
    if len(ts) >= 2:
        part = np.partition(ts, len(ts) - 2)[-2:]
        cand[2:] = [int(part[0]), int(part[1])]
    a, b = sorted(cand)[-2:]
    return a, b


def _client_is_src(proto: int, flags0: int, key: FlowKey, fwd0: bool) -> bool:
    """The initiator is the client: the SYN sender, else the first sender, unless that one
    looks like a server answering (well-known source port to an ephemeral port)."""
    if proto == 6 and flags0 & SYN:
        return not flags0 & ACK
    pp = key[4]
    lo_port, hi_port = (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF
    sport, dport = (lo_port, hi_port) if fwd0 else (hi_port, lo_port)
    return not (proto in (6, 17) and sport < 1024 <= dport)
