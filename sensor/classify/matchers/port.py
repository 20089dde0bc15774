"""`port`: the server port (`dest_port`, default), the client port (`src_port`) or either
(`port`: for UDP protocols whose first packet may come from the server) is one of the listed
ports or ranges (`6881-6889`)."""

from __future__ import annotations

from typing import Any, ClassVar

from sensor.classify.matchers.base import ANYTHING, Evidence, Gate, Need, as_list
from sensor.classify.view import FlowView, Networks

__all__ = ["PortMatcher"]

_GATE_MAX = 256  # ranges wider than this are not worth an index entry per port


class PortMatcher:
    kind: ClassVar[str] = "port"

    __slots__ = ("field", "ports", "ranges")

    def __init__(self, field: str, ports: frozenset[int], ranges: tuple[tuple[int, int], ...]):
        self.field = field
        self.ports = ports
        self.ranges = ranges

    @classmethod
    def parse(cls, field: str | None, value: Any) -> PortMatcher:
        field = field or "dest_port"
        if field not in ("dest_port", "src_port", "port"):
            raise ValueError("port: field must be dest_port, src_port or port (either)")
        ports: set[int] = set()
        ranges: list[tuple[int, int]] = []
        for item in as_list(value, "port"):
            text = str(item)
            try:
                lo, _, hi = text.partition("-")
                a, b = int(lo), int(hi or lo)
            except ValueError:
                raise ValueError(f"port: not a port or range: {item!r}") from None
            if not 0 <= a <= b <= 65535:
                raise ValueError(f"port: out of range: {item!r}")
            if b - a < _GATE_MAX:
                ports.update(range(a, b + 1))
            else:
                ranges.append((a, b))
        return cls(field, frozenset(ports), tuple(ranges))

    def match(self, v: FlowView) -> Evidence | None:
        f = self.field
        sides = (
            (("dest_port", v.dest_port), ("src_port", v.src_port))
            if f == "port"
            else ((f, v.dest_port if f == "dest_port" else v.src_port),)
        )
        for name, p in sides:
            if p in self.ports or any(a <= p <= b for a, b in self.ranges):
                return (f"{name}={p}", 1.0)
        return None

    def gate(self) -> Gate | None:
        if self.field == "dest_port" and not self.ranges:
            return (("port", self.ports),)
        return None

    def requires(self, nets: Networks) -> Need:
        return ANYTHING

    def reads(self) -> frozenset[str]:
        if self.field == "port":
            return frozenset({"dest_port", "src_port"})
        return frozenset({self.field})
