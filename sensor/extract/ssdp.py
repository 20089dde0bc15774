"""SSDP/UPnP discovery (UDP 1900): M-SEARCH, NOTIFY and their answers: SERVER, NT/ST, USN."""

from __future__ import annotations

from typing import Any

from sensor.extract.http import parse_head
from sensor.flow.key import unpack_ports
from sensor.flow.state import FlowState

__all__ = ["SsdpExtractor"]


class SsdpExtractor:
    """HTTP-over-UDP messages on port 1900."""

    name = "ssdp"
    transports = frozenset({17})
    first_bytes: frozenset[int] | None = frozenset(b"MNH")
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """M-SEARCH/NOTIFY start lines on any UDP port (other discovery protocols reuse them);
        answers (`HTTP/1.1 200`) only on port 1900."""
        if data.startswith((b"M-SEARCH * ", b"NOTIFY * ")):
            return True
        lo, hi, _, _ = unpack_ports(flow.key[4])
        return 1900 in (lo, hi) and data.startswith(b"HTTP/1.1 ")

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """The first message says it all."""
        end = data.find(b"\r\n\r\n")
        parsed = parse_head(data[: end if end >= 0 else 2048])
        if parsed is None:
            return True
        first, headers = parsed
        m = flow.meta
        m["app_proto"] = "ssdp"
        m["ssdp.method"] = first[0] if first else ""
        for name in ("server", "nt", "st", "usn", "location", "user-agent"):
            if name in headers:
                m[f"ssdp.{name.replace('-', '_')}"] = headers[name][:256]
        agent = headers.get("user-agent") if from_client else None
        if agent:
            m["user_agent"] = agent[:256]
        return True
