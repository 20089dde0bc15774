"""The flow table's half-open tier: which runs become, stay or stop being pending rows.

Why apart from the table: a SYN flood or a scan is a million flows that are one side's
payload-less packets; pending.py keeps them as rows of numpy arrays, and this module is the
glue between a batch's runs and those rows, a batch at a time: it routes each run (a new
half-open flow, more of one, or a FlowState's), makes and touches rows, promotes a row to a
FlowState in the object tier (objects.py) at its first answer, payload, FIN/RST or long run,
and ends rows as columns (`on_end_bulk`). The records are the same as the object tier alone
would give (tests/unit/flow/test_pending.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from sensor.flow.group import Runs
from sensor.flow.initiator import clients_are_lo
from sensor.flow.key import FlowKey, flow_ids_of
from sensor.flow.objects import EndHook, ObjectTier
from sensor.flow.payloads import PayloadSink
from sensor.flow.pending import EndedBatch, PendingFlows
from sensor.flow.state import ACK, FIN, RST, SYN
from sensor.flow.timeouts import NEVER, OTHER, TCP, UDP, FlowTimeouts

__all__ = ["BulkEndHook", "HalfOpenTier"]

BulkEndHook = Callable[[EndedBatch], None]
I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]
_KEY_COLS = ("k0", "k1", "k2", "k3", "pp")
_END_CHUNK = 16_384
"""Pending rows handed on per call when many end at once (a flood's expiry): the pipeline
looks at a pending reload between two such batches."""


class HalfOpenTier:
    """The pending rows of one table (`rows`) and the runs' way in and out of them."""

    def __init__(
        self,
        timeouts: FlowTimeouts,
        objects: ObjectTier,
        room: Callable[[], int],
        hooks: tuple[EndHook, BulkEndHook | None],
        inspector: PayloadSink | None,
        ended: Counter[str],
    ) -> None:
        """`room` is the table's count of rows that fit now; `hooks` are its `on_end` and
        `on_end_bulk` (without the latter, ended rows go to `on_end` as FlowStates);
        `ended` is its counter by end reason, shared with the object tier."""
        self.rows = PendingFlows()
        self._objects = objects
        self._room = room
        self._on_end, self._on_end_bulk = hooks
        self._inspector = inspector
        self.ended = ended
        self._idle_arr = np.array(timeouts.by_class_ns()[:3], dtype=np.int64)
        self._active = timeouts.active_ns()
        self.created = 0
        self.shed = 0
        """Rows evicted to make room (the flood's share of `evicted`)."""

    def route(self, r: Runs, now: int) -> tuple[list[int], list[int]]:
        """Split a batch's runs: those the pending tier takes whole (done here), those for
        FlowStates (first list), and new flows that may become pending rows once the
        FlowState runs are done (second list: a DNS answer earlier in this batch may name
        them, and it is learnt only by those runs)."""
        pending, a = self.rows, r.a
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
        known = self._objects.known(r, ci)
        slots = pending.find(a["h"][ci], [a[k][ci] for k in _KEY_COLS])
        old = slots >= 0
        if old.any():
            todo += self._touch(r, ci[old], slots[old], now).tolist()
        todo += ci[known].tolist()
        todo.sort()
        return todo, ci[~known & ~old].tolist()

    def _touch(self, r: Runs, runs: I64, slots: I64, now: int) -> I64:
        """More payload-less packets from the same side for pending rows; rows that this run
        would end or change otherwise are promoted, and those runs returned for FlowStates."""
        p, a = self.rows, r.a
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
        p.touch(slots[same], n[same], b[same], fl[same], t1[same], now)
        p.next_due = min(p.next_due, int(p.due(slots[same], self._idle_arr).min(initial=NEVER)))
        for s in slots[~same].tolist():
            self._promote(s)
        back: I64 = runs[~same]
        return back

    def start(self, r: Runs, runs: list[int], now: int) -> list[int]:
        """Make pending rows of new flows (runs: single-sided, payload-less, no FIN/RST);
        returns the runs that need a FlowState after all (a DNS name, no room)."""
        idx = np.array(runs, dtype=np.int64)
        client_is_lo = clients_are_lo(r.a, idx)
        back = self._nameable(r, runs, client_is_lo)
        self._fit(back)
        take = np.flatnonzero(~back)
        if len(take):
            self._add(r.a, idx[take], client_is_lo[take], now)
        return [runs[j] for j in np.flatnonzero(back).tolist()]

    def _nameable(self, r: Runs, runs: list[int], client_is_lo: BoolA) -> BoolA:
        """The runs whose flow a DNS answer may name: FlowStates, which the inspector names
        as it starts them."""
        back = np.zeros(len(runs), dtype=np.bool_)
        if self._inspector is not None and self._inspector.has_names():
            keys = r.keys
            flow_keys: list[FlowKey] = [keys[i] for i in runs]
            pairs = [
                (k[0], k[1], k[2], k[3]) if lo else (k[2], k[3], k[0], k[1])
                for k, lo in zip(flow_keys, client_is_lo.tolist(), strict=True)
            ]
            back |= np.array(self._inspector.nameable(pairs), dtype=np.bool_)
        return back

    def _fit(self, back: BoolA) -> None:
        """Make room for the new rows (those not in `back`) by shedding the oldest; mark in
        `back` the newest of those that still do not fit: they go the FlowState way, which
        evicts one by one."""
        room = self._room()
        want = int((~back).sum())
        if want > room:
            shed = min(want - room, len(self.rows))
            if shed:
                self.shed_oldest(shed)
            room = self._room()
            if want > room:
                back[np.flatnonzero(~back)[max(room, 0) :]] = True

    def _add(self, a: dict[str, I64], sel: I64, client_is_lo: BoolA, now: int) -> None:
        """New rows for runs `sel`, with the numbers a FlowState made of them would have."""
        p, t0 = self.rows, a["t_first"][sel]
        proto, ff = a["proto"][sel], a["first_flags"][sel]
        cols = {
            "k0": a["k0"][sel],
            "k1": a["k1"][sel],
            "k2": a["k2"][sel],
            "k3": a["k3"][sel],
            "pp": a["pp"][sel],
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
                (proto == 6) & ((ff & (SYN | ACK)) == SYN), a["first_seq"][sel], -1
            ),
            "cls": np.where(proto == 6, TCP, np.where(proto == 17, UDP, OTHER)),
            "from_lo": a["n_fwd"][sel] > 0,
            "client_is_lo": client_is_lo,
            "clock": np.full(len(sel), now, dtype=np.int64),
        }
        p.add(cols)
        due = np.maximum(a["t_last"][sel], now) + self._idle_arr[cols["cls"]]
        p.next_due = min(p.next_due, int(due.min()))
        self.created += len(sel)

    def _promote(self, slot: int) -> None:
        """A pending row becomes a FlowState (same numbers), queued like any other."""
        self._objects.adopt(self.rows.state(slot))

    def shed_oldest(self, n: int) -> None:
        """Evict the n oldest rows to make room."""
        self.shed += n
        self._end(self.rows.oldest(n), "evicted")

    def expire(self, now: int) -> None:
        """End rows idle for longer than their timeout at packet time `now`."""
        if len(self.rows):
            self._end(self.rows.expired(now, self._idle_arr), "idle")

    def flush(self, reason: str, now: int) -> None:
        """End every row: those past their timeout at `now` as idle, as FlowStates would
        (ObjectTier.flush), the rest for `reason`."""
        p = self.rows
        if not len(p):
            return
        slots = p.live_slots()
        cls, last = p.col("cls")[slots], p.col("ts_last")[slots]
        idle = last + self._idle_arr[cls] < now
        self._end(slots, np.where(idle, "idle", reason).tolist())

    def _end(self, slots: I64, reason: str | list[str]) -> None:
        """End rows: one batch to `on_end_bulk` (or FlowStates to `on_end`)."""
        if not len(slots):
            return
        reasons = [reason] * len(slots) if isinstance(reason, str) else reason
        self.ended.update(reasons)
        for at in range(0, len(slots), _END_CHUNK):
            batch = self.rows.take(slots[at : at + _END_CHUNK], reasons[at : at + _END_CHUNK])
            if self._on_end_bulk is not None:
                self._on_end_bulk(batch)
                continue
            for flow, why in zip(batch.states(), batch.reasons, strict=True):
                self._on_end(flow, why)
