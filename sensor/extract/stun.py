"""STUN/TURN (RFC 8489, RFC 8656): message method and class, SOFTWARE, REALM.

The carrier of most consumer VoIP and video calls (WhatsApp, Signal, Zoom, Teams, Meet), so
its SOFTWARE and REALM attributes often name the service.
"""

from __future__ import annotations

import struct
from typing import Any

from sensor.extract.base import HANDOFF
from sensor.flow.state import FlowState

__all__ = ["StunExtractor", "parse_stun"]

MAGIC = 0x2112A442
METHODS = {
    0x001: "binding",
    0x003: "allocate",
    0x004: "refresh",
    0x006: "send",
    0x007: "data",
    0x008: "create_permission",
    0x009: "channel_bind",
}
CLASSES = ("request", "indication", "success", "error")
_SOFTWARE, _REALM = 0x8022, 0x0014


def parse_stun(data: bytes) -> tuple[str, str, dict[int, bytes]] | None:
    """(method, class, attributes) of a STUN message, or None."""
    if len(data) < 20 or data[0] & 0xC0:
        return None
    mtype, size, magic = struct.unpack_from("!HHI", data)
    if magic != MAGIC or size % 4 or 20 + size > len(data):
        return None
    method = (mtype & 0x000F) | ((mtype & 0x00E0) >> 1) | ((mtype & 0x3E00) >> 2)
    cls = ((mtype >> 4) & 1) | ((mtype >> 7) & 2)
    attrs: dict[int, bytes] = {}
    p, end = 20, 20 + size
    while p + 4 <= end:
        kind, alen = struct.unpack_from("!HH", data, p)
        attrs.setdefault(kind, data[p + 4 : p + 4 + alen])
        p += 4 + ((alen + 3) & ~3)
    return METHODS.get(method, f"0x{method:03x}"), CLASSES[cls], attrs


class StunExtractor:
    """STUN with the RFC 5389 magic cookie, on UDP or TCP."""

    name = "stun"
    transports = frozenset({6, 17})
    first_bytes: frozenset[int] | None = frozenset(range(0x00, 0x40))
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A well-formed STUN header with the magic cookie."""
        return parse_stun(data) is not None

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool | str:
        """Record method/class and the naming attributes of the first few messages."""
        msg = parse_stun(data)
        scratch["n"] = scratch.get("n", 0) + 1
        if msg is None:
            if data[:2] == b"\x16\xfe" and "app_proto" in flow.meta:
                return HANDOFF  # ICE done, DTLS begins (RFC 8842): the DTLS probe takes it
            return bool(scratch["n"] >= 6)
        method, cls, attrs = msg
        m = flow.meta
        m["app_proto"] = "stun"
        m.setdefault("stun.method", method)
        m.setdefault("stun.class", cls)
        if _SOFTWARE in attrs:
            m.setdefault("stun.software", attrs[_SOFTWARE].decode("utf-8", "replace")[:128])
            if from_client:
                m.setdefault("user_agent", m["stun.software"])
        if _REALM in attrs:
            m.setdefault("stun.realm", attrs[_REALM].decode("utf-8", "replace")[:128])
        return bool(scratch["n"] >= 6)
