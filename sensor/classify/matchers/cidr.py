"""`cidr`: the server (`dest_ip`, default) or client (`src_ip`) address is in one of the
listed networks, e.g. a service's published address ranges."""

from __future__ import annotations

from typing import Any, ClassVar

from sensor.classify.matchers.base import ANYTHING, RAW, Evidence, Gate, Need, as_list
from sensor.classify.nets import NetSet
from sensor.classify.view import FlowView, Networks

__all__ = ["CidrMatcher"]


class CidrMatcher:
    kind: ClassVar[str] = "cidr"

    __slots__ = ("feed", "field", "nets")

    def __init__(self, field: str, nets: NetSet, feed: str = "") -> None:
        self.field = field
        self.nets = nets
        self.feed = f" (feed {feed})" if feed else ""
        """Said after the evidence when the networks come from a feed (`name@version`)."""

    @classmethod
    def parse(cls, field: str | None, value: Any) -> CidrMatcher:
        field = field or "dest_ip"
        if field not in ("dest_ip", "src_ip"):
            raise ValueError("cidr: field must be dest_ip or src_ip")
        try:
            return cls(field, NetSet(str(x) for x in as_list(value, "cidr")))
        except ValueError as e:
            raise ValueError(f"cidr: {e}") from None

    @classmethod
    def from_feed(cls, field: str | None, entries: list[str], label: str) -> CidrMatcher:
        """The feed's networks, its `name@version` quoted in the evidence."""
        m = cls.parse(field, entries)
        return cls(m.field, m.nets, label)

    def match(self, v: FlowView) -> Evidence | None:
        addr = v.dest_ip if self.field == "dest_ip" else v.src_ip
        net = self.nets.match(v.ver, addr)
        if net is None:
            return None
        return (f"{self.field}={v.ip_text(addr)} in {net}{self.feed}", 1.0)

    def gate(self) -> Gate | None:
        """The server's /16 (IPv4) or /32 (IPv6) buckets the networks cover."""
        if self.field != "dest_ip":
            return None
        keys: set[tuple[int, int]] = set()
        for n in self.nets.networks:
            bucket = 16 if n.version == 4 else 32
            if n.prefixlen < bucket - 8:  # wider than 256 buckets: not worth indexing
                return None
            shift = n.max_prefixlen - bucket
            first = int(n.network_address) >> shift
            count = 1 << max(0, bucket - n.prefixlen)
            keys.update((n.version, first + i) for i in range(count))
        return (("net", frozenset(keys)),)

    def requires(self, nets: Networks) -> Need:
        return ANYTHING

    def reads(self) -> frozenset[str]:
        """The address itself: the evidence quotes it."""
        return frozenset({RAW})
