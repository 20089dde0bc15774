"""Reference decoder for one frame: every link type, tunnel and corner case, in plain Python.

The vectorised decoder handles the common layers for whole batches; everything it is not sure
about comes here. Malformed input returns a reason string (counted by the caller), never raises.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Final

from sensor.capture.base import Buffer
from sensor.decode.wifi import WIFI_LINKTYPES, wifi_payload

__all__ = ["ICMP4_PAIRS", "ICMP6_PAIRS", "LINKTYPES", "Decoded", "FragmentCache", "decode_frame"]

Decoded = tuple[int, bytes, bytes, int, int, int, int, int, int, int, int, int]
"""(ver, src, dst, proto, sport, dport, tcp_flags, payload_off, payload_len, vlan, tunnel,
tcp_seq)."""

ETHERNET, NULL, RAW, LOOP, SLL, SLL2 = 1, 0, 101, 108, 113, 276
LINKTYPES: Final = (
    frozenset({ETHERNET, NULL, RAW, 12, 14, LOOP, SLL, SLL2, 228, 229}) | WIFI_LINKTYPES
)
ICMP4_PAIRS: Final = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_PAIRS: Final = {
    128: 129,
    129: 128,
    133: 134,
    134: 133,
    135: 136,
    136: 135,
    130: 131,
    131: 130,
    139: 140,
    140: 139,
    144: 145,
    145: 144,
}
_V6_EXT: Final = frozenset({0, 43, 60, 135, 139, 140, 253, 254})
_T_GRE, _T_ERSPAN, _T_VXLAN, _T_IPIP, _T_MPLS, _T_PPPOE, _T_GTP = 1, 2, 3, 4, 5, 6, 7
MAX_DEPTH: Final = 4
VXLAN_PORT: Final = 4789
GTPU_PORT: Final = 2152
_u16 = struct.Struct("!H").unpack_from


class FragmentCache:
    """Remembers the ports of first fragments so later fragments join the same flow."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._ports: OrderedDict[tuple[bytes, bytes, int, int], tuple[int, int]] = OrderedDict()

    def put(self, key: tuple[bytes, bytes, int, int], ports: tuple[int, int]) -> None:
        """Store the ports of a first fragment; the oldest entry goes when full."""
        self._ports[key] = ports
        if len(self._ports) > self._size:
            self._ports.popitem(last=False)

    def get(self, key: tuple[bytes, bytes, int, int]) -> tuple[int, int] | None:
        """Ports of the datagram this fragment belongs to, if its first fragment was seen."""
        return self._ports.get(key)


class _Frame:
    """Decoding state of one frame: the buffer, its end, and what the outer layers found."""

    __slots__ = ("data", "depth", "end", "frags", "tunnel", "vlan")

    def __init__(self, data: Buffer, end: int, frags: FragmentCache) -> None:
        self.data = data
        self.end = end
        self.frags = frags
        self.vlan = -1
        self.tunnel = 0
        self.depth = 0


def decode_frame(
    linktype: int, data: Buffer, off: int, caplen: int, frags: FragmentCache
) -> Decoded | str:
    """Decode one frame to flow fields, or return why it cannot be (a counter name)."""
    if caplen <= 0:
        return "empty_frame"
    try:
        return _decode(linktype, data, off, caplen, frags)
    except (IndexError, struct.error, ValueError) as e:  # a missed bounds check: count it
        return f"decoder_exception_{type(e).__name__}"


def _decode(
    linktype: int, data: Buffer, off: int, caplen: int, frags: FragmentCache
) -> Decoded | str:
    f = _Frame(data, off + caplen, frags)
    if linktype == ETHERNET:
        return _ethernet(f, off)
    if linktype in (RAW, 12, 14, 228, 229):
        return _by_version(f, off)
    if linktype in (NULL, LOOP):
        return _null(f, off, linktype)
    if linktype == SLL:
        return (
            _ethertype(f, off + 16, _u16(data, off + 14)[0]) if caplen >= 16 else "truncated_link"
        )
    if linktype == SLL2:
        return _ethertype(f, off + 20, _u16(data, off)[0]) if caplen >= 20 else "truncated_link"
    if linktype in WIFI_LINKTYPES:
        res = wifi_payload(linktype, data, off, f.end)
        if isinstance(res, str):
            return res
        et, l3, f.end = res
        return _ethertype(f, l3, et)
    return "unknown_linktype"


def _ethernet(f: _Frame, off: int) -> Decoded | str:
    if off + 14 > f.end:
        return "truncated_link"
    return _ethertype(f, off + 14, _u16(f.data, off + 12)[0])


def _null(f: _Frame, off: int, linktype: int) -> Decoded | str:
    if off + 4 > f.end:
        return "truncated_link"
    fam = struct.unpack_from("!I" if linktype == LOOP else "=I", f.data, off)[0]
    if fam > 0xFFFF:  # written on a host of the other byte order
        fam = int.from_bytes(fam.to_bytes(4, "big"), "little")
    if fam == 2:
        return _ipv4(f, off + 4)
    if fam in (10, 24, 28, 30):
        return _ipv6(f, off + 4)
    return "non_ip"


def _by_version(f: _Frame, off: int) -> Decoded | str:
    if off >= f.end:
        return "truncated_ip"
    v = f.data[off] >> 4
    if v == 4:
        return _ipv4(f, off)
    if v == 6:
        return _ipv6(f, off)
    return "bad_ip_version"


def _ethertype(f: _Frame, off: int, et: int) -> Decoded | str:
    data, end = f.data, f.end
    while True:
        if et in (0x8100, 0x88A8, 0x9100):
            if off + 4 > end:
                return "truncated_link"
            if f.vlan < 0:
                f.vlan = _u16(data, off)[0] & 0x0FFF
            et = _u16(data, off + 2)[0]
            off += 4
        elif et == 0x0800:
            return _ipv4(f, off)
        elif et == 0x86DD:
            return _ipv6(f, off)
        elif et in (0x8847, 0x8848):
            return _mpls(f, off)
        elif et == 0x8864:
            return _pppoe(f, off)
        else:
            return "non_ip"


def _mpls(f: _Frame, off: int) -> Decoded | str:
    f.tunnel = _T_MPLS
    for _ in range(8):
        if off + 4 > f.end:
            return "truncated_link"
        bottom = f.data[off + 2] & 1
        off += 4
        if bottom:
            return _by_version(f, off)
    return "bad_mpls"


def _pppoe(f: _Frame, off: int) -> Decoded | str:
    if off + 8 > f.end:
        return "truncated_link"
    f.tunnel = _T_PPPOE
    proto = _u16(f.data, off + 6)[0]
    if proto == 0x0021:
        return _ipv4(f, off + 8)
    if proto == 0x0057:
        return _ipv6(f, off + 8)
    return "non_ip"


def _ipv4(f: _Frame, off: int) -> Decoded | str:
    data, end = f.data, f.end
    if off + 20 > end:
        return "truncated_ip"
    vihl = data[off]
    ihl = (vihl & 15) * 4
    if vihl >> 4 != 4:
        return "bad_ip_version"
    total = _u16(data, off + 2)[0]
    if total == 0:  # captured before TCP segmentation offload filled it in: the frame decides
        total = end - off
    if ihl < 20 or total < ihl or off + ihl > end:
        return "bad_ip_header"
    ip_end = min(off + total, end)
    frag = _u16(data, off + 6)[0]
    proto = data[off + 9]
    src, dst = bytes(data[off + 12 : off + 16]), bytes(data[off + 16 : off + 20])
    l4 = off + ihl
    if frag & 0x3FFF:
        return _fragment(f, 4, src, dst, proto, _u16(data, off + 4)[0], frag, l4, ip_end)
    return _transport(f, 4, src, dst, proto, l4, ip_end)


def _ipv6(f: _Frame, off: int) -> Decoded | str:
    data, end = f.data, f.end
    if off + 40 > end:
        return "truncated_ip"
    if data[off] >> 4 != 6:
        return "bad_ip_version"
    plen = _u16(data, off + 4)[0]
    nh = data[off + 6]
    src, dst = bytes(data[off + 8 : off + 24]), bytes(data[off + 24 : off + 40])
    ip_end = min(off + 40 + plen, end) if plen else end
    l4 = off + 40
    for _ in range(8):
        if nh == 44:  # fragment header
            if l4 + 8 > end:
                return "truncated_ip"
            frag = _u16(data, l4 + 2)[0]
            ident = struct.unpack_from("!I", data, l4 + 4)[0]
            nxt = data[l4]
            if frag & 0xFFF9:
                # offset in the top 13 bits, M flag in bit 0: same shape as IPv4 for _fragment
                v4_style = (frag >> 3) | (0x2000 if frag & 1 else 0)
                return _fragment(f, 6, src, dst, nxt, ident, v4_style, l4 + 8, ip_end)
            nh, l4 = nxt, l4 + 8
        elif nh in _V6_EXT:
            if l4 + 8 > end:
                return "truncated_ip"
            nh, l4 = data[l4], l4 + (data[l4 + 1] + 1) * 8
        elif nh == 51:  # authentication header counts 4-octet units
            if l4 + 8 > end:
                return "truncated_ip"
            nh, l4 = data[l4], l4 + (data[l4 + 1] + 2) * 4
        else:
            return _transport(f, 6, src, dst, nh, l4, ip_end)
    return "bad_ip_header"


def _fragment(
    f: _Frame,
    ver: int,
    src: bytes,
    dst: bytes,
    proto: int,
    ident: int,
    frag: int,
    l4: int,
    ip_end: int,
) -> Decoded | str:
    key = (src, dst, proto, ident)
    if frag & 0x1FFF == 0:  # first fragment: carries the transport header
        res = _transport(f, ver, src, dst, proto, l4, ip_end)
        if not isinstance(res, str):
            f.frags.put(key, (res[4], res[5]))
        return res
    ports = f.frags.get(key) or (0, 0)
    return (ver, src, dst, proto, ports[0], ports[1], 0, l4, 0, f.vlan, f.tunnel, 0)


def _transport(
    f: _Frame, ver: int, src: bytes, dst: bytes, proto: int, l4: int, ip_end: int
) -> Decoded | str:
    data = f.data
    if l4 > ip_end:  # an extension header claims more than the packet holds
        return "bad_ip_header"
    if proto == 6:
        if l4 + 20 > ip_end:
            return "truncated_tcp"
        doff = (data[l4 + 12] >> 4) * 4
        if doff < 20:
            return "bad_tcp_header"
        sport, dport, seq = struct.unpack_from("!HHI", data, l4)
        pl = min(l4 + doff, ip_end)
        flags = data[l4 + 13]
        return (ver, src, dst, 6, sport, dport, flags, pl, ip_end - pl, f.vlan, f.tunnel, seq)
    if proto == 17:
        if l4 + 8 > ip_end:
            return "truncated_udp"
        sport, dport = struct.unpack_from("!HH", data, l4)
        if dport == VXLAN_PORT and l4 + 16 <= ip_end and data[l4 + 8] & 0x08:
            return _tunnel(f, _T_VXLAN, lambda: _ethernet(f, l4 + 16))
        if GTPU_PORT in (sport, dport):
            inner = _gtpu(data, l4 + 8, ip_end)
            if inner is not None:
                return _tunnel(f, _T_GTP, lambda: _by_version(f, inner))
        return (ver, src, dst, 17, sport, dport, 0, l4 + 8, ip_end - l4 - 8, f.vlan, f.tunnel, 0)
    if proto in (1, 58):
        if l4 + 2 > ip_end:
            return "truncated_icmp"
        itype, code = data[l4], data[l4 + 1]
        pairs = ICMP4_PAIRS if proto == 1 else ICMP6_PAIRS
        dport = pairs.get(itype, code)
        return (ver, src, dst, proto, itype, dport, 0, l4, ip_end - l4, f.vlan, f.tunnel, 0)
    if proto == 47:
        res = _gre(f, l4, ip_end)
        if res is not None:
            return res
    elif proto == 4:
        return _tunnel(f, _T_IPIP, lambda: _ipv4(f, l4))
    elif proto == 41:
        return _tunnel(f, _T_IPIP, lambda: _ipv6(f, l4))
    return (ver, src, dst, proto, 0, 0, 0, l4, max(ip_end - l4, 0), f.vlan, f.tunnel, 0)


def _gtpu(data: Buffer, off: int, end: int) -> int | None:
    """Offset of the user packet inside a GTP-U G-PDU, or None if it is something else."""
    if off + 8 > end or data[off] >> 4 != 3 or data[off + 1] != 0xFF:  # v1, PT=1, G-PDU
        return None
    p = off + 8
    if data[off] & 0x07:  # sequence number, N-PDU number, next extension type
        if p + 4 > end:
            return None
        nxt, p = data[p + 3], p + 4
        while nxt and p < end:  # extension headers: length in 4-octet units, next type last
            size = data[p] * 4
            if size == 0 or p + size > end:
                return None
            nxt, p = data[p + size - 1], p + size
    return p if p < end and data[p] >> 4 in (4, 6) else None


def _tunnel(f: _Frame, kind: int, inner: object) -> Decoded | str:
    f.depth += 1
    if f.depth > MAX_DEPTH:
        return "tunnel_too_deep"
    f.tunnel = kind
    return inner()  # type: ignore[operator, no-any-return]


def _gre(f: _Frame, off: int, ip_end: int) -> Decoded | str | None:
    """Decapsulate GRE version 0 (ERSPAN I/II/III, transparent bridging, IP); None: keep GRE."""
    data = f.data
    if off + 4 > ip_end:
        return None
    flags, ptype = _u16(data, off)[0], _u16(data, off + 2)[0]
    if flags & 0x7:  # version 1 is PPTP's enhanced GRE: leave it a GRE flow
        return None
    hdr = off + 4 + 4 * bin(flags & 0xB000).count("1")  # checksum, key, sequence words
    if ptype == 0x88BE:
        inner = hdr + 8 if flags & 0x1000 else hdr  # ERSPAN II has a sequence; type I does not
        return _tunnel(f, _T_ERSPAN, lambda: _ethernet(f, inner))
    if ptype == 0x22EB:
        if hdr + 12 > ip_end:
            return "truncated_tunnel"
        platform = 8 if data[hdr + 11] & 0x01 else 0  # O bit: optional platform subheader
        return _tunnel(f, _T_ERSPAN, lambda: _ethernet(f, hdr + 12 + platform))
    if ptype == 0x6558:
        return _tunnel(f, _T_GRE, lambda: _ethernet(f, hdr))
    if ptype == 0x0800:
        return _tunnel(f, _T_GRE, lambda: _ipv4(f, hdr))
    if ptype == 0x86DD:
        return _tunnel(f, _T_GRE, lambda: _ipv6(f, hdr))
    return None
