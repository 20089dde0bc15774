"""RTP/RTCP heuristic (RFC 3550): version 2, a plausible payload type, and a second packet
that continues the same SSRC with the next sequence numbers. Media carried by VoIP."""

from __future__ import annotations

import struct
from typing import Any

from sensor.flow.state import FlowState

__all__ = ["RtpExtractor"]

_RTCP_TYPES = range(200, 208)


def _header(data: bytes) -> tuple[int, int, int] | None:
    """(payload type, sequence, ssrc) of something shaped like RTP, else None."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    pt = data[1] & 0x7F
    if not (pt <= 34 or 96 <= pt <= 127):
        return None
    seq, _ts, ssrc = struct.unpack_from("!HII", data, 2)
    return pt, seq, ssrc


class RtpExtractor:
    """Claims UDP flows whose first payload looks like RTP or RTCP; confirms on the next."""

    name = "rtp"
    transports = frozenset({17})
    first_bytes: frozenset[int] | None = frozenset(range(0x80, 0xC0))
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Version 2 with an audio/video or RTCP payload type."""
        return _header(data) is not None or (
            len(data) >= 8 and data[0] >> 6 == 2 and data[1] in _RTCP_TYPES
        )

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Confirm with two packets of one direction: same SSRC, sequence a little further."""
        if len(data) >= 8 and data[0] >> 6 == 2 and data[1] in _RTCP_TYPES:
            scratch["rtcp"] = scratch.get("rtcp", 0) + 1
            if scratch["rtcp"] >= 2:
                flow.meta.setdefault("app_proto", "rtcp")
                return True
            return False
        h = _header(data)
        if h is None:
            return True
        key = "c" if from_client else "s"
        prev = scratch.get(key)
        scratch[key] = h
        if prev is not None and prev[2] == h[2] and 0 < (h[1] - prev[1]) & 0xFFFF <= 16:
            flow.meta["app_proto"] = "rtp"
            flow.meta["rtp.payload_type"] = h[0]
            return True
        return bool(scratch.setdefault("n", 0) > 8)
