"""NetSet: CIDR membership for flow addresses kept as plain ints.

Flow keys hold addresses as integers, so membership is a few shifts and set lookups per
prefix length present, with no `ipaddress` objects on the classification path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["DEFAULT_INTERNAL", "NetSet"]

DEFAULT_INTERNAL = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
)
"""Private, carrier-grade NAT and link-local ranges: the default `policy.networks.internal`."""

LOCAL_ONLY = (
    "224.0.0.0/4",
    "255.255.255.255/32",
    "0.0.0.0/8",
    "127.0.0.0/8",
    "ff00::/8",
    "::1/128",
)
"""Multicast, broadcast and loopback: never the far end of a conversation across the boundary."""


class NetSet:
    """A set of IPv4/IPv6 networks; `contains(ver, addr)` with `addr` as an int."""

    __slots__ = ("_by_len", "networks")

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)
        by_len: dict[tuple[int, int], set[int]] = {}
        for n in self.networks:
            bits = n.max_prefixlen
            by_len.setdefault((n.version, n.prefixlen), set()).add(
                int(n.network_address) >> (bits - n.prefixlen)
            )
        # longest prefixes first: the most specific match answers soonest
        self._by_len = sorted(
            ((v, plen, 32 if v == 4 else 128, frozenset(s)) for (v, plen), s in by_len.items()),
            key=lambda t: -t[1],
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def contains(self, ver: int, addr: int) -> bool:
        """True if the address (IPv4 or IPv6, as an int) is in one of the networks."""
        for v, plen, bits, nets in self._by_len:  # noqa: SIM110 - a loop beats any() here
            if v == ver and (addr >> (bits - plen)) in nets:
                return True
        return False

    def match(self, ver: int, addr: int) -> str | None:
        """The most specific network containing the address, as text, or None."""
        for v, plen, bits, nets in self._by_len:
            if v == ver and (addr >> (bits - plen)) in nets:
                cls = ipaddress.IPv4Address if v == 4 else ipaddress.IPv6Address
                return f"{cls(addr >> (bits - plen) << (bits - plen))}/{plen}"
        return None


def parse_cidrs(cidrs: Iterable[str]) -> None:
    """Raise ValueError naming the first entry that is not an address or network."""
    for c in cidrs:
        try:
            ipaddress.ip_network(str(c).strip(), strict=False)
        except ValueError:
            raise ValueError(f"not an address or network: {c!r}") from None
