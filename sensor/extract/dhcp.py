"""DHCP (BOOTP with the magic cookie): message type, host name (12), vendor class (60),
parameter request list (55), server identifier (54), client hardware address."""

from __future__ import annotations

import socket
from typing import Any

from sensor.flow.key import unpack_ports
from sensor.flow.state import FlowState

__all__ = ["DhcpExtractor", "parse_dhcp"]

MAGIC = b"\x63\x82\x53\x63"
TYPES = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
}


def parse_dhcp(data: bytes) -> dict[str, Any] | None:
    """The fields of one DHCP message, or None."""
    if len(data) < 240 or data[236:240] != MAGIC or data[0] not in (1, 2):
        return None
    out: dict[str, Any] = {}
    if data[1] == 1 and data[2] == 6:
        out["dhcp.client_mac"] = ":".join(f"{b:02x}" for b in data[28:34])
    p = 240
    while p < len(data):
        code = data[p]
        if code == 255:
            break
        if code == 0:
            p += 1
            continue
        if p + 2 > len(data):
            break
        size = data[p + 1]
        val = data[p + 2 : p + 2 + size]
        if code == 53 and size == 1:
            out["dhcp.message_type"] = TYPES.get(val[0], str(val[0]))
        elif code == 12:
            out["dhcp.hostname"] = val.decode("utf-8", "replace")
        elif code == 60:
            out["dhcp.vendor_class"] = val.decode("utf-8", "replace")
        elif code == 55:
            out["dhcp.params"] = ",".join(str(b) for b in val)
        elif code == 54 and size == 4:
            out["dhcp.server_id"] = socket.inet_ntoa(val)
        p += 2 + size
    return out


class DhcpExtractor:
    """UDP 67/68."""

    name = "dhcp"
    transports = frozenset({17})
    first_bytes: frozenset[int] | None = frozenset({1, 2})
    ports: frozenset[int] | None = frozenset({67, 68})

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Port 67 or 68 and the BOOTP magic cookie."""
        lo, hi, _, _ = unpack_ports(flow.key[4])
        return bool({lo, hi} & {67, 68}) and data[236:240] == MAGIC

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Merge the first few messages; keep the list of message types seen."""
        fields = parse_dhcp(data)
        scratch["n"] = scratch.get("n", 0) + 1
        if fields is not None:
            m = flow.meta
            m["app_proto"] = "dhcp"
            kind = fields.pop("dhcp.message_type", None)
            if kind:
                seen = m.get("dhcp.message_types")
                m["dhcp.message_types"] = f"{seen},{kind}" if seen else kind
            for k, v in fields.items():
                m.setdefault(k, v)
        return bool(scratch["n"] >= 8)
