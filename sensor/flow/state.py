"""FlowState: the mutable record of one flow while it is in the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sensor.flow.key import FlowKey

__all__ = ["ACK", "FIN", "RST", "SYN", "FlowState"]

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


@dataclass(slots=True, eq=False)
class FlowState:
    """Counters per direction (client = initiator) and what the extractors found."""

    key: FlowKey
    flow_id: int
    client_is_lo: bool
    proto: int
    ts_first: int
    ts_start: int
    ts_last: int
    vlan: int = -1
    tunnel: int = 0
    segment: int = 0
    pkts_ts: int = 0
    pkts_tc: int = 0
    bytes_ts: int = 0
    bytes_tc: int = 0
    flags_ts: int = 0
    flags_tc: int = 0
    closed: str = ""
    lru_ts: int = 0
    lru_class: int = 0
    inspecting: bool = False
    answered: bool = False
    """Both sides have sent: no longer a candidate to shed when the table is full."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Application-layer fields found by extractors, by dotted name (`tls.sni`)."""
    syn_seq: int = -1
    """Sequence number of the client's SYN, where its byte stream starts (-1: not seen)."""
    h: int = 0
    """The key's 64-bit hash (flow/group.py), for the table's filter of known keys."""
    ext: Any = None
    """Inspection state while the flow is being inspected (owned by the Inspector)."""

    def add(self, fwd: tuple[int, int, int], rev: tuple[int, int, int], t_last: int) -> None:
        """Add packets/bytes/flags seen from the lo side (`fwd`) and the hi side (`rev`)."""
        ts, tc = (fwd, rev) if self.client_is_lo else (rev, fwd)
        self.pkts_ts += ts[0]
        self.bytes_ts += ts[1]
        self.flags_ts |= ts[2]
        self.pkts_tc += tc[0]
        self.bytes_tc += tc[1]
        self.flags_tc |= tc[2]
        if t_last > self.ts_last:
            self.ts_last = t_last
        # independent of packet order, so a run summed at once ends like packet by packet
        if (ts[2] | tc[2]) & RST:
            self.closed = "rst"
        elif not self.closed and self.flags_ts & self.flags_tc & FIN:
            self.closed = "fin"

    def reset_counters(self, ts: int) -> None:
        """Start a new segment after an interim (active timeout) record."""
        self.segment += 1
        self.ts_start = ts
        self.pkts_ts = self.pkts_tc = self.bytes_ts = self.bytes_tc = 0
        self.flags_ts = self.flags_tc = 0
