"""DTLS: the ClientHello of a UDP flow gives the record its server name, on its own (a VPN's
DTLS channel) and after WebRTC's STUN checks on the same flow (STUN hands it over)."""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.utils import wrpcap

from sensor.extract.dtls import dtls_client_hello
from tests.tools.synth import client_hello, udp_exchange

C, S = "10.20.1.11", "198.51.100.30"


def _dtls(sni: str, cookie: bytes = b"") -> bytes:
    """A DTLS 1.2 record with the ClientHello a browser-like client sends for `sni`."""
    tls = client_hello(sni, versions=(0x0303,))
    hs = tls[5:]  # the handshake message: type, length, body
    body = hs[4:]
    p = 2 + 32
    p += 1 + body[p]
    body = body[:p] + bytes([len(cookie)]) + cookie + body[p:]
    n = len(body).to_bytes(3, "big")
    msg = b"\x01" + n + b"\x00\x00" + b"\x00\x00\x00" + n + body
    return b"\x16\xfe\xfd" + b"\x00\x00" + b"\x00" * 6 + struct.pack("!H", len(msg)) + msg


def _stun_binding(txid: bytes, response: bool = False) -> bytes:
    kind = 0x0101 if response else 0x0001
    return struct.pack("!HHI", kind, 0, 0x2112A442) + txid


def _row(replay, path: Path) -> dict:  # type: ignore[no-untyped-def,type-arg]
    db, _ = replay([path])
    cur = db.execute("SELECT * FROM flows WHERE proto = 'UDP'")
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    assert len(rows) == 1, rows
    return rows[0]


def test_the_tls_parser_reads_a_dtls_hello_once_its_header_and_cookie_are_gone() -> None:
    msg = dtls_client_hello(_dtls("vpn.example.net", cookie=b"\x11" * 20))
    assert msg is not None and msg[0] == 1
    assert dtls_client_hello(b"\x16\x03\x01" + b"\0" * 40) is None  # TLS, not DTLS


def test_dtls_hello_names_the_flow(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dtls.pcap"
    reply = b"\x16\xfe\xff" + b"\0" * 8 + b"\x00\x10" + b"\x03" + b"\0" * 15
    wrpcap(
        str(path),
        udp_exchange(
            (C, 50300), (S, 443), 1000.0, [(True, _dtls("vpn.example.net")), (False, reply)]
        ),
    )
    row = _row(replay, path)
    assert (row["app_proto"], row["tls_sni"], row["server_name"]) == (
        "dtls",
        "vpn.example.net",
        "vpn.example.net",
    )
    assert row["ja4"].startswith("d12")


def test_stun_hands_the_flow_to_dtls(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    ex = [
        (True, _stun_binding(b"a" * 12)),
        (False, _stun_binding(b"a" * 12, response=True)),
        (True, _dtls("media.example.net")),
    ]
    path = tmp_path / "webrtc.pcap"
    wrpcap(str(path), udp_exchange((C, 50301), (S, 3478), 1000.0, ex))
    row = _row(replay, path)
    assert (row["app_proto"], row["tls_sni"]) == ("stun/dtls", "media.example.net")
