"""`unlisted`: an address is not on one of the site's lists (`policy.dhcp_servers`,
`policy.wlan_controllers`). A site that has not filled in the list is not checked, so a
signature like "DHCP offers from servers that are not the department's" stays silent until
the department says which its servers are."""

from __future__ import annotations

from typing import Any, ClassVar

from sensor.classify.matchers.base import ANYTHING, NEVER, RAW, Evidence, Gate, Need
from sensor.classify.view import FlowView, Networks

__all__ = ["UnlistedMatcher"]

_LISTS = ("dhcp_servers", "wlan_controllers")


class UnlistedMatcher:
    kind: ClassVar[str] = "unlisted"

    __slots__ = ("field", "name")

    def __init__(self, field: str, name: str) -> None:
        self.field = field
        self.name = name

    @classmethod
    def parse(cls, field: str | None, value: Any) -> UnlistedMatcher:
        field = field or "dest_ip"
        if field not in ("dest_ip", "src_ip"):
            raise ValueError("unlisted: field must be dest_ip or src_ip")
        if value not in _LISTS:
            raise ValueError(f"unlisted: expected one of {', '.join(_LISTS)}, got {value!r}")
        return cls(field, str(value))

    def match(self, v: FlowView) -> Evidence | None:
        nets = v.nets.lists.get(self.name)
        if not nets:
            return None
        addr = v.dest_ip if self.field == "dest_ip" else v.src_ip
        if nets.contains(v.ver, addr):
            return None
        return (f"{self.field}={v.ip_text(addr)} not in policy.{self.name}", 1.0)

    def gate(self) -> Gate | None:
        return None

    def requires(self, nets: Networks) -> Need:
        """Never matches while the site has not filled the list in."""
        return ANYTHING if nets.lists.get(self.name) else NEVER

    def reads(self) -> frozenset[str]:
        """The address, quoted in the evidence."""
        return frozenset({RAW})
