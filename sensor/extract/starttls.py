"""STARTTLS: plaintext protocols that upgrade the same connection to TLS (SMTP RFC 3207, IMAP
and POP3 RFC 2595, FTP AUTH TLS RFC 4217, XMPP RFC 6120 section 5). The extractor names the
protocol from its greeting, follows the upgrade command and the server's go-ahead, then hands
the connection back to the probes, so the TLS ClientHello that follows is parsed like any
other: its server name reaches the record and the stack reads `smtp/tls`, `xmpp/tls`.
"""

from __future__ import annotations

import re
from typing import Any

from sensor.extract.base import REPROBE
from sensor.flow.state import FlowState

__all__ = ["StartTlsExtractor"]

# What the client sends to ask for TLS, and the server's yes, per protocol.
_ASK = {
    "smtp": re.compile(rb"(?im)^STARTTLS\r?$"),
    "ftp": re.compile(rb"(?im)^AUTH (TLS|SSL)\r?$"),
    "imap": re.compile(rb"(?im)^\S+ STARTTLS\r?$"),
    "pop3": re.compile(rb"(?im)^STLS\r?$"),
    "xmpp": re.compile(rb"<starttls\s[^>]*urn:ietf:params:xml:ns:xmpp-tls"),
}
_YES = {
    "smtp": re.compile(rb"(?m)^220[ -]"),
    "ftp": re.compile(rb"(?m)^234[ -]"),
    "imap": re.compile(rb"(?mi)^\S+ OK\b"),
    "pop3": re.compile(rb"^\+OK"),
    "xmpp": re.compile(rb"<proceed\s[^>]*urn:ietf:params:xml:ns:xmpp-tls"),
}
_NO = {
    "smtp": re.compile(rb"(?m)^[45]\d\d[ -]"),
    "ftp": re.compile(rb"(?m)^[45]\d\d[ -]"),
    "imap": re.compile(rb"(?mi)^\S+ (NO|BAD)\b"),
    "pop3": re.compile(rb"^-ERR"),
    "xmpp": re.compile(rb"<failure\s[^>]*urn:ietf:params:xml:ns:xmpp-tls"),
}
_SMTP_HELLO = re.compile(rb"(?i)^(EHLO|HELO|LHLO) ")
_GIVE_UP = 12  # payloads per flow without an upgrade: a plaintext session, nothing to follow


def _greeting(data: bytes) -> str | None:
    """The protocol a server greeting names; `220` is SMTP or FTP, told by its text."""
    if data.startswith(b"* OK") or data.startswith(b"* PREAUTH"):
        return "imap"
    if data.startswith(b"+OK"):
        return "pop3"
    if data[:4] in (b"220 ", b"220-"):
        line = data.split(b"\n", 1)[0].upper()
        return "ftp" if b"FTP" in line else "smtp" if b"SMTP" in line else "220"
    return None


def _xmpp_open(data: bytes) -> bool:
    return (data.startswith(b"<?xml") and b"<stream:stream" in data[:400]) or data.startswith(
        b"<stream:stream"
    )


class StartTlsExtractor:
    """Greeting, upgrade request, go-ahead; then the probes again for the TLS that follows."""

    name = "starttls"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset(b"2*+<")
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A server greeting (mail, FTP) or a client opening an XMPP stream."""
        return _xmpp_open(data) if from_client else _greeting(data) is not None

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool | str:
        """Follow the dialogue until the server says yes to TLS (REPROBE) or the budget ends."""
        n: int = scratch.get("n", 0) + 1
        scratch["n"] = n
        proto = scratch.get("proto")
        if proto is None:
            proto = _greeting(data) if not from_client else "xmpp" if _xmpp_open(data) else None
        if from_client and proto == "220":  # SMTP or FTP: the client's first command tells
            proto = "smtp" if _SMTP_HELLO.match(data) or _ASK["smtp"].search(data) else "ftp"
        if proto is None:
            return True
        scratch["proto"] = proto
        if proto != "220":
            flow.meta["app_proto"] = proto
        if from_client and proto in _ASK and _ASK[proto].search(data):
            scratch["asked"] = True
        elif not from_client and scratch.get("asked"):
            if _YES[proto].search(data):
                return REPROBE
            if _NO[proto].search(data):
                return True
        return n >= _GIVE_UP
