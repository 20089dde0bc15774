"""Gnutella 0.6 handshakes (`GNUTELLA CONNECT/0.6`): the servent's User-Agent; a handshake
that agrees on `Upgrade: TLS/1.0` continues as TLS, which is probed again."""

from __future__ import annotations

from typing import Any

from sensor.extract.base import REPROBE
from sensor.extract.http import parse_head
from sensor.flow.state import FlowState

__all__ = ["GnutellaExtractor"]


class GnutellaExtractor:
    """Peer-to-peer file sharing on any TCP port."""

    name = "gnutella"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset(b"G")
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """The connect line or a handshake answer."""
        return data.startswith((b"GNUTELLA CONNECT/", b"GNUTELLA/"))

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool | str:
        """Three handshake messages; after the third, TLS if both sides asked for it."""
        if not data.startswith(b"GNUTELLA"):
            return True
        parsed = parse_head(data[: data.find(b"\r\n\r\n") if b"\r\n\r\n" in data else 4096])
        m = flow.meta
        m["app_proto"] = "gnutella"
        if parsed is not None:
            _, headers = parsed
            if headers.get("user-agent") and from_client:
                m["user_agent"] = m["gnutella.user_agent"] = headers["user-agent"][:256]
            if "tls/" in headers.get("upgrade", "").lower():
                scratch["tls"] = scratch.get("tls", 0) + 1
        scratch["n"] = scratch.get("n", 0) + 1
        if scratch["n"] >= 3:
            return REPROBE if scratch.get("tls", 0) >= 2 else True
        return False
