"""TLS extractor: record reassembly against its straightforward reference, and a TLS 1.2
server flight (hello, then a certificate a few segments later) read the same however it
is cut."""

from __future__ import annotations

import datetime
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.extract.base import ByteBudget
from sensor.extract.tls import _MAX_BUFFER, HANDSHAKE, TlsExtractor, _Side
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState
from tests.tools.synth import client_hello


class _RefSide:
    """The record walk as first written (cut the buffer after every record): the oracle."""

    def __init__(self) -> None:
        self.raw = b""
        self.hs = b""

    def push(self, data: bytes) -> bool:
        self.raw += data
        while len(self.raw) >= 5:
            ctype, major, size = self.raw[0], self.raw[1], int.from_bytes(self.raw[3:5], "big")
            if major != 3 or size > 18432:
                return False
            if len(self.raw) < 5 + size:
                break
            if ctype == HANDSHAKE:
                self.hs += self.raw[5 : 5 + size]
            self.raw = self.raw[5 + size :]
        return len(self.raw) + len(self.hs) <= _MAX_BUFFER


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """Records of random types and sizes (now and then a bad header), and cut points."""
    out = b""
    for _ in range(draw(st.integers(0, 8))):
        ctype = draw(st.sampled_from([HANDSHAKE, 20, 21, 23]))
        major = draw(st.sampled_from([3, 3, 3, 3, 2]))
        size = draw(st.one_of(st.integers(0, 300), st.just(18433), st.just(16_000)))
        body = draw(st.binary(min_size=0, max_size=min(size, 300)))
        out += bytes([ctype, major, 3]) + struct.pack("!H", size) + body.ljust(size, b"\x00")
    cuts = sorted(draw(st.lists(st.integers(0, len(out)), max_size=10)))
    return out, cuts


@settings(max_examples=400, deadline=None)
@given(_streams())
def test_push_matches_reference(case: tuple[bytes, list[int]]) -> None:
    stream, cuts = case
    new, ref = _Side(), _RefSide()
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        assert new.push(stream[a:b]) == ref.push(stream[a:b])
        assert (new.raw, new.hs) == (ref.raw, ref.hs)


def _certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "files.example")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("files.example")]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _record(hs: bytes) -> bytes:
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs


def _server_flight() -> bytes:
    """ServerHello (TLS 1.2, ALPN h2) and a Certificate, each in its own record."""
    alpn = b"\x00\x10\x00\x05\x00\x03\x02h2"
    body = b"\x03\x03" + b"\x55" * 32 + b"\x00" + b"\xc0\x2f\x00"
    body += struct.pack("!H", len(alpn)) + alpn
    hello = b"\x02" + len(body).to_bytes(3, "big") + body
    der = _certificate()
    chain = len(der).to_bytes(3, "big") + der
    certs = len(chain).to_bytes(3, "big") + chain
    cert = b"\x0b" + len(certs).to_bytes(3, "big") + certs
    return _record(hello) + _record(cert)


def _meta(segments: list[bytes]) -> dict[str, object]:
    """Feed the client's hello after the server's first segment, the rest after it."""
    ext = TlsExtractor(ByteBudget(1 << 20))
    key = (0, 1, 0, 2, pack_ports(40000, 443, 6, 4))
    flow, scratch = FlowState(key, 1, True, 6, 0, 0, 0), {}
    assert not ext.feed(flow, segments[0], False, 1, scratch)
    ext.feed(flow, client_hello("files.example"), True, 2, scratch)
    done = [ext.feed(flow, s, False, 3 + i, scratch) for i, s in enumerate(segments[1:])]
    assert done[-1] and not any(done[:-1])
    return flow.meta


def test_server_flight_in_segments_reads_as_whole() -> None:
    flight = _server_flight()
    hello_end = 5 + int.from_bytes(flight[3:5], "big")
    whole = _meta([flight[:hello_end], flight[hello_end:]])
    assert whole["tls.version"] == "TLS 1.2"  # the server's choice, after the client's 1.3
    assert whole["tls.alpn_selected"] == "h2"
    assert "files.example" in str(whole["tls.cert_subject"])
    step = 97  # the hello whole in the first, the certificate over many segments
    cut = [flight[: hello_end + 40]]
    cut += [flight[i : i + step] for i in range(hello_end + 40, len(flight), step)]
    assert len(cut) > 4
    assert _meta(cut) == whole
