"""FlowView: what signatures can see of one flow record, by field name.

Fields are the extractors' dotted names (`tls.sni`, `http.host`, ...) plus a few of the
record itself (`app_proto`, `dest_port`, `transport`, ...). A view is built once per record
from the flow's numbers; nothing here formats text unless a matcher asks for it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sensor.classify.nets import DEFAULT_INTERNAL, LOCAL_ONLY, NetSet
from sensor.flow.state import FlowState

__all__ = ["NAME_FIELDS", "TRANSPORTS", "FlowView", "Networks"]

_M64 = (1 << 64) - 1

NAME_FIELDS = ("tls.sni", "quic.sni", "http.host", "sip.to_domain", "server_name")
"""Fields that hold a server's name; `field: names` in a signature means any of them."""

TRANSPORTS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp", 132: "sctp", 47: "gre", 50: "esp"}


class Networks:
    """The site's address plan as matchers need it (from `policy.networks`)."""

    __slots__ = ("internal", "lists", "local", "servers", "workstations")

    def __init__(
        self,
        internal: tuple[str, ...] = DEFAULT_INTERNAL,
        servers: tuple[str, ...] = (),
        workstations: tuple[str, ...] = (),
    ) -> None:
        self.internal = NetSet(internal)
        self.local = NetSet(LOCAL_ONLY)
        self.servers = NetSet(servers)
        self.workstations = NetSet(workstations)
        self.lists: dict[str, NetSet] = {}
        """Site address lists signatures can name (`unlisted: dhcp_servers`)."""

    def side(self, ver: int, addr: int) -> str:
        """`internal`, `local` (multicast, broadcast, loopback) or `external`."""
        if self.internal.contains(ver, addr):
            return "internal"
        if self.local.contains(ver, addr):
            return "local"
        return "external"


class FlowView:
    """Read-only accessors over one flow record, computed once per classification."""

    __slots__ = (
        "_names",
        "bytes_tc",
        "bytes_ts",
        "dest_ip",
        "dest_port",
        "duration",
        "flow",
        "meta",
        "nets",
        "pkts_tc",
        "pkts_ts",
        "proto",
        "src_ip",
        "src_port",
        "ts_start",
        "ver",
    )

    def __init__(self, flow: FlowState, nets: Networks) -> None:
        k = flow.key
        self.nets = nets
        self._names: list[tuple[str, str]] | None = None
        pp = k[4]
        self.flow = flow
        self.meta = flow.meta
        self.ver = ver = pp >> 40
        self.proto = pp & 0xFF
        if ver == 4:
            lo, hi = k[1] & 0xFFFFFFFF, k[3] & 0xFFFFFFFF
        else:
            lo = ((k[0] & _M64) << 64) | (k[1] & _M64)
            hi = ((k[2] & _M64) << 64) | (k[3] & _M64)
        lo_port, hi_port = (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF
        if flow.client_is_lo:
            self.src_ip, self.dest_ip, self.src_port, self.dest_port = lo, hi, lo_port, hi_port
        else:
            self.src_ip, self.dest_ip, self.src_port, self.dest_port = hi, lo, hi_port, lo_port
        self.ts_start = flow.ts_start
        self.duration = max(0, flow.ts_last - flow.ts_start) / 1e9
        self.pkts_ts, self.pkts_tc = flow.pkts_ts, flow.pkts_tc
        self.bytes_ts, self.bytes_tc = flow.bytes_ts, flow.bytes_tc

    def get(self, name: str) -> Any:
        """The value of a field, or None when the flow does not have it."""
        v = self.meta.get(name)
        if v is not None:
            return v
        if name == "transport":
            return TRANSPORTS.get(self.proto, str(self.proto))
        if name == "dest_port":
            return self.dest_port
        if name == "src_port":
            return self.src_port
        if name == "dest_ip":
            return self.ip_text(self.dest_ip)
        if name == "src_ip":
            return self.ip_text(self.src_ip)
        return None

    def ip_text(self, addr: int) -> str:
        """An address of this flow as text (only for evidence)."""
        cls = ipaddress.IPv4Address if self.ver == 4 else ipaddress.IPv6Address
        return str(cls(addr))

    def names(self) -> list[tuple[str, str]]:
        """Every server name the flow carries, as (field, lowercase name)."""
        if self._names is None:
            meta = self.meta
            self._names = [
                (f, str(v).lower().rstrip(".")) for f in NAME_FIELDS if (v := meta.get(f))
            ]
        return self._names
