"""Damaged and hostile capture files: a damaged part costs only itself, bombs stop early."""

from __future__ import annotations

import gzip
import random
import struct
import zlib
from pathlib import Path

import numpy as np

from sensor.capture.pcapfile import open_capture
from tests.tools.hostile import ETH, pcap, udp


def _frames(path: Path) -> tuple[list[bytes], object]:
    src = open_capture(path)
    out = []
    for b in src.batches():
        for o, c in zip(b.offsets.tolist(), b.caplens.tolist(), strict=True):
            out.append(bytes(b.data[o : o + c]))
    src.close()
    return out, src.stats


def _traffic(n: int, seed: int = 1) -> list[tuple[float, bytes]]:
    """UDP frames with random payloads, so that gzip cannot squeeze them much."""
    rnd = random.Random(seed)
    return [
        (1_700_000_000 + i / 100, ETH + udp(0x0A000001, 40000 + i % 500, 0x0A000002, 53,
                                             rnd.randbytes(rnd.randrange(20, 600))))
        for i in range(n)
    ]  # fmt: skip


def _whole_records(raw: bytes) -> list[bytes]:
    """Frames of a classic pcap, read independently of the sensor (stops at a cut)."""
    out, pos = [], 24
    while pos + 16 <= len(raw):
        cap = struct.unpack_from("<I", raw, pos + 8)[0]
        if pos + 16 + cap > len(raw):
            break
        out.append(raw[pos + 16 : pos + 16 + cap])
        pos += 16 + cap
    return out


def test_first_100k_of_a_gzip_capture_gives_every_whole_packet_in_it(tmp_path: Path) -> None:
    whole = gzip.compress(pcap(_traffic(2000)))
    assert len(whole) > 300_000
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(whole[:100_000])
    inflated = zlib.decompressobj(wbits=31).decompress(whole[:100_000])
    expected = _whole_records(inflated)
    got, stats = _frames(cut)
    assert len(expected) > 150
    assert got == expected
    assert stats.errors["truncated_gzip"] == 1  # type: ignore[attr-defined]
    assert stats.errors["truncated_record"] == 1  # type: ignore[attr-defined]
    assert stats.bytes_lost > 0  # type: ignore[attr-defined]


def test_gzip_damaged_in_the_middle_keeps_what_came_before(tmp_path: Path) -> None:
    whole = bytearray(gzip.compress(pcap(_traffic(2000))))
    mid = len(whole) // 2
    whole[mid : mid + 64] = b"\xff" * 64
    p = tmp_path / "bad.pcap.gz"
    p.write_bytes(bytes(whole))
    got, stats = _frames(p)
    assert len(got) > 500
    assert got == [f for _, f in _traffic(2000)][: len(got)]
    assert stats.errors["corrupt_gzip"] == 1  # type: ignore[attr-defined]


def test_forged_snaplen_does_not_lift_the_record_bound(tmp_path: Path) -> None:
    frames = _traffic(10)
    raw = bytearray(pcap(frames, snaplen=1 << 31))
    raw += struct.pack("<IIII", 1_700_000_001, 0, 0x7FFF0000, 60)  # a 2 GB "record"
    p = tmp_path / "forged.pcap.gz"
    p.write_bytes(gzip.compress(bytes(raw) + b"\0" * 4096))
    got, stats = _frames(p)
    assert got == [f for _, f in frames]
    assert stats.errors["corrupt_record"] == 1  # type: ignore[attr-defined]


def test_a_zero_bomb_stops_at_the_expansion_limit(tmp_path: Path) -> None:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = comp.compress(header) + b"".join(comp.compress(b"\0" * (1 << 20)) for _ in range(256))
    p = tmp_path / "zeros.pcap.gz"
    p.write_bytes(body + comp.flush())  # 256 MB of zeros in ~260 kB: 16.8 M empty frames
    src = open_capture(p)
    n = sum(len(b) for b in src.batches())
    assert src.stats.errors["decompression_limit"] == 1
    assert n <= (16 << 20) // 16 + (8 << 20) // 16  # the floor plus one block at most
    assert src.stats.bytes_lost > 0


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = _block(1, struct.pack("<HHI", 1, 0, 65535))


def _epb(ts: int, data: bytes) -> bytes:
    hdr = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return _block(6, hdr + data)


def test_a_bad_pcapng_block_costs_only_itself(tmp_path: Path) -> None:
    frames = [f for _, f in _traffic(40)]
    bad = bytearray(_epb(99, frames[0]))
    bad[4:8] = struct.pack("<I", 0xFFFFFFF1)  # impossible block length
    data = SHB + IDB + b"".join(_epb(i, f) for i, f in enumerate(frames[:20]))
    data += bytes(bad) + b"".join(_epb(i, f) for i, f in enumerate(frames[20:]))
    p = tmp_path / "x.pcapng"
    p.write_bytes(data)
    got, stats = _frames(p)
    assert got == frames
    assert stats.errors["corrupt_block"] == 1  # type: ignore[attr-defined]
    assert stats.bytes_lost == len(bad)  # type: ignore[attr-defined]


def test_pcapng_interface_block_cut_short_is_counted_not_raised(tmp_path: Path) -> None:
    frame = _traffic(1)[0][1]
    cut_idb = struct.pack("<II", 1, 12) + struct.pack("<I", 12)  # no link type, no snaplen
    opt_cut = _block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HH", 14, 8))
    p = tmp_path / "x.pcapng"
    p.write_bytes(SHB + IDB + _epb(1, frame) + opt_cut + _epb(2, frame) + cut_idb)
    got, stats = _frames(p)
    assert got == [frame, frame]
    assert stats.errors["bad_interface"] == 1  # type: ignore[attr-defined]


def test_many_frames_stay_inside_their_buffer_after_resync(tmp_path: Path) -> None:
    frames = [f for _, f in _traffic(300)]
    parts = [SHB, IDB] + [_epb(i, f) for i, f in enumerate(frames)]
    rnd = random.Random(7)
    for k in rnd.sample(range(2, len(parts)), 10):
        parts[k] = b"\x06\0\0\0" + rnd.randbytes(len(parts[k]) - 4)  # garbage, EPB-looking
    p = tmp_path / "x.pcapng"
    p.write_bytes(b"".join(parts))
    src = open_capture(p, block_bytes=4096)
    n = 0
    for b in src.batches():
        assert np.all(b.offsets + b.caplens <= len(b.data))
        n += len(b)
    assert n == 290


def test_a_forged_wire_length_counts_as_the_captured_one(tmp_path: Path) -> None:
    frame = _traffic(1)[0][1]
    p = tmp_path / "x.pcap"
    p.write_bytes(pcap([(1.0, frame), (2.0, frame)], wire=0xFFFFFFFF))
    src = open_capture(p)
    wires = [int(w) for b in src.batches() for w in b.wirelens]
    assert wires == [len(frame)] * 2
    assert src.stats.errors["bad_wire_length"] == 2
    ng = tmp_path / "x.pcapng"
    epb = struct.pack("<IIIII", 0, 0, 1, len(frame), 0xFFFFFFFF) + frame
    ng.write_bytes(SHB + IDB + _block(6, epb))
    src = open_capture(ng)
    assert [int(w) for b in src.batches() for w in b.wirelens] == [len(frame)]
