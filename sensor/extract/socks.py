"""SOCKS 4/4a/5 proxy handshakes: version, requested destination; then the tunnelled
protocol is probed again (a proxy is itself evidence for provision 7m)."""

from __future__ import annotations

import socket
import struct
from typing import Any

from sensor.extract.base import MAX_NAME, REPROBE
from sensor.flow.state import FlowState

__all__ = ["SocksExtractor"]


def _socks5_target(req: bytes) -> str | None:
    """Destination of a SOCKS5 CONNECT request (05 01 00 ATYP ADDR PORT)."""
    if len(req) < 7 or req[0] != 5:
        return None
    atyp = req[3]
    if atyp == 1 and len(req) >= 10:
        return f"{socket.inet_ntoa(req[4:8])}:{struct.unpack_from('!H', req, 8)[0]}"
    if atyp == 3 and len(req) >= 5 + req[4] + 2:
        n = req[4]
        return (
            f"{req[5 : 5 + n].decode('latin-1').lower()}:{struct.unpack_from('!H', req, 5 + n)[0]}"
        )
    if atyp == 4 and len(req) >= 22:
        port = struct.unpack_from("!H", req, 20)[0]
        return f"[{socket.inet_ntop(socket.AF_INET6, req[4:20])}]:{port}"
    return None


class SocksExtractor:
    """Client greeting `05 n methods...` or SOCKS4 `04 01 port ip user 00`."""

    name = "socks"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset({0x04, 0x05})
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A greeting of either version, from either side: reverse SOCKS proxies have the
        connection's responder play the SOCKS client."""
        if len(data) < 3:
            return False
        if data[0] == 5:  # greeting, possibly with the request pipelined behind it
            return (
                1 <= data[1] <= 16
                and len(data) >= 2 + data[1]
                and all(m < 0x0A or m >= 0x80 for m in data[2 : 2 + data[1]])
            )
        if not (data[0] == 4 and data[1] in (1, 2) and len(data) >= 9 and data.endswith(b"\0")):
            return False
        # USERID (and SOCKS4a's host name after it, only with IP 0.0.0.x) are text; a binary
        # record that happens to start with 04 01 (a TDS reply, ...) is not a greeting
        parts = data[8:-1].split(b"\0")
        socks4a = data[4:7] == b"\0\0\0" and data[7] != 0
        return len(parts) <= (2 if socks4a else 1) and all(
            all(32 <= b < 127 for b in part) for part in parts
        )

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool | str:
        """Follow greeting, request and reply; then hand the tunnel back to the probes."""
        if len(data) < 2:
            return False
        m = flow.meta
        m["app_proto"] = "socks"
        step = scratch.get("step", 0)
        scratch["step"] = step + 1
        if step == 0:
            scratch["client"] = from_client  # the side that greets is the SOCKS client
        from_client = from_client == scratch.get("client", from_client)
        if from_client and data[0] == 4 and len(data) >= 9:
            m["socks.version"] = 4
            host = data[8:-1].split(b"\0")
            ip = socket.inet_ntoa(data[4:8])
            name = host[1].decode("latin-1") if ip.startswith("0.0.0.") and len(host) > 1 else ip
            m["socks.target"] = f"{name[:MAX_NAME]}:{struct.unpack_from('!H', data, 2)[0]}"
        elif from_client and data[0] == 5:
            m["socks.version"] = 5
            if step == 0 and len(data) > 2 + data[1]:  # request pipelined after the greeting
                data = data[2 + data[1] :]
            target = _socks5_target(data)
            if target:
                m["socks.target"] = target
        elif not from_client and "socks.target" in m:
            ok = (data[0] == 0 and data[1] == 0x5A) or (data[0] == 5 and data[1] == 0)
            return REPROBE if ok else True
        return bool(step >= 6)
