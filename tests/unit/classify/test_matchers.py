"""Each matcher kind: what matches, what does not, and the message for a bad clause."""

from __future__ import annotations

import pytest

from sensor.classify.matchers import compile_clause
from sensor.classify.view import Networks
from tests.unit.classify.helpers import make_flow, view


def m(spec: object, **flow: object):  # type: ignore[no-untyped-def]
    return compile_clause(spec).match(view(make_flow(**flow)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "hit"),
    [
        ("openai.com", True),
        ("api.openai.com", True),
        ("API.OpenAI.com.", True),
        ("notopenai.com", False),
        ("openai.com.evil.net", False),
        ("com", False),
    ],
)
def test_domain_matches_on_label_boundaries(name: str, hit: bool) -> None:
    ev = m({"domain": ["openai.com"]}, meta={"tls.sni": name})
    assert (ev is not None) is hit
    if hit:
        assert ev is not None and ev[0] == f"tls.sni={name.lower().rstrip('.')}"


def test_domain_from_dns_counts_less_than_one_sent_in_the_flow() -> None:
    dns = {"server_name": "chatgpt.com", "server_name_source": "dns"}
    ev = m({"domain": ["chatgpt.com"]}, meta=dns)
    assert ev == ("server_name(dns)=chatgpt.com", 0.8)
    ev = m({"domain": ["chatgpt.com"]}, meta={"quic.sni": "chatgpt.com"})
    assert ev == ("quic.sni=chatgpt.com", 1)


def test_domain_on_one_field_ignores_the_others() -> None:
    spec = {"field": "http.host", "domain": ["example.org"]}
    assert m(spec, meta={"tls.sni": "example.org"}) is None
    assert m(spec, meta={"http.host": "www.example.org"}) is not None


def test_equals_is_case_insensitive_and_understands_lists() -> None:
    assert m({"field": "app_proto", "equals": ["SSH"]}, meta={"app_proto": "ssh"})
    alpn = {"tls.alpn": "h2,bep/1.0"}
    assert m({"field": "tls.alpn", "equals": ["bep/1.0"]}, meta=alpn)
    assert m({"field": "tls.alpn", "equals": ["http/1.1"]}, meta=alpn) is None
    assert m({"field": "transport", "equals": ["udp"]}, proto=17)
    assert m({"field": "transport", "equals": ["udp"]}, proto=6) is None


def test_regex_searches_the_field_text() -> None:
    spec = {"field": "user_agent", "regex": "(?i)^qbittorrent"}
    assert m(spec, meta={"user_agent": "qBittorrent/4.6"})
    assert m(spec, meta={"user_agent": "curl/8"}) is None
    assert m(spec) is None


def test_cidr_matches_the_server_address_v4_and_v6() -> None:
    assert m({"cidr": ["149.154.160.0/20"]}, dst="149.154.167.91")
    assert m({"cidr": ["149.154.160.0/20"]}, dst="149.154.176.1") is None
    ev = m({"cidr": ["2001:b28:f23c::/47"]}, src="fd00::5", dst="2001:b28:f23d::a")
    assert ev is not None and "2001:b28:f23c::/47" in ev[0]
    assert m({"field": "src_ip", "cidr": ["10.20.0.0/16"]})


def test_port_single_range_and_either_side() -> None:
    assert m({"port": [443]})
    assert m({"port": ["6881-6889"]}, dport=6885)
    assert m({"port": ["1024-65535"]}, dport=50001)
    assert m({"port": [4569]}, sport=4569, dport=4566) is None
    assert m({"field": "port", "port": [4569]}, sport=4569, dport=4566) == ("src_port=4569", 1.0)


def test_payload_content_offset_regex_and_length_field() -> None:
    head = {"_head.toserver": b"\x13BitTorrent protocol\x00", "_head.toserver_len": 68}
    assert m({"payload": {"content": "|13|BitTorrent protocol"}}, meta=head)
    assert m({"payload": {"dir": "toclient", "content": "|13|Bit"}}, meta=head) is None
    pptp = {"_head.toserver": b"\x00\x9c\x00\x01\x1a\x2b\x3c\x4d", "_head.toserver_len": 156}
    assert m({"payload": {"offset": 2, "content": "|00 01 1a 2b 3c 4d|"}}, meta=pptp)
    gnut = bytes(16) + b"\x00\x01\x00" + (6).to_bytes(4, "little")
    spec = {"payload": {"length_field": [19, 4, "le", 23], "min_len": 23}}
    assert m(spec, meta={"_head.toserver": gnut, "_head.toserver_len": 29})
    assert m(spec, meta={"_head.toserver": gnut, "_head.toserver_len": 30}) is None
    wg = {"payload": {"content": "|01 00 00 00|", "min_len": 148, "max_len": 148}}
    assert m(wg, meta={"_head.toserver": b"\x01\0\0\0", "_head.toserver_len": 148})
    assert m(wg, meta={"_head.toserver": b"\x01\0\0\0", "_head.toserver_len": 149}) is None


def test_behaviour_thresholds_and_rate_band() -> None:
    spec = {"behaviour": {"min_seconds": 240, "min_down_ratio": 0.9, "kbps_toclient": [32, 320]}}
    radio = {"seconds": 300, "bytes_ts": 40_000, "bytes_tc": 4_800_000}  # 128 kbit/s
    ev = m(spec, **radio)
    assert ev is not None and "128 kbit/s" in ev[0]
    assert m(spec, **{**radio, "seconds": 100}) is None
    assert m(spec, **{**radio, "bytes_tc": 48_000_000}) is None  # 1.3 Mbit/s: video, not radio
    assert m(spec, **{**radio, "bytes_ts": 4_000_000}) is None  # two-way: not a stream


@pytest.mark.parametrize(
    ("src", "dst", "kind", "hit"),
    [
        ("10.20.1.5", "203.0.113.1", "outbound", True),
        ("203.0.113.1", "10.20.1.5", "inbound", True),
        ("203.0.113.1", "10.20.1.5", "crossing", True),
        ("10.20.1.5", "10.30.1.5", "internal", True),
        ("10.20.1.5", "10.30.1.5", "crossing", False),
        ("10.20.1.5", "239.255.255.250", "outbound", False),
        ("10.20.1.5", "255.255.255.255", "external", False),
    ],
)
def test_boundary(src: str, dst: str, kind: str, hit: bool) -> None:
    assert (m({"boundary": kind}, src=src, dst=dst) is not None) is hit


def test_to_workstation_needs_a_client_outside_that_network() -> None:
    nets = Networks(workstations=("10.20.0.0/16",))
    clause = compile_clause({"boundary": "to_workstation"})
    inbound = make_flow(src="203.0.113.9", dst="10.20.1.15", sport=61000, dport=80)
    neighbour = make_flow(src="10.20.9.9", dst="10.20.1.15", sport=61000, dport=80)
    from_servers = make_flow(src="10.1.0.9", dst="10.20.1.15", sport=61000, dport=80)
    assert clause.match(view(inbound, nets)) is not None
    assert clause.match(view(neighbour, nets)) is None
    assert clause.match(view(from_servers, nets)) is not None
    assert clause.match(view(inbound)) is None  # no workstation networks configured


def test_logic_any_all_not_and_weight() -> None:
    sni = {"tls.sni": "www.abcdefghij.com", "tls.cert_subject": "CN=www.klmnopqrst.net"}
    tor = {
        "all": [
            {"field": "tls.sni", "regex": r"^www\.[a-z2-7]{8,32}\.com$"},
            {"field": "tls.cert_subject", "regex": r"^CN=www\.[a-z2-7]{8,32}\.net$"},
        ]
    }
    ev = m(tor, meta=sni)
    assert ev is not None and "; " in ev[0]
    assert m(tor, meta={"tls.sni": sni["tls.sni"]}) is None
    assert m({"not": {"port": [443]}}, dport=80)
    assert m({"not": {"port": [443]}}) is None
    weighted = m({"any": [{"port": [1]}, {"port": [443], "weight": 0.5}]})
    assert weighted == ("dest_port=443", 0.5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"domian": ["x.com"]}, "unknown key 'domian'"),
        ({"domain": ["x.com"], "port": [1]}, "exactly one of"),
        ({"field": "x", "regex": "("}, "bad pattern"),
        ({"equals": ["a"]}, "needs a `field`"),
        ({"port": ["70000"]}, "out of range"),
        ({"cidr": ["10.0.0.0/33"]}, "cidr"),
        ({"domain": ["not a domain"]}, "not a domain name"),
        ({"any": []}, "non-empty list"),
        ({"boundary": "sideways"}, "unknown ['sideways']"),
        ({"behaviour": {"min_secs": 1}}, "unknown ['min_secs']"),
        ({"payload": {"content": "|zz|"}}, "bad hex"),
        ({"payload": {"length_field": [19, 3, "le", 23]}}, "length_field"),
        ({"port": [1], "weight": 2}, "weight"),
    ],
)
def test_bad_clauses_say_what_is_wrong(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match="match") as e:
        compile_clause(spec)
    assert message in str(e.value)
