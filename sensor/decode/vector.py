"""Vectorised decode of the common case for a whole batch: Ethernet (VLAN, QinQ), Linux SLL and
SLL2, raw IP, BSD null/loop; IPv4 without fragments; IPv6 without extension headers; TCP, UDP,
ICMP, ICMPv6 and other IP protocols.

Frames it cannot decode with certainty (tunnels, fragments, extension headers, short or odd
headers) are left `ok=False` and listed as pending for the scalar decoder, which is the reference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from sensor.capture.base import FrameBatch
from sensor.decode.columns import PacketColumns
from sensor.decode.scalar import GTPU_PORT, ICMP4_PAIRS, ICMP6_PAIRS, VXLAN_PORT

__all__ = ["decode_vector"]

I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]


def _pair_table(pairs: dict[int, int]) -> tuple[I64, BoolA]:
    to = np.zeros(256, dtype=np.int64)
    has = np.zeros(256, dtype=np.bool_)
    for k, v in pairs.items():
        to[k], has[k] = v, True
    return to, has


_ICMP4 = _pair_table(ICMP4_PAIRS)
_ICMP6 = _pair_table(ICMP6_PAIRS)
_TUNNEL_PROTOS = np.array([4, 41, 47], dtype=np.int64)


class _Gather:
    """Bounds-safe big-endian reads at many offsets: out-of-range reads give 0, masked later."""

    __slots__ = ("last", "u8")

    def __init__(self, u8: npt.NDArray[np.uint8]) -> None:
        self.u8 = u8
        self.last = len(u8) - 1

    def u8at(self, idx: I64) -> I64:
        return self.u8[np.minimum(idx, self.last)].astype(np.int64)

    def u16(self, idx: I64) -> I64:
        return self.u8at(idx) << 8 | self.u8at(idx + 1)

    def u32(self, idx: I64) -> I64:
        return self.u16(idx) << 16 | self.u16(idx + 2)

    def u64(self, idx: I64) -> I64:
        hi = self.u32(idx).astype(np.uint64) << np.uint64(32)
        return (hi | self.u32(idx + 4).astype(np.uint64)).view(np.int64)


def decode_vector(batch: FrameBatch, cols: PacketColumns) -> BoolA:
    """Fill `cols` for the frames decodable here; return the mask of frames still pending."""
    g = _Gather(np.frombuffer(batch.data, dtype=np.uint8))
    off, end = batch.offsets, batch.offsets + batch.caplens
    link = _LINKS.get(batch.linktype)
    if link is None or len(off) == 0 or g.last < 0:
        return np.ones(len(off), dtype=np.bool_)
    et, l3, vlan, ok = link(g, off, end)
    cols.vlan[:] = vlan
    pending = ok.copy()
    done4 = _ipv4(g, cols, ok & (et == 0x0800), l3, end)
    done6 = _ipv6(g, cols, ok & (et == 0x86DD), l3, end)
    done = done4 | done6
    cols.ok[:] = done
    non_ip = ok & (et != 0x0800) & (et != 0x86DD) & ~_is_shim(et)
    pending &= ~done & ~non_ip
    pending |= ~ok
    return pending


def _is_shim(et: I64) -> BoolA:
    """Ethertypes the scalar decoder can look through (VLAN beyond two tags, MPLS, PPPoE)."""
    shim: BoolA = np.isin(et, (0x8100, 0x88A8, 0x9100, 0x8847, 0x8848, 0x8864))
    return shim


LinkResult = tuple[I64, I64, I64, BoolA]


def _eth(g: _Gather, off: I64, end: I64) -> LinkResult:
    ok = off + 14 <= end
    et = g.u16(off + 12)
    l3 = off + 14
    vlan = np.full(len(off), -1, dtype=np.int64)
    for _ in range(2):
        tagged = ok & ((et == 0x8100) | (et == 0x88A8)) & (l3 + 4 <= end)
        if not tagged.any():
            break
        vlan = np.where(tagged & (vlan < 0), g.u16(l3) & 0x0FFF, vlan)
        et = np.where(tagged, g.u16(l3 + 2), et)
        l3 = np.where(tagged, l3 + 4, l3)
    return et, l3, vlan, ok


def _sll(g: _Gather, off: I64, end: I64) -> LinkResult:
    return g.u16(off + 14), off + 16, np.full(len(off), -1, np.int64), off + 16 <= end


def _sll2(g: _Gather, off: I64, end: I64) -> LinkResult:
    return g.u16(off), off + 20, np.full(len(off), -1, np.int64), off + 20 <= end


def _raw(g: _Gather, off: I64, end: I64) -> LinkResult:
    v = g.u8at(off) >> 4
    et = np.where(v == 4, 0x0800, np.where(v == 6, 0x86DD, 0))
    return et, off, np.full(len(off), -1, np.int64), off + 1 <= end


def _null(g: _Gather, off: I64, end: I64) -> LinkResult:
    # the family is in the writer's byte order: accept either end of the 4-byte word
    fam = np.maximum(g.u8at(off), g.u8at(off + 3))
    et = np.where(fam == 2, 0x0800, np.where(np.isin(fam, (10, 24, 28, 30)), 0x86DD, 0))
    return et, off + 4, np.full(len(off), -1, np.int64), off + 4 <= end


_LINKS: dict[int, Callable[[_Gather, I64, I64], LinkResult]] = {
    1: _eth,
    113: _sll,
    276: _sll2,
    101: _raw,
    12: _raw,
    14: _raw,
    228: _raw,
    229: _raw,
    0: _null,
    108: _null,
}


def _ipv4(g: _Gather, c: PacketColumns, m: BoolA, l3: I64, end: I64) -> BoolA:
    vihl = g.u8at(l3)
    ihl = (vihl & 15) * 4
    total = g.u16(l3 + 2)
    proto = g.u8at(l3 + 9)
    m = m & (vihl >> 4 == 4) & (ihl >= 20) & (total >= ihl) & (l3 + ihl <= end) & (l3 + 20 <= end)
    m &= (g.u16(l3 + 6) & 0x3FFF) == 0  # fragments go to the scalar decoder
    m &= ~np.isin(proto, _TUNNEL_PROTOS)
    if not m.any():
        return m
    ip_end = np.minimum(l3 + total, end)
    done = _transport(g, c, m, proto, l3 + ihl, ip_end, _ICMP4)
    c.ver[done] = 4
    c.src_lo[done] = g.u32(l3[done] + 12)
    c.dst_lo[done] = g.u32(l3[done] + 16)
    return done


def _ipv6(g: _Gather, c: PacketColumns, m: BoolA, l3: I64, end: I64) -> BoolA:
    plen = g.u16(l3 + 4)
    nh = g.u8at(l3 + 6)
    m = m & (g.u8at(l3) >> 4 == 6) & (l3 + 40 <= end) & (plen > 0)
    m &= np.isin(nh, (6, 17, 58, 50, 132, 112, 89, 103))  # no extension headers, no tunnels
    if not m.any():
        return m
    ip_end = np.minimum(l3 + 40 + plen, end)
    done = _transport(g, c, m, nh, l3 + 40, ip_end, _ICMP6)
    a = l3[done]
    c.ver[done] = 6
    c.src_hi[done], c.src_lo[done] = g.u64(a + 8), g.u64(a + 16)
    c.dst_hi[done], c.dst_lo[done] = g.u64(a + 24), g.u64(a + 32)
    return done


def _transport(
    g: _Gather,
    c: PacketColumns,
    m: BoolA,
    proto: I64,
    l4: I64,
    ip_end: I64,
    icmp: tuple[I64, BoolA],
) -> BoolA:
    tcp = m & (proto == 6)
    udp = m & (proto == 17)
    icm = m & ((proto == 1) | (proto == 58))
    other = m & ~tcp & ~udp & ~icm
    doff = (g.u8at(l4 + 12) >> 4) * 4
    tcp &= (l4 + 20 <= ip_end) & (doff >= 20)
    udp &= l4 + 8 <= ip_end
    sport, dport = g.u16(l4), g.u16(l4 + 2)
    udp &= (dport != VXLAN_PORT) & (dport != GTPU_PORT) & (sport != GTPU_PORT)  # tunnels
    icm &= l4 + 2 <= ip_end
    done: BoolA = tcp | udp | icm | other
    itype, code = g.u8at(l4), g.u8at(l4 + 1)
    pair_to, has_pair = icmp
    sport = np.where(icm, itype, np.where(other, 0, sport))
    dport = np.where(
        icm, np.where(has_pair[itype], pair_to[itype], code), np.where(other, 0, dport)
    )
    pl = np.where(tcp, np.minimum(l4 + doff, ip_end), np.where(udp, l4 + 8, l4))
    c.proto[done] = proto[done]
    c.sport[done] = sport[done]
    c.dport[done] = dport[done]
    c.flags[tcp] = g.u8at(l4[tcp] + 13)
    c.seq[tcp] = g.u32(l4[tcp] + 4)
    c.pl_off[done] = pl[done]
    c.pl_len[done] = np.maximum(ip_end - pl, 0)[done]
    return done
