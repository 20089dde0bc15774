"""The payload walk: a run's payload packets handed to the inspector one by one.

Why apart from the table: the table decides which flows and which of their runs are inspected;
this module knows how a batch's payload packets lie (positions in the runs' `order`, offsets
into the capture buffer) and feeds them in capture order until the inspector is done. Their
Python lists are made once per batch, at the first inspected run: a batch that inspects
nothing (a flood) never pays for them.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Protocol

import numpy as np

from sensor.decode.columns import PacketColumns
from sensor.flow.group import Runs
from sensor.flow.state import FlowState

__all__ = ["PayloadSink", "PayloadWalk"]


class PayloadSink(Protocol):
    """Who gets the first payload packets of flows (the Inspector)."""

    def start(self, flow: FlowState) -> None:
        """A new flow: decide whether to inspect it (sets flow.inspecting), name it."""
        ...

    def feed(self, flow: FlowState, data: bytes, from_client: bool, ts: int, seq: int) -> None:
        """One payload packet, in capture order; sets flow.inspecting False when done."""
        ...

    extra_bytes: int
    """What the fields of the flows in the table hold beyond a flow's measured size."""

    def release(self, flow: FlowState) -> None:
        """The flow ended while still inspected: free what it held (budgeted memory)."""
        ...

    def forget(self, flow: FlowState) -> None:
        """The flow left the table: its fields no longer count in `extra_bytes`."""
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


class PayloadWalk:
    """Feeds the payload packets of inspected runs to the inspector (`sink`)."""

    __slots__ = ("_lists", "_sink")

    def __init__(self, sink: PayloadSink | None) -> None:
        """No sink: no flow is ever inspected, so `feed` is never called."""
        self._sink = sink
        self._lists: _Payloads | None = None

    def new_batch(self) -> None:
        """Forget the last batch's lists (made again at the first inspected run)."""
        self._lists = None

    def feed(self, cols: PacketColumns, r: Runs, flow: FlowState, lo: int, hi: int) -> None:
        """Hand the payload packets at positions [lo, hi) of `order` to the inspector."""
        p = self._lists
        if p is None:
            p = self._lists = _Payloads(cols, r)
        assert self._sink is not None
        feed, data, client = self._sink.feed, cols.data, flow.client_is_lo
        pos, offs, lens, fwd, ts, seqs = p.pos, p.offs, p.lens, p.fwd, p.ts, p.seqs
        k = bisect_left(pos, lo)
        for j in range(k, bisect_left(pos, hi, k)):
            if not flow.inspecting:
                return
            o = offs[j]
            feed(flow, bytes(data[o : o + lens[j]]), fwd[j] == client, ts[j], seqs[j])
