"""`boundary`: where the flow runs relative to the site's internal networks.

`outbound` (internal client, external server), `inbound` (external client, internal server),
`crossing` (either), `internal` (both inside), `external` (server outside), `to_workstation`
(the server is in one of `policy.networks.workstations` and the client is not in that same
network: a workstation serving others). Multicast and broadcast destinations are never
external.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sensor.classify.matchers.base import ANYTHING, NEVER, Evidence, Gate, Need, as_list
from sensor.classify.view import FlowView, Networks

__all__ = ["BoundaryMatcher"]

_KINDS = ("outbound", "inbound", "crossing", "internal", "external", "to_workstation")


class BoundaryMatcher:
    kind: ClassVar[str] = "boundary"

    __slots__ = ("wanted",)

    def __init__(self, wanted: frozenset[str]) -> None:
        self.wanted = wanted

    @classmethod
    def parse(cls, field: str | None, value: Any) -> BoundaryMatcher:
        if field:
            raise ValueError("boundary: takes no `field`")
        wanted = frozenset(str(x) for x in as_list(value, "boundary"))
        bad = wanted - set(_KINDS)
        if bad:
            raise ValueError(f"boundary: unknown {sorted(bad)} (known: {', '.join(_KINDS)})")
        return cls(wanted)

    def match(self, v: FlowView) -> Evidence | None:
        if "to_workstation" in self.wanted:
            net = v.nets.workstations.match(v.ver, v.dest_ip)
            if net is not None and v.nets.workstations.match(v.ver, v.src_ip) != net:
                return (f"boundary=to_workstation {net}", 1.0)
            if len(self.wanted) == 1:
                return None
        src = v.nets.side(v.ver, v.src_ip)
        dst = v.nets.side(v.ver, v.dest_ip)
        if src == "internal" and dst == "external":
            found = "outbound"
        elif src == "external" and dst == "internal":
            found = "inbound"
        elif src == "internal" and dst == "internal":
            found = "internal"
        else:
            found = "other"
        w = self.wanted
        if (
            found in w
            or ("crossing" in w and found in ("outbound", "inbound"))
            or ("external" in w and dst == "external")
        ):
            return (f"boundary={found}", 1.0)
        return None

    def gate(self) -> Gate | None:
        return None

    def requires(self, nets: Networks) -> Need:
        """`to_workstation` alone never matches while the site lists no workstations."""
        if self.wanted == {"to_workstation"} and not nets.workstations:
            return NEVER
        return ANYTHING

    def reads(self) -> frozenset[str]:
        return frozenset({"boundary"})
