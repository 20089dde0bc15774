"""Canonical bidirectional flow keys and Community ID v1.

A key is (lo_hi, lo_lo, hi_hi, hi_lo, ports_proto): both endpoints as 64-bit address halves,
ordered so that both directions of a conversation give the same key, and the ports, protocol
and IP version packed in one int. Plain ints make it cheap to hash and to build from numpy.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import struct

import numpy as np
import numpy.typing as npt

__all__ = [
    "FlowKey",
    "community_id",
    "flow_id_of",
    "flow_ids_of",
    "key_addresses",
    "pack_ports",
    "unpack_ports",
]

FlowKey = tuple[int, int, int, int, int]

_MASK64 = (1 << 64) - 1


_M63 = (1 << 63) - 1
_F1, _F2, _F3 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def flow_id_of(h: int, t0: int) -> int:
    """A flow's id: its key's 64-bit hash (see flow/group.py) mixed with its first packet's
    time (splitmix64's finaliser), 63 bits. Computed the same way for a whole batch by
    `flow_ids_of`, so flows made one by one and as columns get the same id."""
    x = ((h & _MASK64) ^ ((t0 * _F1) & _MASK64)) & _MASK64
    x = ((x ^ (x >> 30)) * _F2) & _MASK64
    x = ((x ^ (x >> 27)) * _F3) & _MASK64
    return (x ^ (x >> 31)) & _M63


def flow_ids_of(h: npt.NDArray[np.int64], t0: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`flow_id_of` for arrays (uint64 arithmetic wraps like the masks above)."""
    with np.errstate(over="ignore"):
        x = h.view(np.uint64) ^ (t0.view(np.uint64) * np.uint64(_F1))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(_F2)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(_F3)
        x ^= x >> np.uint64(31)
    out: npt.NDArray[np.int64] = (x & np.uint64(_M63)).view(np.int64)
    return out


def pack_ports(lo_port: int, hi_port: int, proto: int, ver: int) -> int:
    """Pack the lo side's port, the hi side's port, the protocol and IP version in one int."""
    return (ver << 40) | (lo_port << 24) | (hi_port << 8) | proto


def unpack_ports(pp: int) -> tuple[int, int, int, int]:
    """Inverse of pack_ports: (lo_port, hi_port, proto, ver)."""
    return (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF, pp & 0xFF, pp >> 40


def _addr_bytes(hi: int, lo: int, ver: int) -> bytes:
    if ver == 4:
        return (lo & 0xFFFFFFFF).to_bytes(4, "big")
    return (hi & _MASK64).to_bytes(8, "big") + (lo & _MASK64).to_bytes(8, "big")


def key_addresses(key: FlowKey) -> tuple[bytes, int, bytes, int, int, int]:
    """(lo address bytes, lo port, hi address bytes, hi port, proto, ver) of a key."""
    lo_port, hi_port, proto, ver = unpack_ports(key[4])
    return (
        _addr_bytes(key[0], key[1], ver),
        lo_port,
        _addr_bytes(key[2], key[3], ver),
        hi_port,
        proto,
        ver,
    )


def address_text(raw: bytes) -> str:
    """Dotted or RFC 5952 text of a packed address."""
    return str(ipaddress.ip_address(raw))


_PORT_PROTOS = frozenset({1, 6, 17, 58, 132})
_ICMP_ONE_WAY = {
    1: frozenset({8, 0, 13, 14, 15, 16, 10, 9, 17, 18}),
    58: frozenset({128, 129, 133, 134, 135, 136, 130, 131, 139, 140, 144, 145}),
}


def community_id(
    proto: int, saddr: bytes, daddr: bytes, sport: int, dport: int, seed: int = 0
) -> str:
    """Community ID v1 (base64) of a flow seen from src to dst.

    For ICMP, `sport`/`dport` are the port equivalents already (type and counterpart type, or
    type and code for one-way messages), as the decoder produces them.
    """
    one_way = proto in _ICMP_ONE_WAY and sport not in _ICMP_ONE_WAY[proto]
    if not one_way and (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    h = hashlib.sha1(struct.pack("!H", seed))
    h.update(saddr)
    h.update(daddr)
    h.update(struct.pack("!BB", proto, 0))
    if proto in _PORT_PROTOS:
        h.update(struct.pack("!HH", sport, dport))
    return "1:" + base64.b64encode(h.digest()).decode("ascii")
