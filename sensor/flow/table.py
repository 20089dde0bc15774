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
from sensor.flow.key import FlowKey, flow_id_of, flow_ids_of
from sensor.flow.pending import EndedBatch, PendingFlows
from sensor.flow.state import ACK, FIN, RST, SYN, FlowState

__all__ = ["END_REASONS", "FlowTable", "FlowTimeouts"]

END_REASONS = ("idle", "active", "fin", "rst", "eof", "evicted", "shutdown")
_TCP, _UDP, _OTHER, _CLOSED = 0, 1, 2, 3
_NS = 1_000_000_000
_NEVER = (1 << 63) - 1
_KEY_COLS = ("k0", "k1", "k2", "k3", "pp")
_FILTER_MASK = (1 << 20) - 1
_END_CHUNK = 16_384
"""Pending rows handed on per call when many end at once (a flood's expiry): the pipeline
looks at a pending reload between two such batches."""

EndHook = Callable[[FlowState, str], None]
BulkEndHook = Callable[[EndedBatch], None]


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

    def has_names(self) -> bool:
        """Could `start` name any flow at all (are DNS answers known)?"""
        ...

    def nameable(self, pairs: list[tuple[int, int, int, int]]) -> list[bool]:
        """Per (client hi, client lo, server hi, server lo): could `start` name such a flow?"""
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
        t = timeouts
        self._idle = (int(t.tcp * _NS), int(t.udp * _NS), int(t.other * _NS))
        self._class_to = (*self._idle, int(t.tcp_closed * _NS))
        self._closed = int(t.tcp_closed * _NS)
        self._active = int(t.active * _NS)
        self._max = max_flows
        self._max_bytes = max_bytes
        self._flow_bytes, self._row_bytes = sizes
        self._on_end = on_end
        self._inspector = inspector
        self._payloads: _Payloads | None = None
        self._flows: dict[FlowKey, FlowState] = {}
        # OrderedDict, not dict: popping a plain dict from the front leaves dummies that every
        # later next(iter()) walks past, which made one expiry sweep quadratic under a flood.
        self._lru: tuple[OrderedDict[FlowKey, FlowState], ...] = tuple(
            OrderedDict() for _ in range(4)
        )
        self._pending = PendingFlows() if columnar else None
        self._fcount = np.zeros(_FILTER_MASK + 1, dtype=np.int32)
        """FlowStates per key-hash bucket: most new keys of a flood need no dict lookup."""
        self._on_end_bulk = on_end_bulk
        self._idle_arr = np.array(self._idle, dtype=np.int64)
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
        return len(self._flows) + (len(self._pending) if self._pending is not None else 0)

    @property
    def bytes_used(self) -> int:
        """Estimated bytes of the flows held (FlowStates and pending rows)."""
        rows = len(self._pending) if self._pending is not None else 0
        return len(self._flows) * self._flow_bytes + rows * self._row_bytes

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

    def update(self, cols: PacketColumns) -> None:
        """Account every decoded packet of a batch to its flow, then expire idle flows."""
        sel = np.flatnonzero(cols.ok)
        if len(sel):
            r = runs_of_batch(cols, sel, self._idle, self._closed)
            flows, active = self._flows, self._active
            self._payloads = None
            if self._pending is None:
                todo: list[int] | range = range(len(r.starts))
                late: list[int] = []
            else:
                todo, late = self._route(r)
            for i in todo:
                self._run(cols, r, i, flows, active)
            if late:
                for i in self._start_pending(r, late):
                    self._run(cols, r, i, flows, active)
            # the clock is the second latest packet time: one packet stamped 2106 must not
            # end every open flow as idle; a jump that a second packet confirms is followed
            self._top = _top_two(cols.ts[sel], self._top)
            self.now = max(self.now, self._top[0])
        self.expire(self.now)

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
            self._inspect(cols, r, flow, r.starts[i], r.ends[i])

    def _route(self, r: Runs) -> tuple[list[int], list[int]]:
        """Split a batch's runs: those the pending tier takes whole (done here), those for
        FlowStates (first list), and new flows that may become pending rows once the
        FlowState runs are done (second list: a DNS answer earlier in this batch may name
        them, and it is learnt only by those runs)."""
        pending = self._pending
        assert pending is not None
        a = r.a
        one_side = (a["n_fwd"] == 0) | (a["n_rev"] == 0)
        quiet = ~a["payload"] & (((a["f_fwd"] | a["f_rev"]) & (FIN | RST)) == 0)
        cand = one_side & quiet & a["single"] & (a["t_last"] - a["t_first"] < self._active)
        todo = np.flatnonzero(~cand).tolist()
        if len(pending) and todo:
            idx = np.array(todo, dtype=np.int64)
            found = pending.find(a["h"][idx], [a[k][idx] for k in _KEY_COLS])
            for s in np.unique(found[found >= 0]).tolist():  # a key may have several runs
                self._promote(s)
        ci = np.flatnonzero(cand)
        if not len(ci):
            return todo, []
        # FlowStates: a counting filter by key hash, then the dict for the few it lets by
        known = self._fcount[a["h"][ci] & _FILTER_MASK] > 0
        if known.any():
            flows = self._flows
            maybe = np.flatnonzero(known)
            keys = r.keys
            known[maybe] = [keys[i] in flows for i in ci[maybe].tolist()]
        slots = pending.find(a["h"][ci], [a[k][ci] for k in _KEY_COLS])
        old = slots >= 0
        if old.any():
            todo += self._touch_pending(r, ci[old], slots[old]).tolist()
        todo += ci[known].tolist()
        todo.sort()
        return todo, ci[~known & ~old].tolist()

    def _touch_pending(self, r: Runs, runs: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]
                       ) -> npt.NDArray[np.int64]:  # fmt: skip
        """More payload-less packets from the same side for pending rows; rows that this run
        would end or change otherwise are promoted, and those runs returned for FlowStates."""
        p, a = self._pending, r.a
        assert p is not None
        t0, t1 = a["t_first"][runs], a["t_last"][runs]
        from_lo = a["n_fwd"][runs] > 0
        cls = p.col("cls")[slots]
        same = (
            (p.col("from_lo")[slots] == from_lo)
            & (t0 - p.col("ts_last")[slots] <= self._idle_arr[cls])
            & (t1 - p.col("ts_first")[slots] < self._active)
        )
        n = a["n_fwd"][runs] + a["n_rev"][runs]
        b = a["b_fwd"][runs] + a["b_rev"][runs]
        fl = a["f_fwd"][runs] | a["f_rev"][runs]
        p.touch(slots[same], n[same], b[same], fl[same], t1[same], self.now)
        p.next_due = min(p.next_due, int(p.due(slots[same], self._idle_arr).min(initial=_NEVER)))
        for s in slots[~same].tolist():
            self._promote(s)
        back: npt.NDArray[np.int64] = runs[~same]
        return back

    def _start_pending(self, r: Runs, runs: list[int]) -> list[int]:
        """Make pending rows of new flows (runs: single-sided, payload-less, no FIN/RST);
        returns the runs that need a FlowState after all (a DNS name, no room)."""
        p, a = self._pending, r.a
        assert p is not None
        idx = np.array(runs, dtype=np.int64)
        pp, ff, fw = a["pp"][idx], a["first_flags"][idx], a["first_fwd"][idx]
        proto = a["proto"][idx]
        lo_port, hi_port = (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF
        sport, dport = np.where(fw, lo_port, hi_port), np.where(fw, hi_port, lo_port)
        syn = (proto == 6) & ((ff & SYN) != 0)
        server_like = ((proto == 6) | (proto == 17)) & (sport < 1024) & (dport >= 1024)
        client_is_src = np.where(syn, (ff & ACK) == 0, ~server_like)
        client_is_lo = client_is_src == fw
        back = np.zeros(len(runs), dtype=np.bool_)
        if self._inspector is not None and self._inspector.has_names():
            keys = r.keys
            flow_keys = [keys[i] for i in runs]
            pairs = [
                (k[0], k[1], k[2], k[3]) if lo else (k[2], k[3], k[0], k[1])
                for k, lo in zip(flow_keys, client_is_lo.tolist(), strict=True)
            ]
            back |= np.array(self._inspector.nameable(pairs), dtype=np.bool_)
        room = self._room()
        want = int((~back).sum())
        if want > room:
            shed = min(want - room, len(p))
            if shed:
                self.shed += shed
                self._end_pending(p.oldest(shed), "evicted")
            room = self._room()
            if want > room:  # the newest go the FlowState way, which evicts one by one
                back[np.flatnonzero(~back)[max(room, 0) :]] = True
        take = np.flatnonzero(~back)
        if len(take):
            sel = idx[take]
            t0 = a["t_first"][sel]
            cols = {
                "k0": a["k0"][sel],
                "k1": a["k1"][sel],
                "k2": a["k2"][sel],
                "k3": a["k3"][sel],
                "pp": pp[take],
                "h": a["h"][sel],
                "flow_id": flow_ids_of(a["h"][sel], t0),
                "ts_first": t0,
                "ts_last": a["t_last"][sel],
                "pkts": a["n_fwd"][sel] + a["n_rev"][sel],
                "bytes": a["b_fwd"][sel] + a["b_rev"][sel],
                "flags": a["f_fwd"][sel] | a["f_rev"][sel],
                "vlan": a["vlan"][sel],
                "tunnel": a["tunnel"][sel],
                "syn_seq": np.where(
                    (proto[take] == 6) & ((ff[take] & (SYN | ACK)) == SYN), a["first_seq"][sel], -1
                ),
                "cls": np.where(proto[take] == 6, _TCP, np.where(proto[take] == 17, _UDP, _OTHER)),
                "from_lo": a["n_fwd"][sel] > 0,
                "client_is_lo": client_is_lo[take],
                "clock": np.full(len(take), self.now, dtype=np.int64),
            }
            p.add(cols)
            due = np.maximum(a["t_last"][sel], self.now) + self._idle_arr[cols["cls"]]
            p.next_due = min(p.next_due, int(due.min()))
            self.created += len(take)
        return [runs[j] for j in np.flatnonzero(back).tolist()]

    def _promote(self, slot: int) -> FlowState:
        """A pending row becomes a FlowState (same numbers), queued like any other."""
        assert self._pending is not None
        flow = self._pending.state(slot)
        if self._inspector is not None:
            self._inspector.start(flow)
        key = flow.key
        self._flows[key] = flow
        self._fcount[flow.h & _FILTER_MASK] += 1
        self._lru[flow.lru_class][key] = flow
        self._unanswered[key] = flow
        return flow

    def _end_pending(self, slots: npt.NDArray[np.int64], reason: str | list[str]) -> None:
        """End pending rows: one batch to `on_end_bulk` (or FlowStates to `on_end`)."""
        if not len(slots):
            return
        assert self._pending is not None
        reasons = [reason] * len(slots) if isinstance(reason, str) else reason
        self.ended.update(reasons)
        for at in range(0, len(slots), _END_CHUNK):
            batch = self._pending.take(slots[at : at + _END_CHUNK], reasons[at : at + _END_CHUNK])
            if self._on_end_bulk is not None:
                self._on_end_bulk(batch)
                continue
            for flow, why in zip(batch.states(), batch.reasons, strict=True):
                self._on_end(flow, why)

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
        pos, offs, lens, fwd, ts, seqs = p.pos, p.offs, p.lens, p.fwd, p.ts, p.seqs
        k = bisect_left(pos, lo)
        for j in range(k, bisect_left(pos, hi, k)):
            if not flow.inspecting:
                return
            o = offs[j]
            feed(flow, bytes(data[o : o + lens[j]]), fwd[j] == client, ts[j], seqs[j])

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
        while len(self) and self._full(self._flow_bytes):
            self._evict_one()
        proto = r.proto[i]
        client_is_src = _client_is_src(proto, flags0, key, fwd0)
        cls = _TCP if proto == 6 else _UDP if proto == 17 else _OTHER
        h = int(r.a["h"][i])
        flow = FlowState(
            key,
            flow_id_of(h, t0),
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
        flow.h = h
        self._flows[key] = flow
        self._fcount[h & _FILTER_MASK] += 1
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
        self._fcount[flow.h & _FILTER_MASK] -= 1
        del self._lru[flow.lru_class][flow.key]
        if not flow.answered:
            del self._unanswered[flow.key]
        if flow.ext is not None and self._inspector is not None:
            self._inspector.release(flow)
        self.ended[reason] += 1
        self._on_end(flow, reason)

    def _evict_one(self) -> None:
        """Make room: the oldest flow nobody answered (pending rows first), else the least
        recently queued one."""
        if self._pending is not None and len(self._pending):
            self.shed += 1
            self._end_pending(self._pending.oldest(1), "evicted")
            return
        if self._unanswered:
            self.shed += 1
            self._end(next(iter(self._unanswered.values())), "evicted")
            return
        fronts = [next(iter(d.values())) for d in self._lru if d]
        self._end(min(fronts, key=lambda f: f.lru_ts), "evicted")

    def expire(self, now: int) -> None:
        """End flows idle for longer than their timeout at packet time `now`."""
        if self._pending is not None and len(self._pending):
            self._end_pending(self._pending.expired(now, self._idle_arr), "idle")
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
        p = self._pending
        if p is not None and len(p):
            slots = p.live_slots()
            cls, last = p.col("cls")[slots], p.col("ts_last")[slots]
            idle = last + self._idle_arr[cls] < self.now  # as FlowStates: see flush() below
            self._end_pending(slots, np.where(idle, "idle", reason).tolist())
        flows = list(self._flows.values())
        self._flows.clear()
        self._fcount[:] = 0
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
