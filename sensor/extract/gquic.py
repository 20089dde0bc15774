"""Google QUIC (Q0xx, before IETF QUIC): the client's CHLO is sent in the clear, so its SNI
and user agent tags can be read without keys. Chrome and Google apps used it until 2021
and older clients still do."""

from __future__ import annotations

import struct
from typing import Any

from sensor.extract.base import MAX_NAME, set_server_name
from sensor.flow.state import FlowState

__all__ = ["GquicExtractor", "parse_chlo"]

_VERSION_FLAG, _CID8 = 0x01, 0x08
_MAX_TAGS = 64


def parse_chlo(data: bytes) -> dict[bytes, bytes] | None:
    """The tag/value map of the first CHLO message in `data`, or None."""
    at = data.find(b"CHLO")
    if at < 0 or len(data) < at + 8:
        return None
    (n,) = struct.unpack_from("<H", data, at + 4)
    if not 0 < n <= _MAX_TAGS:
        return None
    index = at + 8
    values = index + 8 * n
    if len(data) < values:
        return None
    out: dict[bytes, bytes] = {}
    start = 0
    for i in range(n):
        tag = data[index + 8 * i : index + 8 * i + 4]
        (end,) = struct.unpack_from("<I", data, index + 8 * i + 4)
        if end < start or values + end > len(data):
            return out or None  # the rest of the hello is in a later packet
        out[tag] = data[values + start : values + end]
        start = end
    return out


def _text(raw: bytes | None) -> str | None:
    if not raw:
        return None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


class GquicExtractor:
    """Q0xx versions whose client packets carry the version after an 8-byte connection id."""

    name = "gquic"
    transports = frozenset({17})
    first_bytes: frozenset[int] | None = frozenset(
        b for b in range(0x80) if b & _VERSION_FLAG and b & _CID8
    )
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Public flags with a version, then `Q` and three digits after the connection id."""
        return (
            from_client
            and len(data) > 13
            and data[9] == 0x51  # 'Q'
            and data[10:13].isdigit()
        )

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Read the CHLO tags of the client's first packets."""
        scratch["n"] = scratch.get("n", 0) + 1
        meta = flow.meta
        if "quic.version" not in meta and from_client:
            meta["app_proto"] = "quic"
            meta["quic.version"] = data[9:13].decode("ascii")
        if not from_client:
            return bool(scratch["n"] >= 4)
        tags = parse_chlo(data)
        if tags is None:
            return bool(scratch["n"] >= 4)
        sni = _text(tags.get(b"SNI\x00"))
        if sni:
            sni = sni.lower().rstrip(".")[:MAX_NAME]
            meta["quic.sni"] = sni
            set_server_name(flow, sni, "quic")
        ua = _text(tags.get(b"UAID"))
        if ua:
            meta["user_agent"] = ua[:512]
        return True
