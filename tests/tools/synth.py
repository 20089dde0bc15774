"""Builders for synthetic traffic: TCP sessions, UDP exchanges and TLS ClientHellos.

Used to make the bundled demo capture and exact cases for tests; every builder returns scapy
packets with timestamps set, so a capture is just `wrpcap(path, packets)`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

__all__ = ["client_hello", "tcp_session", "udp_exchange"]

MAC_C, MAC_S = "02:00:00:00:00:0c", "02:00:00:00:00:05"


def _ip(src: str, dst: str) -> Packet:
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


def _frame(t: float, pkt: Packet, from_client: bool) -> Packet:
    f = Ether(src=MAC_C if from_client else MAC_S, dst=MAC_S if from_client else MAC_C) / pkt
    f.time = t
    return f


def tcp_session(
    client: tuple[str, int],
    server: tuple[str, int],
    t: float,
    exchange: Sequence[tuple[bool, bytes]],
    gap: float = 0.01,
    close: bool = True,
) -> list[Packet]:
    """A whole TCP connection: handshake, (from_client, payload) segments, FIN exchange."""
    (cip, cport), (sip, sport) = client, server
    seq = {True: 1000, False: 5000}
    out: list[Packet] = []

    def seg(from_client: bool, flags: str, data: bytes = b"") -> None:
        nonlocal t
        src, dst = (cip, sip) if from_client else (sip, cip)
        sp, dp = (cport, sport) if from_client else (sport, cport)
        pkt = _ip(src, dst) / TCP(
            sport=sp, dport=dp, flags=flags, seq=seq[from_client], ack=seq[not from_client]
        )
        if data:
            pkt = pkt / Raw(data)
        out.append(_frame(t, pkt, from_client))
        seq[from_client] += len(data) + (1 if "S" in flags or "F" in flags else 0)
        t += gap

    seg(True, "S")
    seg(False, "SA")
    seg(True, "A")
    for from_client, data in exchange:
        seg(from_client, "PA", data)
    if close:
        seg(True, "FA")
        seg(False, "FA")
        seg(True, "A")
    return out


def udp_exchange(
    client: tuple[str, int],
    server: tuple[str, int],
    t: float,
    datagrams: Sequence[tuple[bool, bytes]],
    gap: float = 0.01,
) -> list[Packet]:
    """UDP datagrams between two endpoints, each (from_client, payload)."""
    (cip, cport), (sip, sport) = client, server
    out = []
    for i, (from_client, data) in enumerate(datagrams):
        src, dst = (cip, sip) if from_client else (sip, cip)
        sp, dp = (cport, sport) if from_client else (sport, cport)
        out.append(
            _frame(t + i * gap, _ip(src, dst) / UDP(sport=sp, dport=dp) / Raw(data), from_client)
        )
    return out


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def _vec16(items: Sequence[int]) -> bytes:
    body = b"".join(struct.pack("!H", i) for i in items)
    return struct.pack("!H", len(body)) + body


def client_hello(
    sni: str | None,
    alpn: Sequence[str] = ("h2", "http/1.1"),
    versions: Sequence[int] = (0x0304, 0x0303),
    grease: bool = True,
    key_share_bytes: int = 32,
    ech: bool = False,
) -> bytes:
    """A TLS record holding a ClientHello shaped like a current browser's.

    `key_share_bytes=1216` makes it as large as a post-quantum (X25519MLKEM768) hello, which
    no longer fits one TCP segment.
    """
    g = [0x0A0A] if grease else []
    ciphers = [*g, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]
    exts = b""
    if grease:
        exts += _ext(0x1A1A, b"")
    if sni is not None:
        name = sni.encode()
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        exts += _ext(0, struct.pack("!H", len(entry)) + entry)
    exts += _ext(23, b"") + _ext(0xFF01, b"\x00")
    exts += _ext(10, _vec16([*g, 0x11EC, 0x001D, 0x0017, 0x0018]))
    exts += _ext(11, b"\x01\x00")
    if alpn:
        protos = b"".join(bytes([len(a)]) + a.encode() for a in alpn)
        exts += _ext(16, struct.pack("!H", len(protos)) + protos)
    exts += _ext(13, _vec16([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]))
    share = b""
    if key_share_bytes > 32:  # a hybrid post-quantum share, sent beside a classic X25519 one
        share += struct.pack("!HH", 0x11EC, key_share_bytes) + b"\x42" * key_share_bytes
    share += struct.pack("!HH", 0x001D, 32) + b"\x43" * 32
    exts += _ext(51, struct.pack("!H", len(share)) + share)
    sv = b"".join(struct.pack("!H", v) for v in [*g, *versions])
    exts += _ext(43, bytes([len(sv)]) + sv)
    exts += _ext(45, b"\x01\x01")
    if ech:
        exts += _ext(
            0xFE0D, b"\x00\x00\x01\x00\x01\x2a\x00\x20" + b"\x33" * 32 + b"\x00\x10" + b"\x44" * 16
        )
    if grease:
        exts += _ext(0x2A2A, b"\x00")
    body = struct.pack("!H", 0x0303) + b"\x11" * 32 + b"\x20" + b"\x22" * 32
    body += _vec16(ciphers) + b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs
