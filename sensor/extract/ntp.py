"""NTP (UDP 123): version and mode of the first message."""

from __future__ import annotations

from typing import Any

from sensor.flow.key import unpack_ports
from sensor.flow.state import FlowState

__all__ = ["NtpExtractor"]

MODES = {
    1: "symmetric_active",
    2: "symmetric_passive",
    3: "client",
    4: "server",
    5: "broadcast",
    6: "control",
    7: "private",
}


class NtpExtractor:
    """Port 123 with a 48-byte (or longer) NTP header."""

    name = "ntp"
    transports = frozenset({17})
    first_bytes: frozenset[int] | None = None
    ports: frozenset[int] | None = frozenset({123})

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Port 123, version 1-4, a known mode."""
        lo, hi, _, _ = unpack_ports(flow.key[4])
        return 123 in (lo, hi) and len(data) >= 48 and 1 <= (data[0] >> 3) & 7 <= 4

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Record version and mode."""
        m = flow.meta
        m["app_proto"] = "ntp"
        m["ntp.version"] = (data[0] >> 3) & 7
        m["ntp.mode"] = MODES.get(data[0] & 7, str(data[0] & 7))
        return True
