"""PendingFlows: flows that are so far one side's payload-less packets, kept as columns.

Why: a SYN flood or a port scan is a million such flows. As FlowState objects each costs a
dataclass, three dict entries and a record made one by one; here a flow is one row of a few
numpy arrays, updated, expired, shed and handed on as records a batch at a time. The first
packet that makes a flow more than that (an answer, a payload, FIN or RST, a long run)
promotes it to a FlowState in the table with the same numbers, so the records are the same
either way (tests/unit/flow/test_pending.py replays the corpus both ways and compares).

The index's lookups and inserts are compiled (sensor/_runs.c) where built; the numpy code
(`_find_python`, `_place_python`) is their reference and gives the same slots and the same
bucket layout (tests/unit/flow/test_pending_native.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensor.flow.state import FlowState
from sensor.native import runs_lib as native

__all__ = ["EndedBatch", "PendingFlows"]

I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]

_INTS = (
    "k0", "k1", "k2", "k3", "pp", "flow_id", "ts_first", "ts_last", "pkts", "bytes", "flags",
    "vlan", "tunnel", "syn_seq", "cls", "seq", "clock", "h", "bucket",
)  # fmt: skip
_KEY = ("k0", "k1", "k2", "k3", "pp")
_EMPTY, _GONE = -1, -2
_BOOLS = ("from_lo", "client_is_lo")
_NEVER = np.iinfo(np.int64).max


@dataclass(slots=True)
class EndedBatch:
    """Pending flows that ended together: their columns and why each ended."""

    cols: dict[str, npt.NDArray[np.int64] | npt.NDArray[np.bool_]]
    reasons: list[str]
    _sides: dict[str, I64] | None = None

    def __len__(self) -> int:
        return len(self.reasons)

    def select(self, mask: BoolA) -> EndedBatch:
        """The rows where `mask` is true."""
        rows = np.flatnonzero(mask)
        return EndedBatch(
            {k: v[rows] for k, v in self.cols.items()}, [self.reasons[i] for i in rows.tolist()]
        )

    def sides(self) -> dict[str, I64]:
        """Packets, bytes and flags per direction (client = initiator), as a record has them
        (made once: the classifier's gates, the metrics and the record all read them)."""
        if self._sides is not None:
            return self._sides
        c = self.cols
        to_server = c["from_lo"] == c["client_is_lo"]
        z = np.zeros(len(self), dtype=np.int64)
        self._sides = {
            "pkts_ts": np.where(to_server, c["pkts"], z),
            "pkts_tc": np.where(to_server, z, c["pkts"]),
            "bytes_ts": np.where(to_server, c["bytes"], z),
            "bytes_tc": np.where(to_server, z, c["bytes"]),
            "flags_ts": np.where(to_server, c["flags"], z),
            "flags_tc": np.where(to_server, z, c["flags"]),
        }
        return self._sides

    def record_numbers(self) -> I64:
        """One row per flow in the RecordBuffer's order of numbers (see records.py)."""
        c, s = self.cols, self.sides()
        return np.stack(
            [
                c["flow_id"], np.zeros(len(self), dtype=np.int64), c["ts_first"], c["ts_last"],
                c["k0"], c["k1"], c["k2"], c["k3"], c["pp"], c["client_is_lo"].astype(np.int64),
                s["pkts_ts"], s["pkts_tc"], s["bytes_ts"], s["bytes_tc"], s["flags_ts"],
                s["flags_tc"], c["vlan"], c["tunnel"],
            ],
            axis=1,
        )  # fmt: skip

    def states(self) -> list[FlowState]:
        """The flows as FlowState objects (for consumers without a columnar path)."""
        c, s = self.cols, self.sides()
        cols = [c[k].tolist() for k in ("k0", "k1", "k2", "k3", "pp")]
        rows = zip(
            *cols,
            *(c[k].tolist() for k in ("flow_id", "client_is_lo", "ts_first", "ts_last")),
            *(c[k].tolist() for k in ("vlan", "tunnel", "syn_seq", "cls", "h")),
            *(s[k].tolist() for k in ("pkts_ts", "pkts_tc", "bytes_ts", "bytes_tc")),
            *(s[k].tolist() for k in ("flags_ts", "flags_tc")),
            strict=True,
        )
        out = []
        for k0, k1, k2, k3, pp, fid, cil, t0, t1, vlan, tun, syn, cls, h, a, b, c_, d, e, f in rows:
            st = FlowState((k0, k1, k2, k3, pp), fid, cil, pp & 0xFF, t0, t0, t1, vlan, tun)
            st.pkts_ts, st.pkts_tc, st.bytes_ts, st.bytes_tc = a, b, c_, d
            st.flags_ts, st.flags_tc = e, f
            st.syn_seq, st.lru_ts, st.lru_class, st.h = syn, t0, cls, h
            out.append(st)
        return out


class PendingFlows:
    """The columnar tier of one flow table: rows by slot, found by key through an
    open-addressing hash index (linear probing, tombstones) searched with numpy, so a
    batch's thousands of lookups, inserts and deletes are a few array operations each."""

    def __init__(self, capacity: int = 4096) -> None:
        self._ints = {k: np.zeros(capacity, dtype=np.int64) for k in _INTS}
        self._bools = {k: np.zeros(capacity, dtype=np.bool_) for k in _BOOLS}
        self._live = np.zeros(capacity, dtype=np.bool_)
        self._count = 0
        self._free = np.arange(capacity - 1, -1, -1, dtype=np.int64)
        """A stack of free slots (the top is `_nfree`): taken from and given back at the top,
        as numpy slices, not one Python int per row."""
        self._nfree = capacity
        self._seq = 0
        self._index = np.full(8 * capacity, _EMPTY, dtype=np.int32)
        """Bucket -> slot (or _EMPTY, _GONE); at most half full, tombstones included, and
        made again at 8-16 buckets per row, so a flood's evictions (each leaves a tombstone)
        rebuild it once per three times the rows it holds, not at every few batches."""
        self._used = 0
        """Buckets not _EMPTY (live and tombstones)."""
        self._fifo = np.zeros((2, capacity), dtype=np.int64)
        """Slots and their rows' seq in creation order, from `_head` to `_tail`: the oldest
        rows are found without sorting (an entry whose slot was taken or reused is skipped)."""
        self._head = self._tail = 0
        self.next_due = _NEVER
        """No pending flow times out before this packet time (a lower bound)."""

    def __len__(self) -> int:
        return self._count

    def find(self, h: I64, key: list[I64]) -> I64:
        """Slot of each key (hash h, key columns k0..k3, pp), -1 where it is not pending."""
        if not self._count or not len(h):
            return np.full(len(h), -1, dtype=np.int64)
        if native is None:
            return self._find_python(h, key)
        rows = tuple(self._ints[k] for k in ("h", *_KEY))
        query = tuple(np.ascontiguousarray(c, dtype=np.int64) for c in (h, *key))
        return np.frombuffer(native.index_find(self._index, rows, query), dtype=np.int64)

    def _find_python(self, h: I64, key: list[I64]) -> I64:
        """The reference of `find`: every key probes one bucket per round, in numpy."""
        n = len(h)
        out = np.full(n, -1, dtype=np.int64)
        index, mask = self._index, len(self._index) - 1
        at = h & mask
        todo = np.arange(n)
        ints = self._ints
        while len(todo):
            s = index[at[todo]]
            found = np.zeros(len(todo), dtype=np.bool_)
            occ = np.flatnonzero(s >= 0)
            if len(occ):
                sh, th = s[occ], todo[occ]
                same = ints["h"][sh] == h[th]
                for name, col in zip(_KEY, key, strict=True):
                    same &= ints[name][sh] == col[th]
                out[th[same]] = sh[same]
                found[occ[same]] = True
            todo = todo[(s != _EMPTY) & ~found]
            at[todo] = (at[todo] + 1) & mask
        return out

    def _place(self, slots: I64) -> None:
        """Put rows (absent keys, distinct) into the index: free buckets by linear probing,
        one row per bucket per round when several want the same one."""
        if native is None:
            self._place_python(slots)
            return
        slots = np.ascontiguousarray(slots, dtype=np.int64)
        buckets, used = native.index_place(self._index, self._ints["h"], slots)
        self._ints["bucket"][slots] = np.frombuffer(buckets, dtype=np.int64)
        self._used += used

    def _place_python(self, slots: I64) -> None:
        """The reference of `_place`, in numpy."""
        index, mask = self._index, len(self._index) - 1
        at = self._ints["h"][slots] & mask
        todo = np.arange(len(slots))
        while len(todo):
            b = at[todo]
            free = index[b] < 0
            cand = todo[free]
            if len(cand):
                _, first = np.unique(at[cand], return_index=True)
                win = cand[first]
                wb = at[win]
                self._used += int((index[wb] == _EMPTY).sum())
                index[wb] = slots[win]
                self._ints["bucket"][slots[win]] = wb
                placed = np.zeros(len(slots), dtype=np.bool_)
                placed[win] = True
                todo = todo[~placed[todo]]
            at[todo] = (at[todo] + 1) & mask

    def _rebuild(self, size: int) -> None:
        """A new index of `size` buckets (a power of 2) with the live rows only."""
        self._index = np.full(size, _EMPTY, dtype=np.int32)
        self._used = 0
        live = np.flatnonzero(self._live)
        if len(live):
            self._place(live)

    def _grow(self, need: int) -> None:
        old = len(self._live)
        size = max(old * 2, old + need)
        for d in (self._ints, self._bools):
            for k, v in d.items():
                grown = np.zeros(size, dtype=v.dtype)
                grown[:old] = v
                d[k] = grown  # type: ignore[assignment]
        live = np.zeros(size, dtype=np.bool_)
        live[:old] = self._live
        self._live = live
        free = np.empty(size, dtype=np.int64)
        free[: size - old] = np.arange(size - 1, old - 1, -1)
        free[size - old : size - old + self._nfree] = self._free[: self._nfree]
        self._free, self._nfree = free, size - old + self._nfree

    def add(self, cols: dict[str, npt.NDArray[np.int64]]) -> I64:
        """New flows (distinct keys, none of them pending yet), with their columns (`h` and
        the key columns among them); returns their slots."""
        n = len(cols["h"])
        if n > self._nfree:
            self._grow(n - self._nfree)
        self._nfree -= n
        slot = self._free[self._nfree : self._nfree + n].copy()
        for k, v in cols.items():
            (self._bools if k in self._bools else self._ints)[k][slot] = v
        self._ints["seq"][slot] = np.arange(self._seq, self._seq + n)
        self._seq += n
        if 2 * (self._used + n) > len(self._index):
            need = 8 * (self._count + n)
            self._rebuild(max(len(self._index), 1 << (need - 1).bit_length()))  # a power of 2
        self._live[slot] = True
        self._count += n
        self._place(slot)
        self._queue(slot)
        return slot

    def _queue(self, slots: I64) -> None:
        n = len(slots)
        if self._tail + n > self._fifo.shape[1]:  # compact, then grow if still short
            keep = self._fifo[:, self._head : self._tail]
            size = max(self._fifo.shape[1], 2 * (keep.shape[1] + n))
            fifo = np.zeros((2, size), dtype=np.int64)
            fifo[:, : keep.shape[1]] = keep
            self._fifo, self._head, self._tail = fifo, 0, keep.shape[1]
        self._fifo[0, self._tail : self._tail + n] = slots
        self._fifo[1, self._tail : self._tail + n] = self._ints["seq"][slots]
        self._tail += n

    def col(self, name: str) -> npt.NDArray[np.int64] | npt.NDArray[np.bool_]:
        """A column over all slots (index it with slots)."""
        return self._bools[name] if name in self._bools else self._ints[name]

    def touch(
        self, slots: I64, pkts: I64, nbytes: I64, flags: I64, t_last: I64, clock: int
    ) -> None:
        """More packets of the same kind for these (distinct) rows, seen at `clock`."""
        ints = self._ints
        ints["clock"][slots] = clock
        ints["pkts"][slots] += pkts
        ints["bytes"][slots] += nbytes
        ints["flags"][slots] |= flags
        ints["ts_last"][slots] = np.maximum(ints["ts_last"][slots], t_last)

    def expired(self, now: int, timeouts: I64) -> I64:
        """Slots of rows idle past their class's timeout at packet time `now`.

        Idle is counted from the row's last packet, or from the table's clock when that
        packet came if the clock was ahead (a capture whose times go back): a flow is never
        ended by the very sweep that follows its packet, whatever the batching."""
        if now <= self.next_due:
            return np.zeros(0, dtype=np.int64)
        live = np.flatnonzero(self._live)
        due = self.due(live, timeouts)
        gone = due < now
        rest = due[~gone]
        self.next_due = int(rest.min()) if len(rest) else _NEVER
        return live[gone]

    def due(self, slots: I64, timeouts: I64) -> I64:
        """When these rows time out (see `expired`)."""
        ints = self._ints
        return (
            np.maximum(ints["ts_last"][slots], ints["clock"][slots]) + timeouts[ints["cls"][slots]]
        )

    def oldest(self, n: int) -> I64:
        """Slots of the n rows created first (the ones a full table sheds), oldest first:
        read off the front of the creation queue, stale entries dropped on the way."""
        out: list[I64] = []
        want = min(n, self._count)
        seq = self._ints["seq"]
        while want > 0 and self._head < self._tail:
            end = min(self._tail, self._head + max(2 * want, 1024))
            slots, seqs = self._fifo[0, self._head : end], self._fifo[1, self._head : end]
            valid = np.flatnonzero(self._live[slots] & (seq[slots] == seqs))
            if len(valid) > want:
                valid = valid[:want]
                end = self._head + int(valid[-1]) + 1
            out.append(slots[valid])
            want -= len(valid)
            self._head = end
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def live_slots(self) -> I64:
        """Every live slot, oldest first."""
        live = np.flatnonzero(self._live)
        return live[np.argsort(self._ints["seq"][live], kind="stable")]

    def take(self, slots: I64, reasons: list[str]) -> EndedBatch:
        """Remove these rows; their columns (copies) and reasons as one batch."""
        cols: dict[str, npt.NDArray[np.int64] | npt.NDArray[np.bool_]] = {
            k: v[slots] for k, v in self._ints.items()
        }
        cols.update({k: v[slots] for k, v in self._bools.items()})
        self._live[slots] = False
        self._count -= len(slots)
        self._index[self._ints["bucket"][slots]] = _GONE
        self._free[self._nfree : self._nfree + len(slots)] = slots
        self._nfree += len(slots)
        return EndedBatch(cols, reasons)

    def state(self, slot: int) -> FlowState:
        """Row `slot` as a FlowState, removed from the tier (a promotion)."""
        batch = self.take(np.array([slot], dtype=np.int64), [""])
        return batch.states()[0]
