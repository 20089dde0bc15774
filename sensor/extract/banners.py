"""Protocols that identify themselves in their first bytes: SSH banners, RDP's X.224
connection request, VNC's RFB version. Small enough to share one module."""

from __future__ import annotations

import struct
from typing import Any

from sensor.flow.state import FlowState

__all__ = ["RdpExtractor", "SshExtractor", "VncExtractor"]


def _line(data: bytes, limit: int = 255) -> str | None:
    end = data.find(b"\n")
    if end < 0:
        return None
    text = data[:end].rstrip(b"\r")[:limit].decode("latin-1")
    return text if text.isprintable() else None


class SshExtractor:
    """`SSH-2.0-software comments` from both sides (RFC 4253 §4.2)."""

    name = "ssh"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset(b"S")
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Either side's banner."""
        return data.startswith(b"SSH-")

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Record each side's banner; done when both are known or one side is not SSH."""
        if not data.startswith(b"SSH-"):
            return True
        banner = _line(data)
        if banner is None:
            return True
        m = flow.meta
        m["app_proto"] = "ssh"
        if from_client:
            m["ssh.client_banner"] = m["user_agent"] = banner
        else:
            m["ssh.server_banner"] = banner
        return "ssh.client_banner" in m and "ssh.server_banner" in m


_RDP_PROTOCOLS = {0: "rdp", 1: "ssl", 2: "hybrid", 4: "rdstls", 8: "hybrid_ex", 16: "rdsaad"}


class RdpExtractor:
    """TPKT + X.224 Connection Request: mstshash cookie and requested security protocols."""

    name = "rdp"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset({0x03})
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """TPKT version 3 carrying an X.224 CR (client) or CC (server) TPDU whose variable
        part is RDP's (MS-RDPBCGR 2.2.1.1/2.2.1.2: nothing, a cookie or routing token, an
        RDP negotiation request, response or failure), not ISO 8073 parameters such as the
        TSAPs of S7comm or MMS on port 102."""
        if not (len(data) >= 11 and data[0] == 3 and data[1] == 0):
            return False
        if data[5] != (0xE0 if from_client else 0xD0):
            return False
        body = data[11 : struct.unpack_from("!H", data, 2)[0]]
        if from_client and body.startswith(b"Cookie: "):
            return True
        return not body or (len(body) >= 8 and body[0] in (1, 2, 3) and body[2:4] == b"\x08\x00")

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Parse the request, then the confirm; done after the server's answer."""
        m = flow.meta
        m["app_proto"] = "rdp"
        body = data[11 : struct.unpack_from("!H", data, 2)[0]] if len(data) >= 11 else b""
        if from_client:
            if body.startswith(b"Cookie: mstshash="):
                m["rdp.cookie"] = _line(body[17:], 64) or body[17:81].decode("latin-1")
                body = body[body.find(b"\r\n") + 2 :] if b"\r\n" in body else b""
            if len(body) >= 8 and body[0] == 1:  # RDP_NEG_REQ
                req = struct.unpack_from("<I", body, 4)[0]
                names = [n for bit, n in _RDP_PROTOCOLS.items() if bit and req & bit]
                m["rdp.requested_protocols"] = ",".join(names) or "rdp"
            return False
        if len(body) >= 8 and body[0] == 2:  # RDP_NEG_RSP
            sel = struct.unpack_from("<I", body, 4)[0]
            m["rdp.selected_protocol"] = _RDP_PROTOCOLS.get(sel, str(sel))
        return True


class VncExtractor:
    """RFB protocol version strings (`RFB 003.008\\n`), sent by the server first."""

    name = "vnc"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset(b"R")
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Exactly the 12-byte ProtocolVersion message."""
        return len(data) == 12 and data.startswith(b"RFB ") and data[11:12] == b"\n"

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Record both sides' versions."""
        if not (len(data) == 12 and data.startswith(b"RFB ")):
            return True
        m = flow.meta
        m["app_proto"] = "vnc"
        m["vnc.client_version" if from_client else "vnc.server_version"] = data[4:11].decode(
            "latin-1"
        )
        return "vnc.client_version" in m and "vnc.server_version" in m
