"""DTLS (RFC 6347, RFC 9147 for 1.3's first flight): the ClientHello of a UDP flow, its server
name, ALPN and fingerprints, as for TLS. VPNs (Cisco AnyConnect, FortiClient), RDP over UDP
and WebRTC media (after STUN, which hands the flow over) all open with one.

A DTLS handshake message carries a 12-byte header (type, length, message_seq, fragment offset
and length) and the ClientHello a cookie after its session id; without those two it is a TLS
ClientHello, and the TLS parser reads it. Fragmented hellos are left alone (rare: a hello
fits a datagram unless it carries a post-quantum key share).
"""

from __future__ import annotations

from typing import Any

from sensor.extract.tls import HelloPrints, record_client_hello
from sensor.extract.tlsparse import parse_client_hello
from sensor.flow.state import FlowState

__all__ = ["DtlsExtractor", "dtls_client_hello"]

_VERSIONS = frozenset({0xFE, 0xFD, 0xFC})  # second byte of DTLS 1.0, 1.2, 1.3 record versions
_RECORD, _HS = 13, 12


def _is_dtls_handshake(data: bytes) -> bool:
    return (
        len(data) > _RECORD + _HS and data[0] == 0x16 and data[1] == 0xFE and data[2] in _VERSIONS
    )


def dtls_client_hello(data: bytes) -> bytes | None:
    """The first record's ClientHello as a TLS handshake message, or None."""
    if not _is_dtls_handshake(data) or data[_RECORD] != 1:
        return None
    h = data[_RECORD : _RECORD + _HS]
    length = int.from_bytes(h[1:4], "big")
    frag_off, frag_len = int.from_bytes(h[6:9], "big"), int.from_bytes(h[9:12], "big")
    body = data[_RECORD + _HS : _RECORD + _HS + frag_len]
    if frag_off or frag_len != length or len(body) != length or length < 35:
        return None
    p = 2 + 32
    p += 1 + body[p]  # session id
    if p >= len(body):
        return None
    cookie_end = p + 1 + body[p]
    body = body[:p] + body[cookie_end:]
    return b"\x01" + len(body).to_bytes(3, "big") + body


class DtlsExtractor:
    """A DTLS ClientHello (client) or server handshake record, on any UDP port."""

    name = "dtls"
    transports = frozenset({17})
    first_bytes: frozenset[int] | None = frozenset({0x16})
    ports: frozenset[int] | None = None

    def __init__(self, prints: HelloPrints | None = None) -> None:
        self.prints = prints if prints is not None else HelloPrints()
        """Fingerprints by hello shape (shared with TLS and QUIC)."""

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A DTLS handshake record: ClientHello from the client, else any handshake."""
        return _is_dtls_handshake(data) and (not from_client or data[_RECORD] == 1)

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """The ClientHello (the one after a HelloVerifyRequest says the same); done then."""
        flow.meta["app_proto"] = "dtls"
        if not from_client:
            return bool(scratch.get("hello"))
        msg = dtls_client_hello(data)
        ch = parse_client_hello(msg) if msg else None
        if ch is None:
            return bool(scratch.get("hello"))
        record_client_hello(flow, ch, "t", self.prints)
        ja4 = flow.meta.get("ja4")
        if isinstance(ja4, str) and ja4:
            flow.meta["ja4"] = "d" + ja4[1:]  # JA4's protocol letter for DTLS
        scratch["hello"] = True
        return False
