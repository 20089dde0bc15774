"""Inspector: hands each flow's first payload to the extractors that claim it.

Bounded: at most `max_packets` payload packets per direction are looked at, and a flow whose
first payloads no extractor claims stops being inspected. TCP payload is put back in order
per direction (retransmissions trimmed, a few out-of-order segments held) so a ClientHello
split over two segments arrives whole. An extractor that raises is counted and dropped for
that flow; the pipeline never sees the exception.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sensor.extract.base import (
    FIELDS_INCLUDED,
    HANDOFF,
    REPROBE,
    ByteBudget,
    Extractor,
    fields_bytes,
)
from sensor.extract.names import DnsNames
from sensor.flow.state import FlowState

__all__ = ["HEAD_BYTES", "HEAD_TC", "HEAD_TS", "SEGMENT_OVERHEAD", "HoldBudget", "Inspector"]

HEAD_BYTES = 64
"""First payload bytes kept per direction for `payload` signatures. The field names start
with `_`, so they stay in memory with the flow and are never written to a record."""
HEAD_TS, HEAD_TC = "_head.toserver", "_head.toclient"
_HEADS = ((HEAD_TC, HEAD_TC + "_len"), (HEAD_TS, HEAD_TS + "_len"))  # by from_client

log = logging.getLogger(__name__)

_PROBE_PACKETS = 3  # payload packets without any claim before a flow is given up
_MAX_TUNNELS = 2  # protocols stacked by CONNECT/SOCKS that are followed
_MAX_PENDING = 8  # out-of-order TCP segments held per direction
SEGMENT_OVERHEAD = 96
"""Bytes a held segment costs beyond its payload (the bytes object's header, its sequence
number and dict slot: 85 B measured), counted against the budget with it."""


Dispatch = tuple[tuple[Extractor, ...], ...]
"""Per first payload byte: the extractors whose probe can accept it."""


class HoldBudget(ByteBudget):
    """Bytes of out-of-order TCP segments held by all flows, against one limit (the `holds`
    share of limits.memory_mb): 8 segments per direction looks small, but 50,000 flows x 8 x
    1,460 B was 895 MB. `refused`: segments not held (their flow may miss a field)."""

    __slots__ = ()


class _Stream:
    """In-order delivery of one TCP direction."""

    __slots__ = ("budget", "next_seq", "pending")

    def __init__(self, budget: HoldBudget) -> None:
        self.next_seq = -1
        self.pending: dict[int, bytes] = {}
        self.budget = budget

    def release(self) -> None:
        """Give the held segments' bytes back to the budget."""
        self.budget.give(sum(len(v) + SEGMENT_OVERHEAD for v in self.pending.values()))
        self.pending.clear()

    def push(self, seq: int, data: bytes) -> list[bytes]:
        """Accept a segment; return the bytes that are now in order (possibly none)."""
        if self.next_seq < 0:
            self.next_seq = seq
        ahead = (seq - self.next_seq) & 0xFFFFFFFF
        if ahead >= 0x80000000:  # starts before what we have: keep only the new tail
            behind = 0x100000000 - ahead
            if behind >= len(data):
                return []
            data, seq, ahead = data[behind:], self.next_seq, 0
        if ahead:
            b = self.budget
            if len(self.pending) < _MAX_PENDING and seq not in self.pending:
                if not b.take(len(data) + SEGMENT_OVERHEAD):
                    return []
                self.pending[seq] = data
            return []
        out = [data]
        self.next_seq = (seq + len(data)) & 0xFFFFFFFF
        while self.next_seq in self.pending:
            nxt = self.pending.pop(self.next_seq)
            self.budget.give(len(nxt) + SEGMENT_OVERHEAD)
            out.append(nxt)
            self.next_seq = (self.next_seq + len(nxt)) & 0xFFFFFFFF
        return out


class _State:
    """Inspection state of one flow (dropped when inspection ends)."""

    __slots__ = (
        "active", "dispatch", "outer", "packets", "probed", "scratch", "streams", "tunnels",
    )  # fmt: skip

    def __init__(self, dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        """The flow's probe candidates by first byte (its transport and ports applied)."""
        self.active: list[Extractor] | None = None
        self.probed = 0  # payload chunks probed without a claim
        self.tunnels = 0
        self.outer = ""  # app_proto of the tunnel(s) around the current protocol
        self.scratch: dict[str, dict[str, Any]] = {}
        self.packets = [0, 0]  # payload packets seen: from server, from client
        self.streams: tuple[_Stream, _Stream] | None = None


class Inspector:
    """Routes payload to extractors; one per worker, shared by all flows."""

    def __init__(
        self,
        extractors: Sequence[Extractor],
        max_packets: int = 16,
        names: DnsNames | None = None,
        hold_bytes: int = 64 << 20,
    ) -> None:
        self.extractors = tuple(extractors)
        self.budget = HoldBudget(hold_bytes)
        self._releasers: dict[str, Any] = {
            e.name: rel for e in self.extractors if (rel := getattr(e, "release", None))
        }
        """Extractors that buffer against a budget: their scratch is released, not dropped."""
        self._names = names
        self.max_packets = max_packets
        self.errors: Counter[str] = Counter()
        self.extra_bytes = 0
        """Fields of the flows in the table beyond FIELDS_INCLUDED each (`_charge`): the
        flow table counts them against its share."""
        self._by_proto = {
            p: tuple(e for e in self.extractors if p in e.transports) for p in (6, 17)
        }
        self._ported = tuple(e for e in self.extractors if e.ports is not None)
        self._port_bits: dict[int, int] = {}
        """Per port: which port-bound extractors it allows (bit i: `_ported[i]`)."""
        for bit, e in enumerate(self._ported):
            for port in e.ports or ():
                self._port_bits[port] = self._port_bits.get(port, 0) | 1 << bit
        self._tables: dict[tuple[int, int], Dispatch] = {}
        """Dispatch tables by (transport, which port-bound extractors the ports allow): a
        flow's ports never change, so they are tested once per flow, not per payload."""

    def start(self, flow: FlowState) -> None:
        """A new flow: inspect it if some extractor parses its protocol; name it from DNS.

        The DNS lookup happens here, at the flow's first packet, so only answers captured
        before the flow count, whatever the batching.
        """
        flow.inspecting = bool(self._by_proto.get(flow.proto))
        if self._names is not None:
            self._names.annotate(flow)

    def has_names(self) -> bool:
        """Are there DNS answers that `start` could name a flow from?"""
        return self._names is not None and len(self._names) > 0

    def nameable(self, pairs: list[tuple[int, int, int, int]]) -> list[bool]:
        """Per (client hi, client lo, server hi, server lo): could `start` name such a flow
        from DNS? (A flow that could is made a FlowState at once, never a pending row.)"""
        if self._names is None or not len(self._names):
            return [False] * len(pairs)
        return self._names.known(pairs)

    def feed(self, flow: FlowState, data: bytes, from_client: bool, ts: int, seq: int) -> None:
        """One payload packet of `flow`, in capture order."""
        st = flow.ext
        if st is None:
            st = flow.ext = _State(self._dispatch(flow))
        d = 1 if from_client else 0
        st.packets[d] += 1
        if st.packets[d] > self.max_packets:
            if st.packets[1 - d] > self.max_packets:
                self._stop(flow)
            return
        if flow.proto == 6:
            if st.streams is None:
                st.streams = (_Stream(self.budget), _Stream(self.budget))
                if flow.syn_seq >= 0:  # the client's stream starts after its SYN
                    st.streams[1].next_seq = (flow.syn_seq + 1) & 0xFFFFFFFF
            chunks = st.streams[d].push(seq, data)
        else:
            chunks = [data]
        for chunk in chunks:
            if chunk and not self._deliver(flow, st, chunk, from_client, ts):
                return

    def _deliver(
        self, flow: FlowState, st: _State, data: bytes, from_client: bool, ts: int
    ) -> bool:
        head, head_len = _HEADS[from_client]
        meta = flow.meta
        if head not in meta:  # for payload signatures; never written to records
            meta[head] = data[:HEAD_BYTES]
            meta[head_len] = len(data)
        if st.active is None:
            claims = self._claims(st.dispatch[data[0]], flow, data, from_client)
            if not claims:
                st.probed += 1
                if st.probed >= _PROBE_PACKETS:
                    self._stop(flow)
                    return False
                return True
            st.active = claims
            st.scratch = {e.name: {} for e in claims}
        for ext in list(st.active):
            try:
                done = ext.feed(flow, data, from_client, ts, st.scratch[ext.name])
            except Exception:  # a parser bug: count it, drop the extractor for this flow
                self.errors[ext.name] += 1
                log.debug("extractor %s failed", ext.name, exc_info=True)
                done = True
            if st.outer:  # name the stack, outermost first: socks/http, http/tls
                proto = flow.meta.get("app_proto", "")
                if proto and not proto.startswith(st.outer):
                    flow.meta["app_proto"] = f"{st.outer}/{proto}"
            if done in (REPROBE, HANDOFF) and st.tunnels < _MAX_TUNNELS:
                st.tunnels += 1
                self._release(st)
                st.active, st.probed = None, 0
                st.outer = flow.meta.get("app_proto", "")
                return self._deliver(flow, st, data, from_client, ts) if done == HANDOFF else True
            if done:
                st.active.remove(ext)
                rel = self._releasers.get(ext.name)
                if rel is not None:
                    rel(st.scratch[ext.name])
        if not st.active:
            self._stop(flow)
            return False
        return True

    def _dispatch(self, flow: FlowState) -> Dispatch:
        """The flow's probe candidates per first byte: its transport's extractors whose
        first bytes allow it, less those bound to ports the flow does not use."""
        pp, bits = flow.key[4], self._port_bits
        allowed = bits.get((pp >> 24) & 0xFFFF, 0) | bits.get((pp >> 8) & 0xFFFF, 0)
        key = (flow.proto, allowed)
        table = self._tables.get(key)
        if table is None:
            barred = {id(e) for bit, e in enumerate(self._ported) if not (allowed >> bit) & 1}
            exts = [e for e in self._by_proto.get(flow.proto, ()) if id(e) not in barred]
            table = self._tables[key] = tuple(
                tuple(e for e in exts if e.first_bytes is None or b in e.first_bytes)
                for b in range(256)
            )
        return table

    def _claims(
        self, cands: tuple[Extractor, ...], flow: FlowState, data: bytes, from_client: bool
    ) -> list[Extractor]:
        """The candidates whose probe accepts `data`, in probe order; a probe that raises
        is counted and taken as a no."""
        claims = []
        for e in cands:
            try:
                if e.probe(flow, data, from_client):
                    claims.append(e)
            except Exception:
                self.errors[e.name] += 1
        return claims

    def release(self, flow: FlowState) -> None:
        """The flow ended while still inspected: free what it held."""
        self._stop(flow)

    def forget(self, flow: FlowState) -> None:
        """The flow left the table: its fields' charge (see `_charge`) is no longer held."""
        extra = flow.meta.get("_extra")
        if extra:
            self.extra_bytes -= extra

    def _charge(self, flow: FlowState) -> None:
        """Its fields are final: charge what they hold beyond a flow's measured size."""
        meta = flow.meta
        extra = fields_bytes(meta) - FIELDS_INCLUDED - meta.get("_extra", 0)
        if extra > 0:
            meta["_extra"] = meta.get("_extra", 0) + extra
            self.extra_bytes += extra

    def _stop(self, flow: FlowState) -> None:
        flow.inspecting = False
        if flow.meta:
            self._charge(flow)
        st = flow.ext
        if st is not None:
            streams = st.streams
            if streams is not None:
                if streams[0].pending:
                    streams[0].release()
                if streams[1].pending:
                    streams[1].release()
            if st.scratch:
                self._release(st)
        flow.ext = None

    def _release(self, st: _State) -> None:
        """Give back what the flow's extractors buffered against their budgets."""
        if self._releasers:
            for name, scratch in st.scratch.items():
                rel = self._releasers.get(name)
                if rel is not None:
                    rel(scratch)
