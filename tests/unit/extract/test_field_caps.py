"""Every field an extractor writes has a length a sender cannot choose: a record, an alert
and a memo key carry it (found by review: a SIP domain, a SOCKS4a host, a gQUIC server
name, a DHT query and an HTTP method went into records at up to 60,000 characters; a DNS
name through compression pointers at 8,000, 16 times over in the answers)."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from sensor.extract.base import MAX_NAME, Extractor
from sensor.extract.bittorrent import BitTorrentExtractor
from sensor.extract.dns import DnsExtractor
from sensor.extract.gquic import GquicExtractor
from sensor.extract.http import HttpExtractor
from sensor.extract.names import DnsNames
from sensor.extract.sip import SipExtractor
from sensor.extract.socks import SocksExtractor
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState

LONG = 60_000

NAMES = ("server_name", "sip.from_domain", "sip.to_domain", "quic.sni", "dns.query")
"""Fields that hold a host name: at most MAX_NAME characters (RFC 1035's 253 and change)."""


def _dns_with_a_long_name() -> bytes:
    """A response whose question is 126 labels of 63 bytes (8 KB of name), answered by 16
    CNAMEs that point back at it: the name is read 17 times from one packet."""
    qname = b"".join(b"\x3f" + b"\xff" * 63 for _ in range(126)) + b"\x00"
    head = struct.pack("!HHHHHH", 7, 0x8180, 1, 16, 0, 0)
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, 2) + b"\xc0\x0c"
    return head + qname + b"\x00\x01\x00\x01" + answer * 16


def _dns_with_long_answers() -> bytes:
    """A legal response: a 253-character name, and 16 CNAMEs that point back at it."""
    qname = b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3d" + b"d" * 61
    head = struct.pack("!HHHHHH", 7, 0x8180, 1, 16, 0, 0)
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, 2) + b"\xc0\x0c"
    return head + qname + b"\x00" + b"\x00\x01\x00\x01" + answer * 16


def _gquic_chlo() -> bytes:
    tags = [(b"SNI\x00", b"s." * (LONG // 4)), (b"UAID", b"u" * (LONG // 2))]
    index, body, end = b"", b"", 0
    for tag, value in tags:
        end += len(value)
        index += tag + struct.pack("<I", end)
        body += value
    chlo = b"CHLO" + struct.pack("<HH", len(tags), 0) + index + body
    return b"\x09" + b"\x01" * 8 + b"Q046" + b"\x01" + chlo


CASES: dict[str, tuple[Callable[[], Extractor], int, int, list[tuple[bool, bytes]]]] = {
    "http method": (HttpExtractor, 80, 6, [
        (False, b"HTTP/1.1 200 OK\r\n\r\n"),
        (True, b"A" * 20_000 + b" /x HTTP/1.1\r\n\r\n"),
    ]),
    "sip domains": (SipExtractor, 5060, 17, [
        (True, b"INVITE sip:x SIP/2.0\r\nTo: <sip:" + b"a." * (LONG // 2)
         + b"com>\r\nFrom: <sip:" + b"b." * (LONG // 2) + b"com>\r\n\r\n"),
    ]),
    "sip domains, short head": (SipExtractor, 5060, 17, [
        (True, b"INVITE sip:x SIP/2.0\r\nTo: <sip:" + b"a." * 1500 + b"com>\r\n\r\n"),
    ]),
    "sip method": (SipExtractor, 5060, 17, [
        (True, b"SIP/2.0 200 OK\r\n\r\n"),
        (True, b"B" * LONG + b" y\r\n\r\n"),
    ]),
    "socks4a host": (SocksExtractor, 1080, 6, [
        (True, b"\x04\x01\x00\x50\x00\x00\x00\x01user\x00" + b"h" * LONG + b"\x00"),
    ]),
    "dht query": (BitTorrentExtractor, 6881, 17, [
        (True, b"d1:ad2:id20:" + b"x" * 20 + b"e1:q60000:" + b"a" * LONG + b"1:y1:qe"),
    ]),
    "gquic names": (GquicExtractor, 443, 17, [(True, _gquic_chlo())]),
    "dns names": (lambda: DnsExtractor(DnsNames()), 53, 17, [(False, _dns_with_a_long_name())]),
    "dns answers": (lambda: DnsExtractor(DnsNames()), 53, 17, [(False, _dns_with_long_answers())]),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_no_field_is_longer_than_its_cap(case: str) -> None:
    make, port, proto, chunks = CASES[case]
    ext = make()
    flow = FlowState((0, 1, 0, 2, pack_ports(40000, port, proto, 4)), 1, True, proto, 0, 0, 0)
    scratch: dict[str, object] = {}
    for i, (from_client, data) in enumerate(chunks):
        ext.feed(flow, data, from_client, i, scratch)
    text = {k: v for k, v in flow.meta.items() if isinstance(v, str)}
    assert text or case == "dns names", "the case must reach the extractor's fields"
    for k, v in text.items():
        assert len(v) <= (MAX_NAME if k in NAMES else 1024), (k, len(v))
    if case == "dns answers":
        assert len(text["dns.query"]) == 253 and len(text["dns.answers"]) == 1024


@pytest.mark.parametrize(
    "name", ['e\x1b[31m\n"<x>.chatgpt.com', "bob\x00.example", "a b.example", "x\u202e.com"]
)
def test_a_name_with_controls_or_spaces_names_no_flow(name: str) -> None:
    """DNS labels and SIP URIs let ESC, NUL and newlines through to `server_name`, where
    TLS and HTTP names are checked: such a name fired a domain signature (found by review)."""
    from sensor.extract.base import set_server_name

    flow = FlowState((0, 1, 0, 2, pack_ports(40000, 443, 6, 4)), 1, True, 6, 0, 0, 0)
    set_server_name(flow, name, "dns")
    assert "server_name" not in flow.meta
    set_server_name(flow, "chatgpt.com", "dns")
    assert flow.meta["server_name"] == "chatgpt.com"
