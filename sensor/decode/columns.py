"""PacketColumns: the decoded batch as parallel numpy arrays (a struct of arrays).

One object per batch instead of one per packet: the flow table groups and sums these columns
with numpy, and only looks at single packets where it must (flow boundaries, payload).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensor.capture.base import Buffer

__all__ = ["INT_COLUMNS", "TUNNELS", "PacketColumns"]

I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]

INT_COLUMNS = (
    "ver",
    "src_hi",
    "src_lo",
    "dst_hi",
    "dst_lo",
    "proto",
    "sport",
    "dport",
    "flags",
    "pl_off",
    "pl_len",
    "vlan",
    "tunnel",
    "seq",
)

TUNNELS = ("", "gre", "erspan", "vxlan", "ipip", "mpls", "pppoe", "gtp")
"""Encapsulation codes stored in `PacketColumns.tunnel` (index into this tuple)."""


@dataclass(slots=True)
class PacketColumns:
    """Decoded header fields of every frame in a batch; `ok` marks frames that form a flow.

    Addresses are two 64-bit halves (IPv4 in the low half, high half 0) so IPv4 and IPv6 share
    columns. ICMP type/code stand in for ports the way Zeek and Community ID map them.
    """

    data: Buffer
    ts: I64
    wirelen: I64
    ok: BoolA
    ver: I64
    src_hi: I64
    src_lo: I64
    dst_hi: I64
    dst_lo: I64
    proto: I64
    sport: I64
    dport: I64
    flags: I64
    pl_off: I64
    pl_len: I64
    vlan: I64
    tunnel: I64
    seq: I64
    """TCP sequence number (0 for other protocols): the inspector reorders segments by it."""

    @classmethod
    def empty(cls, data: Buffer, ts: I64, wirelen: I64) -> PacketColumns:
        """Columns for len(ts) frames, all not-ok until a decoder fills them."""
        n = len(ts)

        def z() -> I64:
            return np.zeros(n, dtype=np.int64)

        ints = {name: np.zeros(n, dtype=np.int64) for name in INT_COLUMNS}
        ints["vlan"] -= 1
        return cls(data=data, ts=ts, wirelen=wirelen, ok=np.zeros(n, dtype=np.bool_), **ints)

    def __len__(self) -> int:
        return len(self.ts)
