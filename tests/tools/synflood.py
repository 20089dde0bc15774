"""Large synthetic captures built with numpy, fast enough for a million packets in a test:
a SYN flood (one new flow per packet) and steady UDP conversations, as classic pcap.

Every frame is 60 bytes (Ethernet, IPv4 with a valid header checksum, TCP or UDP), so the
records are one fixed-size numpy structure. Addresses are given by the caller (a lab subnet).
"""

from __future__ import annotations

import ipaddress
import struct

import numpy as np
import numpy.typing as npt

__all__ = ["FRAME", "conversations", "pcap_header", "syn_flood"]

FRAME = 60
_REC = np.dtype([("sec", "<u4"), ("usec", "<u4"), ("caplen", "<u4"), ("wirelen", "<u4"),
                 ("frame", "u1", (FRAME,))])  # fmt: skip
U32 = npt.NDArray[np.uint32]


def pcap_header() -> bytes:
    """Classic little-endian microsecond pcap, Ethernet."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _ip(addr: str) -> int:
    return int(ipaddress.IPv4Address(addr))


def _records(n: int, t0: float, pps: float, dmac: bytes) -> npt.NDArray[np.void]:
    rec = np.zeros(n, dtype=_REC)
    t_us = np.int64(round(t0 * 1e6)) + (np.arange(n, dtype=np.int64) * 1_000_000) // int(pps)
    rec["sec"], rec["usec"] = t_us // 1_000_000, t_us % 1_000_000
    rec["caplen"] = rec["wirelen"] = FRAME
    f = rec["frame"]
    f[:, 0:6] = np.frombuffer(dmac, np.uint8)
    f[:, 6:12] = np.frombuffer(b"\x02\x00\x00\x00\x0f\x01", np.uint8)
    f[:, 12:14] = (0x08, 0x00)
    f[:, 14] = 0x45
    f[:, 22] = 64  # TTL
    return rec


def _put16(f: npt.NDArray[np.uint8], at: int, v: npt.ArrayLike) -> None:
    v = np.asarray(v, dtype=np.uint32)
    f[:, at], f[:, at + 1] = (v >> 8) & 0xFF, v & 0xFF


def _put32(f: npt.NDArray[np.uint8], at: int, v: U32) -> None:
    for k in range(4):
        f[:, at + k] = (v >> (24 - 8 * k)) & 0xFF


def _ipv4(f: npt.NDArray[np.uint8], proto: int, length: int, src: U32, dst: U32) -> None:
    _put16(f, 16, length)
    f[:, 23] = proto
    _put32(f, 26, src)
    _put32(f, 30, dst)
    words = f[:, 14:34].astype(np.uint32).reshape(-1, 10, 2)
    total = (words[:, :, 0] << 8 | words[:, :, 1]).sum(axis=1)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    _put16(f, 24, ~total & 0xFFFF)


def syn_flood(
    n: int, net: str, dst: str, *, t0: float, pps: float, dmac: bytes, seed: int = 13
) -> bytes:
    """`n` SYNs from random hosts of the /24 `net` (e.g. '10.231.7.0') and random ports to
    `dst` port 443: about `n` new flows, never answered. Records only (no file header)."""
    rnd = np.random.default_rng(seed)
    rec = _records(n, t0, pps, dmac)
    f = rec["frame"]
    base = _ip(net) & 0xFFFFFF00
    src = (base | rnd.integers(3, 255, n, dtype=np.uint32)).astype(np.uint32)
    _ipv4(f, 6, 40, src, np.full(n, _ip(dst), np.uint32))
    _put16(f, 34, rnd.integers(1024, 65536, n))
    _put16(f, 36, 443)
    _put32(f, 38, rnd.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32))
    f[:, 46] = 5 << 4
    f[:, 47] = 0x02  # SYN
    _put16(f, 48, 65535)
    return rec.tobytes()


def conversations(
    n: int, flows: int, src: str, dst: str, *, t0: float, pps: float, dmac: bytes
) -> bytes:
    """`n` UDP packets of `flows` conversations from `src` (ports 20000+) to `dst` port 7000,
    round robin (each flow sends every `flows`-th packet). Records only."""
    rec = _records(n, t0, pps, dmac)
    f = rec["frame"]
    _ipv4(f, 17, 46, np.full(n, _ip(src), np.uint32), np.full(n, _ip(dst), np.uint32))
    _put16(f, 34, 20000 + np.arange(n) % flows)
    _put16(f, 36, 7000)
    _put16(f, 38, 26)
    f[:, 42:60] = np.frombuffer(b"steady-traffic-60b", np.uint8)
    return rec.tobytes()
