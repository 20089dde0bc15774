"""Scalar decoder on crafted frames: every link type and tunnel it claims to handle."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from sensor.decode.columns import TUNNELS
from sensor.decode.scalar import FragmentCache, decode_frame

A, B = "192.0.2.1", "198.51.100.2"
INNER = IP(src="10.9.8.7", dst="10.1.2.3") / TCP(sport=1234, dport=443, flags="S")


def _dec(linktype: int, frame: bytes, frags: FragmentCache | None = None):  # type: ignore[no-untyped-def]
    return decode_frame(linktype, frame, 0, len(frame), frags or FragmentCache())


def _ip4(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def test_ethernet_tcp_fields_and_payload_span() -> None:
    f = bytes(Ether() / IP(src=A, dst=B) / TCP(sport=5, dport=80, flags="PA") / Raw(b"GET /"))
    ver, src, dst, proto, sp, dp, flags, off, ln, vlan, tun, _seq = _dec(1, f)
    assert (ver, src, dst, proto, sp, dp, flags) == (4, _ip4(A), _ip4(B), 6, 5, 80, 0x18)
    assert f[off : off + ln] == b"GET /" and (vlan, tun) == (-1, 0)


def test_ipv4_options_move_the_transport_header() -> None:
    f = bytes(
        Ether() / IP(src=A, dst=B, options=b"\x94\x04\x00\x00") / UDP(sport=1, dport=2) / b"x"
    )
    res = _dec(1, f)
    assert res[4:6] == (1, 2) and f[res[7] : res[7] + res[8]] == b"x"


@pytest.mark.parametrize(
    "layers,vlan",
    [
        (Dot1Q(vlan=42), 42),
        (Dot1AD(vlan=7) / Dot1Q(vlan=300), 7),
        (Dot1Q(vlan=5) / Dot1Q(vlan=6) / Dot1Q(vlan=8), 5),
    ],
)
def test_vlan_tags_report_the_outer_id(layers, vlan: int) -> None:  # type: ignore[no-untyped-def]
    res = _dec(1, bytes(Ether() / layers / INNER))
    assert res[4:6] == (1234, 443) and res[9] == vlan


def test_linux_cooked_v1_and_v2() -> None:
    assert _dec(113, bytes(CookedLinux() / INNER))[4:6] == (1234, 443)
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02" * 8) + bytes(INNER)
    assert _dec(276, sll2)[4:6] == (1234, 443)


@pytest.mark.parametrize(
    "linktype,head",
    [
        (0, struct.pack("<I", 2)),
        (0, struct.pack(">I", 2)),
        (108, struct.pack(">I", 2)),
        (101, b""),
        (228, b""),
    ],
)
def test_null_loop_and_raw_links(linktype: int, head: bytes) -> None:
    assert _dec(linktype, head + bytes(INNER))[4:6] == (1234, 443)


def test_ipv6_extension_headers_are_walked() -> None:
    pkt = (
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrRouting()
        / IPv6ExtHdrDestOpt()
        / UDP(sport=53, dport=5353)
        / b"q"
    )
    res = _dec(101, bytes(pkt))
    assert (res[0], res[3], res[4], res[5]) == (6, 17, 53, 5353)


def test_ipv4_fragments_join_the_first_fragments_flow() -> None:
    frags = FragmentCache()
    big = IP(src=A, dst=B, id=99) / UDP(sport=7000, dport=9000) / (b"z" * 3000)
    from scapy.layers.inet import fragment

    parts = [_dec(101, bytes(p), frags) for p in fragment(big, fragsize=1000)]
    assert len(parts) == 4 and all(p[4:6] == (7000, 9000) for p in parts)


def test_ipv6_fragments_join_the_first_fragments_flow() -> None:
    frags = FragmentCache()
    base = IPv6(src="2001:db8::1", dst="2001:db8::2")
    first = (
        base / IPv6ExtHdrFragment(id=5, m=1, offset=0, nh=17) / UDP(sport=1, dport=2) / (b"a" * 8)
    )
    later = base / IPv6ExtHdrFragment(id=5, m=0, offset=2, nh=17) / (b"b" * 8)
    assert _dec(101, bytes(first), frags)[4:6] == (1, 2)
    assert _dec(101, bytes(later), frags)[4:6] == (1, 2)


def test_gre_transparent_bridging_and_ip() -> None:
    eth = bytes(Ether() / IP(src=A, dst=B) / GRE(proto=0x6558) / Ether() / INNER)
    ip = bytes(Ether() / IP(src=A, dst=B) / GRE(proto=0x0800) / INNER)
    for f in (eth, ip):
        res = _dec(1, f)
        assert res[1] == _ip4("10.9.8.7") and res[4:6] == (1234, 443) and TUNNELS[res[10]] == "gre"


def _erspan2() -> bytes:
    gre = struct.pack("!HHI", 0x1000, 0x88BE, 1)  # S bit: sequence present (type II)
    return gre + struct.pack("!II", 0x10010001, 0) + bytes(Ether() / INNER)


def _erspan3(platform: bool) -> bytes:
    gre = struct.pack("!HHI", 0x1000, 0x22EB, 1)
    hdr = struct.pack("!III", 0x20010001, 0, 0x01 if platform else 0)
    return gre + hdr + (b"\0" * 8 if platform else b"") + bytes(Ether() / INNER)


@pytest.mark.parametrize("gre", [_erspan2(), _erspan3(False), _erspan3(True)])
def test_erspan_types_two_and_three(gre: bytes) -> None:
    f = bytes(Ether() / IP(src=A, dst=B, proto=47) / Raw(gre))
    res = _dec(1, f)
    assert res[1] == _ip4("10.9.8.7") and res[4:6] == (1234, 443) and TUNNELS[res[10]] == "erspan"


def test_vxlan_is_decapsulated() -> None:
    f = bytes(
        Ether() / IP(src=A, dst=B) / UDP(sport=50000, dport=4789) / VXLAN(vni=9) / Ether() / INNER
    )
    res = _dec(1, f)
    assert res[4:6] == (1234, 443) and TUNNELS[res[10]] == "vxlan"


def test_pptp_enhanced_gre_stays_a_gre_flow() -> None:
    gre = GRE(version=1, proto=0x880B, key_present=1)
    f = bytes(Ether() / IP(src=A, dst=B) / gre / Raw(b"\xff\x03" + b"x" * 20))
    res = _dec(1, f)
    assert (res[1], res[3], res[4], res[5], TUNNELS[res[10]]) == (_ip4(A), 47, 0, 0, "")


def test_ip_in_ip_mpls_and_pppoe() -> None:
    ipip = bytes(Ether() / IP(src=A, dst=B) / INNER)
    mpls = bytes(Ether(type=0x8847)) + struct.pack("!I", (16 << 12) | 0x100 | 64) + bytes(INNER)
    pppoe = bytes(Ether() / PPPoE(sessionid=1) / PPP(proto=0x0021) / INNER)
    for f, tun in ((ipip, "ipip"), (mpls, "mpls"), (pppoe, "pppoe")):
        res = _dec(1, f)
        assert res[4:6] == (1234, 443) and TUNNELS[res[10]] == tun


def test_icmp_echo_uses_type_and_paired_type_as_ports() -> None:
    req = _dec(101, bytes(IP(src=A, dst=B) / ICMP(type=8)))
    rep = _dec(101, bytes(IP(src=B, dst=A) / ICMP(type=0)))
    unreach = _dec(101, bytes(IP(src=B, dst=A) / ICMP(type=3, code=3)))
    assert req[4:6] == (8, 0) and rep[4:6] == (0, 8) and unreach[4:6] == (3, 3)


@pytest.mark.parametrize(
    "frame,reason",
    [
        (b"\x00" * 10, "truncated_link"),
        (bytes(Ether() / IP(src=A, dst=B))[:20], "truncated_ip"),
        (bytes(Ether(type=0x0806) / (b"\0" * 28)), "non_ip"),
        (bytes(Ether() / IP(src=A, dst=B) / TCP())[:40], "truncated_tcp"),
    ],
)
def test_bad_frames_give_a_reason(frame: bytes, reason: str) -> None:
    assert _dec(1, frame) == reason


def test_unknown_linktype_is_a_reason() -> None:
    assert _dec(9999, b"\x00" * 64) == "unknown_linktype"
