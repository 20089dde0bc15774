"""OpenVPN: the control channel's hard-reset handshake, over UDP or TCP (2-byte length
prefix). Evidence for provision 7m (VPN tunnels that bypass the department's controls)."""

from __future__ import annotations

import struct
from typing import Any

from sensor.flow.state import FlowState

__all__ = ["OpenVpnExtractor"]

_RESET_CLIENT = (1, 7, 10)  # P_CONTROL_HARD_RESET_CLIENT_V1, V2, V3
_RESET_SERVER = (2, 8)


def _opcode(data: bytes, tcp: bool) -> tuple[int, bytes] | None:
    if tcp:
        if len(data) < 3 or struct.unpack_from("!H", data)[0] != len(data) - 2:
            return None
        data = data[2:]
    # a hard reset starts key 0 (the low 3 bits of the opcode byte); any other key id is a
    # renegotiation inside a session already seen, or another protocol's byte
    if len(data) < 14 or data[0] & 7:
        return None
    return data[0] >> 3, data


class OpenVpnExtractor:
    """A client hard reset, answered by a server hard reset with our session id."""

    name = "openvpn"
    transports = frozenset({6, 17})
    # TCP: a short hard reset's length prefix starts with 0; UDP: the reset opcodes, key 0
    first_bytes: frozenset[int] | None = frozenset({0x00, 0x08, 0x38, 0x50})
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """The client's first packet is a hard reset with packet id 0."""
        op = _opcode(data, flow.proto == 6)
        return from_client and op is not None and op[0] in _RESET_CLIENT

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Confirm with the server's reset, which acknowledges the client's session id."""
        op = _opcode(data, flow.proto == 6)
        if op is None:
            return True
        code, body = op
        if from_client and code in _RESET_CLIENT:
            scratch["session"] = body[1:9]
            return False
        if not from_client and code in _RESET_SERVER:
            flow.meta["app_proto"] = "openvpn"
            flow.meta["openvpn.key_method"] = 2 if code == 8 else 1
            if scratch.get("session") and scratch["session"] in body:
                flow.meta["openvpn.acked"] = True
            return True
        return bool(scratch.setdefault("n", 0) > 4)
