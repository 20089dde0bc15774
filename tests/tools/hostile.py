"""Builders for hostile captures: plain UDP/TCP frames made with struct (fast enough for a
million packets), pcap files, and 802.11 frames with forged headers."""

from __future__ import annotations

import struct
from collections.abc import Iterable

ETH = b"\x02\x00\x00\x00\x00\x05\x02\x00\x00\x00\x00\x0c\x08\x00"
LLC_SNAP_IP = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"


def ipv4(src: int, dst: int, proto: int, l4: bytes) -> bytes:
    """An IPv4 header (checksum left zero: the sensor does not verify it) and its payload."""
    hdr = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src, dst)
    return hdr + l4


def udp(src: int, sport: int, dst: int, dport: int, payload: bytes = b"") -> bytes:
    """An IPv4 UDP packet, no link layer."""
    return ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def tcp(
    src: int, sport: int, dst: int, dport: int, flags: int, seq: int = 0, pl: bytes = b""
) -> bytes:
    """An IPv4 TCP segment, no link layer."""
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0)
    return ipv4(src, dst, 6, hdr + pl)


def pcap(
    frames: Iterable[tuple[float, bytes]],
    linktype: int = 1,
    snaplen: int = 65535,
    wire: int | None = None,
) -> bytes:
    """A little-endian microsecond pcap of (time, frame) pairs."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)]
    for t, f in frames:
        sec, usec = int(t), round((t % 1) * 1e6)
        out.append(struct.pack("<IIII", sec, usec, len(f), len(f) if wire is None else wire) + f)
    return b"".join(out)


def radiotap_data(ip: bytes) -> bytes:
    """An open-network 802.11 data frame (to the AP) under a minimal radiotap header."""
    dot11 = b"\x08\x01\x00\x00" + b"\x02\x00\x00\x00\x00\x01" * 3 + b"\x00\x00"
    return struct.pack("<BBHI", 0, 0, 8, 0) + dot11 + LLC_SNAP_IP + ip


def _mgmt(subtype: int, bssid: bytes, body: bytes) -> bytes:
    hdr = bytes([subtype << 4, 0]) + b"\0\0" + b"\xff" * 6 + bssid + bssid + b"\0\0"
    return struct.pack("<BBHI", 0, 0, 8, 0) + hdr + body


def beacon(bssid: bytes, ssid: bytes) -> bytes:
    """A radiotap beacon of an open network (what beacon-flood tools send)."""
    fixed = b"\0" * 8 + struct.pack("<HH", 100, 0x0001)
    return _mgmt(8, bssid, fixed + bytes([0, len(ssid)]) + ssid + b"\x03\x01\x06")


def deauth(bssid: bytes) -> bytes:
    """A radiotap deauthentication frame (reason 7)."""
    return _mgmt(12, bssid, b"\x07\x00")
