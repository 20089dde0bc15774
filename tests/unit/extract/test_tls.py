"""TLS extractor: a TLS 1.2 server flight (hello, then a certificate a few segments later)
reads the same however it is cut."""

from __future__ import annotations

import datetime
import gc
import random
import struct
import tracemalloc

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sensor.extract.base import ByteBudget
from sensor.extract.tls import HelloPrints, TlsExtractor
from sensor.extract.tlsparse import parse_client_hello
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState
from tests.conftest import SHARED
from tests.tools.record_dump import records
from tests.tools.synth import client_hello


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


def test_a_resumed_session_ends_the_server_side_at_its_change_cipher_spec() -> None:
    """An abbreviated TLS 1.2 handshake (RFC 5246 7.3): ServerHello, ChangeCipherSpec, then
    the encrypted Finished as a handshake record. No certificate comes in clear, so the
    server side is done at the ChangeCipherSpec and holds nothing (it used to wait, buffering
    the encrypted records, until the packet limit: here the encrypted bytes begin like a
    Certificate message longer than the record, which never completes)."""
    flight = _server_flight()
    hello = flight[: 5 + int.from_bytes(flight[3:5], "big")]
    fake = b"\x0b\x00\x10\x00" + bytes(range(36))  # 40 encrypted bytes
    resumed = hello + b"\x14\x03\x03\x00\x01\x01" + _record(fake)
    budget = ByteBudget(1 << 20)
    ext = TlsExtractor(budget)
    key = (0, 1, 0, 2, pack_ports(40000, 443, 6, 4))
    flow, scratch = FlowState(key, 1, True, 6, 0, 0, 0), {}
    assert not ext.feed(flow, client_hello("files.example"), True, 1, scratch)
    assert ext.feed(flow, resumed, False, 2, scratch)  # both sides done
    assert flow.meta["tls.version"] == "TLS 1.2" and flow.meta["tls.alpn_selected"] == "h2"
    assert not any(k.startswith("tls.cert") for k in flow.meta)
    assert budget.held == 0


def test_a_side_that_is_done_is_not_buffered_while_the_other_is_awaited() -> None:
    """nDPI's one-sided TLS 1.2 capture (a span port that sees one direction): the client's
    hello, then its Finished and 1,589 B of application data in 6 segments, and never a
    server. Only the hello's 175 handshake bytes are ever held (the later segments were
    buffered until the flow ended: 1,190 B at the peak); the record reads as it did."""
    path = SHARED / "corpus-ndpi" / "pcaps" / "tls_1.2_unidirectional_client.pcapng"
    if not path.exists():
        pytest.skip("../shared/corpus-ndpi is absent")
    (rec,), held = records(path)
    assert rec["pkts_toclient"] == 0 and rec["bytes_toserver"] == 3004  # all of it was seen
    assert held == {"peak": 175, "held": 0, "refused": 0}
    assert (rec["app_proto"], rec["tls_version"], rec["tls_alpn"]) == (
        "tls",
        "TLS 1.2",
        "h2,http/1.1",
    )
    assert rec["server_name"] == rec["tls_sni"] == "notifications-pa.googleapis.com"
    assert rec["ja4"] == "t12d0409h2_dd22d19553a2_b39be8c56a14"
    assert rec["ja3"] == "66fdcab9689b131fd04777de513ae009"


def test_hello_fingerprints_are_cached_per_extractor_and_bounded() -> None:
    """Three hello shapes in a cache of two: it starts again empty, counts the two shapes it
    dropped, and gives the strings a fresh cache builds; an extractor made alone has its
    own cache, one pipeline's extractors share theirs."""
    hellos = [parse_client_hello(client_hello("a.example", alpn=(p,))[5:]) for p in "xyz"]
    assert all(hellos)
    fresh = [HelloPrints().of(h, "t") for h in hellos if h]
    small = HelloPrints(limit=2)
    got = [small.of(h, "t") for h in hellos if h]
    assert got == fresh and len(set(got)) == 3  # three ALPN lists, so three JA4s
    assert (len(small), small.evicted) == (1, 2)
    assert small.of(hellos[2], "t") is got[2] and small.evicted == 2  # a hit: kept
    assert TlsExtractor().prints is not TlsExtractor().prints


def test_a_certificate_with_a_serial_of_zero_is_read_without_a_warning() -> None:
    """RFC 5280 forbids it, servers send it (nDPI's gnutella.pcap): `cryptography` warned on
    stderr, so any sender could write into the sensor's log."""
    import warnings

    from sensor.extract.certs import describe_certificate

    der = _certificate()
    serial_7 = b"\xa0\x03\x02\x01\x02\x02\x01\x07"  # version v3, then INTEGER 7
    assert der.count(serial_7) == 1
    zero = der.replace(serial_7, serial_7[:-1] + b"\x00")
    chain = len(zero).to_bytes(3, "big") + zero
    certs = len(chain).to_bytes(3, "big") + chain
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fields = describe_certificate(b"\x0b" + len(certs).to_bytes(3, "big") + certs)
    assert fields["tls.cert_subject"] == "CN=files.example"
    assert fields["tls.cert_san"] == "files.example"


def _odd_hello(seed: int, numbers: int, alpn: int = 0) -> bytes:
    """A ClientHello handshake message a scan could send: `numbers` random cipher suites,
    half as many empty extensions of random types, and `alpn` one-letter protocols."""
    rnd = random.Random(seed)
    ciphers = b"".join(struct.pack("!H", rnd.randrange(1, 65535)) for _ in range(numbers))
    exts = b"".join(struct.pack("!HH", rnd.randrange(17, 65535), 0) for _ in range(numbers // 2))
    if alpn:
        protos = b"".join(b"\x01" + bytes([97 + rnd.randrange(26)]) for _ in range(alpn))
        exts += struct.pack("!HHH", 16, len(protos) + 2, len(protos)) + protos
    body = b"\x03\x03" + bytes(33) + struct.pack("!H", len(ciphers)) + ciphers + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    return b"\x01" + len(body).to_bytes(3, "big") + body


HELLO_FAMILIES = {
    "browser": [client_hello(f"h{i}.example", alpn=(f"p{i}",))[5:] for i in range(200)],
    "100 numbers": [_odd_hello(i, 100) for i in range(200)],
    "2,000 numbers": [_odd_hello(i, 2000) for i in range(40)],
    "1,000 protocols": [_odd_hello(i, 10, alpn=1000) for i in range(40)],
}


@pytest.mark.parametrize("family", HELLO_FAMILIES)
def test_a_kept_shape_costs_no_more_than_its_estimate(family: str) -> None:
    """HelloPrints counts its bytes by estimate (`_shape_bytes`); tracemalloc measures what
    keeping the shapes of parsed hellos really holds, the hellos themselves dropped."""
    hellos = HELLO_FAMILIES[family]
    prints = HelloPrints(max_bytes=1 << 40)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for raw in hellos:
            ch = parse_client_hello(raw)
            assert ch is not None
            prints.of(ch, "t")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(prints) == len(hellos) and prints.evicted == 0
    assert held <= prints.nbytes, (held, prints.nbytes)


def test_large_random_hellos_cannot_grow_the_fingerprint_cache() -> None:
    """A scan of 64 KB hellos held ~860 KB per shape, ~7 GB at the old bound of 8,192
    shapes. Now a shape over 1/64 of the bytes is built and not kept, and shapes just under
    it fill the bytes and start the cache again: the estimate stays within its bound."""
    prints = HelloPrints(max_bytes=1 << 20)
    first = parse_client_hello(HELLO_FAMILIES["browser"][0])
    assert first is not None
    kept = prints.of(first, "t")
    huge = [parse_client_hello(_odd_hello(i, 16_000)) for i in range(3)]
    got = [prints.of(h, "t") for h in huge if h]
    assert len(got) == 3 and prints.evicted == 3
    assert prints.of(first, "t") is kept  # the browser's shape was not pushed out
    peak = 0
    for i in range(100):  # 330 numbers: ~14 KB a shape, just under 1 MB / 64
        h = parse_client_hello(_odd_hello(100 + i, 220))
        assert h is not None
        prints.of(h, "t")
        peak = max(peak, prints.nbytes)
    assert peak <= 1 << 20 and prints.evicted > 3 and len(prints) < 100


def _certificate_message(der: bytes) -> bytes:
    chain = len(der).to_bytes(3, "big") + der
    certs = len(chain).to_bytes(3, "big") + chain
    return b"\x0b" + len(certs).to_bytes(3, "big") + certs


def test_certificates_are_cached_by_digest_bounded_and_their_text_capped() -> None:
    """The cache was a module-level lru_cache keyed by the DER itself: 4,096 forged 64 KB
    certificates held 256 MB outside the memory budget, in every process. Now one per TLS
    extractor, keyed by a 16-byte digest, bounded in certificates and bytes, evictions
    counted; a subject or issuer is kept to MAX_CERT_TEXT characters (a record carries it)."""
    from sensor.extract.certs import MAX_CERT_TEXT, Certificates

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)

    def cert(org: str) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org[i : i + 64])
                          for i in range(0, len(org), 64)])  # fmt: skip
        built = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return built.public_bytes(serialization.Encoding.DER)

    certs = Certificates(limit=2)
    msgs = [_certificate_message(cert(c * 6000)) for c in "abc"]  # ~10 KB subjects
    got = [certs.describe(m) for m in msgs]
    assert [len(g["tls.cert_subject"]) for g in got] == [MAX_CERT_TEXT] * 3
    assert got[0]["tls.cert_subject"].startswith("OU=aaaa")
    assert (len(certs), certs.evicted) == (1, 2)
    assert certs.describe(msgs[2]) == got[2] and certs.evicted == 2  # a hit
    assert all(len(k) == 16 for k in certs._map)
    many = [_certificate_message(cert(f"{i:04d}" * 1500)) for i in range(70)]
    small = Certificates(max_bytes=64 * 9_000)  # ~8.7 KB a certificate: room for about 66
    for m in many:
        small.describe(m)
        assert small.nbytes <= small.max_bytes
    assert small.evicted > 0 and len(small) < 70 and small.evicted + len(small) == 70
    assert TlsExtractor().certs is not TlsExtractor().certs


def test_a_forged_alpn_list_is_kept_to_a_name_s_length() -> None:
    """1,000 protocols joined were 2,000 characters in every record and memo key (a 64 KB
    hello holds 20,000); the list is kept to MAX_NAME characters, as a server name is."""
    from sensor.extract.base import MAX_NAME

    ch = parse_client_hello(HELLO_FAMILIES["1,000 protocols"][0])
    assert ch is not None and len(ch.alpn) == 1000
    alpn = HelloPrints().of(ch, "t")[3]
    assert alpn is not None and len(alpn) == MAX_NAME and alpn.startswith(ch.alpn[0] + ",")


def test_a_kept_certificate_costs_no_more_than_its_estimate() -> None:
    """Certificates counts its bytes by estimate, as HelloPrints does: tracemalloc measures
    what keeping the fields of 200 distinct certificates holds, the messages dropped."""
    from sensor.extract.certs import Certificates

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)

    def message(i: int) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"h{i}.example")])
        der = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(i + 1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"h{i}.example")]), False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        )  # fmt: skip
        return _certificate_message(der)

    msgs = [message(i) for i in range(201)]
    certs = Certificates(max_bytes=1 << 40)
    certs.describe(msgs[0])  # the first loads cryptography's X.509 module
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for m in msgs[1:]:
            certs.describe(m)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(certs) == 201 and certs.evicted == 0
    assert held <= certs.nbytes * 200 / 201, (held, certs.nbytes)
