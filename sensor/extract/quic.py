"""QUIC: decrypt the client's Initial packets and read the ClientHello in their CRYPTO frames
(reassembled by offset across packets: a post-quantum hello spans two Initials)."""

from __future__ import annotations

from typing import Any

from sensor.extract.base import ByteBudget
from sensor.extract.quicparse import (
    client_initial_keys,
    crypto_frames,
    decrypt_initial,
    parse_initial,
)  # fmt: skip
from sensor.extract.tls import HelloPrints, record_client_hello
from sensor.extract.tlsparse import parse_client_hello
from sensor.flow.state import FlowState

__all__ = ["QuicExtractor"]

_MAX_CRYPTO = 1 << 16
_MAX_PACKETS = 6
_MAX_CHUNKS = 256
"""CRYPTO frames kept per flow: a hello comes in one to a few (Chrome's chaos protection
splits it into several); a forged Initial may carry thousands of one-byte frames."""
_CHUNK_BYTES = 80
"""What keeping one frame costs beside its data (a dict slot, a bytes header), charged to
the budget: 65,000 empty frames held 4.9 MB with nothing charged."""


class QuicExtractor:
    """QUIC v1, v2 and draft-29 on any UDP port."""

    name = "quic"
    transports = frozenset({17})
    first_bytes: frozenset[int] | None = frozenset(range(0xC0, 0x100))
    ports: frozenset[int] | None = None

    def __init__(self, budget: ByteBudget | None = None, prints: HelloPrints | None = None):
        self.budget = budget if budget is not None else ByteBudget(1 << 62)
        """CRYPTO bytes buffered by all flows (the tls_quic share, shared with TLS)."""
        self.prints = prints if prints is not None else HelloPrints()
        """Fingerprints by hello shape (shared with TLS and DTLS)."""

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A client Initial of a version we can decrypt."""
        return from_client and parse_initial(data) is not None

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Collect CRYPTO data from the client's Initials until the ClientHello is whole."""
        scratch["n"] = scratch.get("n", 0) + 1
        if not from_client:
            return bool(scratch["n"] >= _MAX_PACKETS)
        pos = 0
        while pos < len(data):
            pkt = parse_initial(data, pos)
            if pkt is None:
                break
            if not self._packet(flow, data, pkt, scratch):  # over budget: give this flow up
                self.release(scratch)
                return True
            pos = pkt.end
        hello = self._hello(scratch)
        if hello is not None:
            ch = parse_client_hello(hello)
            if ch is not None:
                record_client_hello(flow, ch, "q", self.prints)
            return True
        return bool(scratch["n"] >= _MAX_PACKETS)

    def release(self, scratch: dict[str, Any]) -> None:
        """The flow's CRYPTO chunks are dropped: give their bytes back to the budget."""
        self.budget.give(scratch.pop("held", 0))
        scratch.pop("crypto", None)

    def _packet(self, flow: FlowState, data: bytes, pkt: Any, scratch: dict[str, Any]) -> bool:
        """Keep the packet's CRYPTO frames; False when the budget cannot hold them."""
        keys = scratch.get("keys")
        if keys is None:  # the client's first DCID keys all its Initials
            keys = scratch["keys"] = client_initial_keys(pkt.version, pkt.dcid)
            flow.meta["app_proto"] = "quic"
            flow.meta["quic.version"] = f"0x{pkt.version:08x}"
        if keys is None:
            return True
        plain = decrypt_initial(data, pkt, keys)
        if plain is None:
            return True
        chunks = scratch.setdefault("crypto", {})
        for offset, chunk in crypto_frames(plain):
            if not chunk or offset >= _MAX_CRYPTO:
                continue  # an empty frame adds nothing (and would never move the reader on)
            old = chunks.get(offset)
            if old is None and len(chunks) >= _MAX_CHUNKS:
                return False  # not a hello any client sends: give the flow up
            grown = len(chunk) - (len(old) if old is not None else -_CHUNK_BYTES)
            if grown > 0 and not self.budget.take(grown):
                return False
            if grown < 0:
                self.budget.give(-grown)
            scratch["held"] = scratch.get("held", 0) + grown
            chunks[offset] = chunk
        return True

    @staticmethod
    def _hello(scratch: dict[str, Any]) -> bytes | None:
        """The ClientHello once the CRYPTO stream from offset 0 holds all of it."""
        chunks: dict[int, bytes] = scratch.get("crypto", {})
        buf, at = b"", 0
        while chunks.get(at):  # an empty chunk is never kept, so `at` always moves on
            buf += chunks[at]
            at += len(chunks[at])
        if len(buf) < 4 or buf[0] != 1:
            return None
        size = 4 + int.from_bytes(buf[1:4], "big")
        return buf[:size] if len(buf) >= size else None
