"""Extraction end to end on crafted captures: split hellos, DNS-named flows, radio, banners."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.utils import wrpcap

from sensor.config import InspectConfig, SensorConfig
from tests.tools.synth import client_hello, tcp_session, udp_exchange

C, S, R = "10.20.1.11", "104.18.32.47", "10.20.0.53"


def _one(db, where: str = "dest_port = 443"):  # type: ignore[no-untyped-def]
    cur = db.execute(f"SELECT * FROM flows WHERE {where}")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert len(rows) == 1, rows
    return rows[0]


def _split_hello(t: float, sni: str) -> list:  # type: ignore[type-arg]
    hello = client_hello(sni, key_share_bytes=1216)  # post-quantum sized: two segments
    assert len(hello) > 1460
    return tcp_session((C, 50000), (S, 443), t, [(True, hello[:1200]), (True, hello[1200:])])


def test_client_hello_split_over_two_segments(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "split.pcap"
    wrpcap(str(path), _split_hello(1000.0, "chatgpt.com"))
    row = _one(replay([path])[0])
    assert (row["app_proto"], row["tls_sni"], row["server_name_source"]) == (
        "tls",
        "chatgpt.com",
        "tls",
    )
    assert row["ja4"].startswith("t13d")


def test_split_hello_out_of_order_and_retransmitted(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    pkts = _split_hello(1000.0, "claude.ai")
    a, b = pkts[3], pkts[4]  # the two hello segments (after the handshake)
    a.time, b.time = b.time, a.time
    retrans = a.copy()
    retrans.time = float(b.time) + 0.001
    pkts = [*pkts[:3], b, a, retrans, *pkts[5:]]
    path = tmp_path / "ooo.pcap"
    wrpcap(str(path), pkts)
    assert _one(replay([path])[0])["tls_sni"] == "claude.ai"


def _dns(t: float, client: str, name: str, addr: str, ttl: int = 300) -> list:  # type: ignore[type-arg]
    q = DNS(id=1, rd=1, qd=DNSQR(qname=name))
    a = DNS(id=1, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, ttl=ttl, rdata=addr))
    return udp_exchange((client, 40000), (R, 53), t, [(True, bytes(q)), (False, bytes(a))])


def test_flow_without_sni_gets_its_name_from_the_earlier_answer(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    pkts = _dns(1000.0, C, "chatgpt.com", S) + tcp_session(
        (C, 50001), (S, 443), 1001.0, [(True, client_hello(None)), (False, b"\x16\x03\x03\0\0")]
    )
    path = tmp_path / "dns.pcap"
    wrpcap(str(path), pkts)
    db, _ = replay([path])
    row = _one(db)
    assert (row["server_name"], row["server_name_source"], row["tls_sni"]) == (
        "chatgpt.com",
        "dns",
        None,
    )
    dns = _one(db, "dest_port = 53")
    assert (dns["dns_query"], dns["dns_answers"], dns["dns_qtype"]) == ("chatgpt.com", S, "A")


def test_answer_for_another_client_or_expired_gives_no_name(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    other = _dns(1000.0, "10.20.1.99", "chatgpt.com", S)
    expired = _dns(1000.0, C, "claude.ai", "160.79.104.10", ttl=30)
    flows = tcp_session((C, 50002), (S, 443), 1001.0, [(True, client_hello(None))]) + tcp_session(
        (C, 50003), ("160.79.104.10", 443), 1100.0, [(True, client_hello(None))]
    )
    path = tmp_path / "nodns.pcap"
    wrpcap(str(path), other + expired + flows)
    db, _ = replay([path])
    names = db.execute("SELECT server_name FROM flows WHERE dest_port = 443").fetchall()
    assert names == [(None,), (None,)]


def _ttl0(gap: float) -> list:  # type: ignore[type-arg]
    """A TTL-0 answer for api.openai.com, then TLS without SNI to it `gap` seconds later."""
    return _dns(1000.0, C, "api.openai.com", "162.159.140.245", ttl=0) + tcp_session(
        (C, 50010), ("162.159.140.245", 443), 1000.0 + gap, [(True, client_hello(None))]
    )


def test_ttl_zero_answer_names_the_connection_right_after_it(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    """A program that connects 5 ms after a TTL-0 answer is named by it (inspect.
    dns_min_seconds, 60 s by default as nDPI's cache), and so classified; 61 s later, or with
    the minimum set to 0, the answer no longer names anything."""
    path = tmp_path / "ttl0.pcap"
    wrpcap(str(path), _ttl0(0.015))  # the answer comes at +10 ms
    row = _one(replay([path])[0])
    assert (row["server_name"], row["server_name_source"], row["provision"]) == (
        "api.openai.com",
        "dns",
        "2503-ai",
    )
    late = tmp_path / "late.pcap"
    wrpcap(str(late), _ttl0(61.0))
    assert _one(replay([late], name="late")[0])["server_name"] is None
    strict = SensorConfig(inspect=InspectConfig(dns_min_seconds=0))
    assert _one(replay([path], strict, name="strict")[0])["server_name"] is None


def test_sni_beats_dns_as_the_name_source(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    pkts = _dns(1000.0, C, "cdn.example.net", S) + tcp_session(
        (C, 50004), (S, 443), 1001.0, [(True, client_hello("gemini.google.com"))]
    )
    path = tmp_path / "both.pcap"
    wrpcap(str(path), pkts)
    row = _one(replay([path])[0])
    assert (row["server_name"], row["server_name_source"]) == ("gemini.google.com", "tls")


def test_icecast_stream_fields(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    req = b"GET /groove HTTP/1.0\r\nHost: Ice1.SomaFM.com:80\r\nIcy-MetaData: 1\r\n\r\n"
    resp = b"ICY 200 OK\r\nicy-name: Groove Salad\r\nicy-br: 128\r\n\r\n"
    path = tmp_path / "icy.pcap"
    wrpcap(
        str(path),
        tcp_session(
            (C, 50005),
            ("173.239.76.148", 80),
            1000.0,
            [(True, req), (False, resp), (False, b"\xff" * 500)],
        ),
    )
    row = _one(replay([path])[0], "dest_port = 80")
    assert (row["http_host"], row["http_status"], row["app_proto"]) == (
        "ice1.somafm.com",
        200,
        "http",
    )
    assert (
        row["app_meta"]["http.icy"] == "True" and row["app_meta"]["http.icy_name"] == "Groove Salad"
    )
    assert row["app_meta"]["http.icy_metadata"] == "True"


def test_inspection_stops_after_the_budget(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    """An unknown protocol is given up after a few payloads; the flow still counts fully."""
    path = tmp_path / "blob.pcap"
    wrpcap(
        str(path),
        tcp_session((C, 50006), (S, 9999), 1000.0, [(True, b"\x00\x01garbage" * 10)] * 40),
    )
    row = _one(replay([path])[0], "dest_port = 9999")
    assert row["app_proto"] is None and row["pkts_toserver"] == 40 + 4
