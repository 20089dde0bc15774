"""Pure DNS message parser: header, first question, answers (A, AAAA, CNAME), with name
compression. Returns None for anything malformed; never raises."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

__all__ = ["QTYPES", "DnsMessage", "parse_dns"]

QTYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    35: "NAPTR",
    64: "SVCB",
    65: "HTTPS",
    255: "ANY",
}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """What a DNS message says; answers are (owner name, type, ttl, value)."""

    ident: int
    response: bool
    opcode: int
    rcode: int
    qname: str | None
    qtype: int
    answers: tuple[tuple[str, int, int, str], ...]


_MAX_NAME_OCTETS = 255
"""A name's length on the wire, length octets and the root's zero included (RFC 1035
2.3.4): 253 characters as text."""


def _name(buf: bytes, p: int) -> tuple[str, int]:
    """Read a (possibly compressed) name at p: (lowercase name, offset after it)."""
    labels: list[str] = []
    end, size = -1, 1
    for _ in range(128):  # bounds pointer loops
        n = buf[p]
        if n == 0:
            p += 1
            break
        if n & 0xC0 == 0xC0:
            if end < 0:
                end = p + 2
            p = ((n & 0x3F) << 8) | buf[p + 1]
            continue
        if n & 0xC0:
            raise ValueError("bad label type")
        label = buf[p + 1 : p + 1 + n]
        if len(label) != n:
            raise ValueError("truncated label")
        size += 1 + n
        if size > _MAX_NAME_OCTETS:  # pointers let a forged name repeat a label 127 times
            raise ValueError("name too long")
        labels.append(label.decode("ascii", "replace").lower())
        p += 1 + n
    else:
        raise ValueError("name too long")
    return ".".join(labels), (end if end >= 0 else p)


def parse_dns(buf: bytes) -> DnsMessage | None:
    """Parse a DNS message (UDP payload, or a TCP message without its length prefix)."""
    try:
        return _parse(buf)
    except (IndexError, ValueError, struct.error, OSError):
        return None


def _parse(buf: bytes) -> DnsMessage | None:
    if len(buf) < 12:
        return None
    ident, flags, qd, an = struct.unpack_from("!HHHH", buf)
    if qd > 64 or an > 512:  # mDNS packs many questions and answers into one message
        return None
    p, qname, qtype = 12, None, 0
    for i in range(qd):
        name, p = _name(buf, p)
        t = struct.unpack_from("!H", buf, p)[0]
        p += 4
        if i == 0:
            qname, qtype = name, t
    answers = []
    for _ in range(an):
        owner, p = _name(buf, p)
        rtype, _cls, ttl, size = struct.unpack_from("!HHIH", buf, p)
        p += 10
        rdata = buf[p : p + size]
        if len(rdata) != size:
            break
        if rtype == 1 and size == 4:
            answers.append((owner, 1, ttl, socket.inet_ntop(socket.AF_INET, rdata)))
        elif rtype == 28 and size == 16:
            answers.append((owner, 28, ttl, socket.inet_ntop(socket.AF_INET6, rdata)))
        elif rtype == 5:
            answers.append((owner, 5, ttl, _name(buf, p)[0]))
        p += size
    return DnsMessage(
        ident,
        bool(flags & 0x8000),
        (flags >> 11) & 0xF,
        flags & 0xF,
        qname or None,
        qtype,
        tuple(answers),
    )
