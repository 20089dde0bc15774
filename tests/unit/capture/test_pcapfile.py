"""Capture files: formats, byte orders, time resolutions, compression and damaged files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.capture.pcapfile import open_capture
from sensor.errors import CaptureError

FRAME = bytes.fromhex(
    "ffffffffffff02000000000108004500001c0001000040110000c0000201c000020200350035000800000000"
)


def pcap(
    endian: str = "<",
    nano: bool = False,
    records: list[tuple[int, int, bytes, int]] | None = None,
    linktype: int = 1,
    snaplen: int = 65535,
) -> bytes:
    """A classic pcap file; records are (sec, frac, frame, wirelen)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for sec, frac, data, wire in records or [(1, 2, FRAME, len(FRAME))]:
        out += struct.pack(endian + "IIII", sec, frac, len(data), wire) + data
    return out


def frames(path: Path) -> list[tuple[int, int, int, int, bytes]]:
    """(linktype, ts, caplen, wirelen, bytes) of every frame, and the reader's stats."""
    src = open_capture(path)
    out = []
    for b in src.batches():
        for i in range(len(b)):
            o, c = int(b.offsets[i]), int(b.caplens[i])
            out.append((b.linktype, int(b.ts[i]), c, int(b.wirelens[i]), bytes(b.data[o : o + c])))
    src.close()
    return out


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path: Path, endian: str, nano: bool) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(pcap(endian, nano, [(1700000000, 123456, FRAME, 60), (1700000001, 7, FRAME, 60)]))
    got = frames(p)
    scale = 1 if nano else 1000
    assert [g[1] for g in got] == [
        1700000000_000000000 + 123456 * scale,
        1700000001_000000000 + 7 * scale,
    ]
    assert all(g[4] == FRAME and g[3] == 60 for g in got)


def test_snaplen_cut_frames_keep_their_wire_length(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(pcap(records=[(1, 0, FRAME[:20], 1514)], snaplen=20))
    assert [(g[2], g[3]) for g in frames(p)] == [(20, 1514)]


def test_zero_length_record_is_a_frame(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(pcap(records=[(1, 0, b"", 0), (2, 0, FRAME, len(FRAME))]))
    assert [g[2] for g in frames(p)] == [0, len(FRAME)]


def test_truncated_last_record_is_counted_and_earlier_frames_kept(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(pcap(records=[(1, 0, FRAME, 60)] * 3)[:-10])
    src = open_capture(p)
    n = sum(len(b) for b in src.batches())
    assert n == 2 and src.stats.errors["truncated_record"] == 1


def test_corrupt_record_length_stops_cleanly(tmp_path: Path) -> None:
    good = pcap(records=[(1, 0, FRAME, 60)] * 2)
    bad = struct.pack("<IIII", 1, 0, 0x7FFFFFF0, 60) + FRAME
    p = tmp_path / "x.pcap"
    p.write_bytes(good + bad + pcap(records=[(1, 0, FRAME, 60)])[24:])
    src = open_capture(p)
    assert sum(len(b) for b in src.batches()) == 2
    assert src.stats.errors["corrupt_record"] == 1


def test_many_records_across_blocks(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(pcap(records=[(i, 0, FRAME, 60) for i in range(5000)]))
    src = open_capture(p, block_bytes=4096)
    ts = np.concatenate([b.ts for b in src.batches()])
    assert len(ts) == 5000 and np.all(np.diff(ts) == 1_000_000_000)


@pytest.mark.parametrize(
    "content,msg",
    [
        (b"", "empty file, not a capture"),
        (b"hello world, text", "not a pcap"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap file header"),
    ],
)
def test_not_a_capture_raises_one_line(tmp_path: Path, content: bytes, msg: str) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(content)
    with pytest.raises(CaptureError, match=msg) as e:
        list(open_capture(p).batches())
    assert "\n" not in str(e.value)


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    size = 12 + len(body)
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)


def _idb(linktype: int, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += struct.pack("<HHB3x", 9, 1, tsresol)
    if tsoffset:
        opts += struct.pack("<HHq", 14, 8, tsoffset)
    if opts:
        opts += b"\0\0\0\0"
    return _block(1, struct.pack("<HHI", linktype, 0, 65535) + opts)


def _epb(iface: int, ts: int, data: bytes, wire: int | None = None) -> bytes:
    return _block(
        6,
        struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), wire or len(data))
        + data,
    )


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def test_pcapng_interfaces_with_their_own_link_types_and_clocks(tmp_path: Path) -> None:
    raw_ip = FRAME[14:]
    data = (
        SHB
        + _idb(1)
        + _idb(101, tsresol=9)
        + _idb(1, tsresol=0x80 | 20, tsoffset=100)
        + _epb(0, 1_500_000, FRAME)
        + _epb(1, 2_000_000_007, raw_ip)
        + _epb(2, 3 << 20, FRAME)
        + _block(3, struct.pack("<I", len(FRAME)) + FRAME)
    )
    p = tmp_path / "x.pcapng"
    p.write_bytes(data)
    got = frames(p)
    assert [(g[0], g[1]) for g in got] == [
        (1, 1_500_000_000),
        (101, 2_000_000_007),
        (1, 103_000_000_000),
        (1, 103_000_000_000),
    ]
    assert got[1][4] == raw_ip and got[3][4] == FRAME


def test_pcapng_second_section_resets_interfaces(tmp_path: Path) -> None:
    data = SHB + _idb(1) + _epb(0, 1, FRAME) + SHB + _idb(101) + _epb(0, 2, FRAME[14:])
    p = tmp_path / "x.pcapng"
    p.write_bytes(data)
    assert [g[0] for g in frames(p)] == [1, 101]


def test_pcapng_packet_for_undeclared_interface_is_counted(tmp_path: Path) -> None:
    p = tmp_path / "x.pcapng"
    p.write_bytes(SHB + _idb(1) + _epb(3, 1, FRAME) + _epb(0, 2, FRAME))
    src = open_capture(p)
    assert sum(len(b) for b in src.batches()) == 1 and src.stats.errors["bad_interface"] == 1


@pytest.mark.parametrize("ng", [False, True])
def test_gzip_compressed_captures(tmp_path: Path, ng: bool) -> None:
    raw = SHB + _idb(1) + _epb(0, 5, FRAME) if ng else pcap()
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(raw))
    assert [g[4] for g in frames(p)] == [FRAME]


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=300),
    ng=st.booleans(),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
)
def test_damaged_files_raise_capture_error_or_read(
    tmp_path_factory, data: bytes, ng: bool, flips: list[tuple[int, int]]
) -> None:
    base = bytearray(
        (SHB + _idb(1) + _epb(0, 5, FRAME) * 3) if ng else pcap(records=[(1, 0, FRAME, 60)] * 3)
    )
    for at, val in flips:
        if at < len(base):
            base[at] = val
    p = tmp_path_factory.mktemp("f") / "x"
    p.write_bytes(bytes(base) + data)
    try:
        src = open_capture(p)
        for b in src.batches():
            assert np.all(b.offsets + b.caplens <= len(b.data))
    except CaptureError:
        pass
