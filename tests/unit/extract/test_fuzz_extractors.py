"""Every extractor, fed random and mutated payloads through the Inspector, never raises
(the Inspector would count it in `errors`; this test requires that count to stay 0)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.extract import DnsNames, Inspector, default_extractors
from sensor.extract.certs import describe_certificate
from sensor.extract.dhcp import parse_dhcp
from sensor.extract.dnsparse import parse_dns
from sensor.extract.stun import parse_stun
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState
from tests.tools.synth import client_hello

SEEDS = [
    client_hello("a.example"),
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"SSH-2.0-x\r\n",
    b"\x13BitTorrent protocol" + b"\0" * 48,
    b"\x05\x01\x00",
    b"RFB 003.008\n",
    b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00",
    b"INVITE sip:a@b SIP/2.0\r\nFrom: <sip:x@y>\r\n\r\n",
    b"GNUTELLA CONNECT/0.6\r\n\r\n",
    b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\0" * 12,
    b"\x80\x00\x00\x01" + b"\0" * 12,
    b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01",
]


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 5))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))]) + draw(st.binary(max_size=20))


@settings(max_examples=300, deadline=None)
@given(
    proto=st.sampled_from([6, 17]),
    port=st.sampled_from([53, 67, 80, 123, 443, 1900, 5060, 6881, 50000]),
    chunks=st.lists(st.tuples(st.booleans(), payloads()), min_size=1, max_size=6),
)
def test_no_extractor_raises(proto: int, port: int, chunks: list[tuple[bool, bytes]]) -> None:
    insp = Inspector(default_extractors(DnsNames()), 16, DnsNames())
    key = (0, 1, 0, 2, pack_ports(40000, port, proto, 4))
    flow = FlowState(key, 1, True, proto, 0, 0, 0)
    insp.start(flow)
    seq = {True: 1000, False: 9000}
    for i, (from_client, data) in enumerate(chunks):
        if not flow.inspecting:
            break
        insp.feed(flow, data, from_client, i, seq[from_client])
        seq[from_client] += len(data)
    assert not insp.errors


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_pure_parsers_return_none_on_garbage(data: bytes) -> None:
    parse_dns(data)
    parse_stun(data)
    parse_dhcp(data)
    describe_certificate(b"\x0b" + data)
