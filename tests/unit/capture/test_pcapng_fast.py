"""The pcapng fast path (runs of EPBs checked in bulk, over the mapped file) gives exactly what
the exact per-block path over a stream gives: the same frames, times and link types, the same
counted damage and lost bytes, on clean files, on every kind of odd block, and on randomly
damaged files."""

from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import pytest

from sensor.capture.pcapfile import CaptureFile, open_capture
from sensor.capture.pcapng import PcapngWalker
from tests.unit.capture.test_pcapfile import FRAME, SHB, _block, _epb, _idb

Frame = tuple[int, int, int, int, bytes]


def _read(
    path: Path, exact: bool, block: int, mp: pytest.MonkeyPatch
) -> tuple[list[Frame], dict[str, int], int]:
    with mp.context() as m:
        if exact:  # the exact per-block path, over a stream read in copies (not mapped)
            m.setattr(PcapngWalker, "_fast", lambda self, data, pos, n: pos)
            m.setattr(CaptureFile, "_map", lambda self: None)
        src = open_capture(path, block_bytes=block)
        out = []
        for b in src.batches():
            for i in range(len(b)):
                o, c = int(b.offsets[i]), int(b.caplens[i])
                out.append(
                    (b.linktype, int(b.ts[i]), c, int(b.wirelens[i]), bytes(b.data[o : o + c]))
                )
        src.close()
    return out, dict(src.stats.errors), src.stats.bytes_lost


def _same(path: Path, mp: pytest.MonkeyPatch, block: int = 8 << 20) -> list[Frame]:
    fast = _read(path, False, block, mp)
    exact = _read(path, True, block, mp)
    assert fast == exact
    return fast[0]


def _run(n: int, iface: int = 0, t0: int = 1_000_000, step: int = 7) -> bytes:
    return b"".join(
        _epb(iface, t0 + i * step, FRAME[: 20 + i % 40] + bytes([i % 256])) for i in range(n)
    )


def test_clean_runs_and_every_odd_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spb = _block(3, struct.pack("<I", len(FRAME)) + FRAME)
    isb = _block(5, struct.pack("<IIII", 0, 0, 0, 0))
    data = (
        SHB
        + _idb(1)
        + _idb(101, tsresol=9)
        + _idb(1, tsresol=0x80 | 20, tsoffset=100)  # 2^-20 s: not whole ns, exact path
        + _idb(1, tsresol=3, tsoffset=-5)  # ms, a negative offset
        + _run(100)
        + _run(50, iface=1, t0=2_000_000_007)  # link type change inside a run
        + _run(30)
        + _run(20, iface=2, t0=3 << 20)
        + _run(40, iface=3, t0=10)
        + _epb(3, 2, FRAME)  # before the epoch after the offset: previous time, counted
        + spb
        + isb
        + _run(64)
        + _epb(0, 1 << 63, FRAME)  # past 2^63 ns
        + _epb(0, 5, FRAME, wire=0xFFFFFFFF)  # forged wire length
        + _epb(7, 5, FRAME)  # undeclared interface
        + _run(64)
        + SHB
        + _idb(101)
        + _run(33, t0=99)
    )
    p = tmp_path / "x.pcapng"
    p.write_bytes(data)
    got = _same(p, monkeypatch)
    assert len(got) == 100 + 50 + 30 + 20 + 40 + 1 + 1 + 64 + 1 + 1 + 64 + 33
    assert got[0][:2] == (1, 1_000_000_000) and got[100][:2] == (101, 2_000_000_007)
    for block in (997, 4096, 65536):  # blocks cut at every kind of place
        assert _same(p, monkeypatch, block) == got


def test_damaged_in_the_middle_of_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = SHB + _idb(1) + _run(400)
    rng = random.Random(7)
    for trial in range(60):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(SHB) + 20, len(raw))
            if trial % 3 == 0:
                raw[at & ~3 : (at & ~3) + 4] = b"\0\0\0\0"  # a zero length or type
            else:
                raw[at] = rng.randrange(256)
        p = tmp_path / f"d{trial}.pcapng"
        p.write_bytes(bytes(raw))
        _same(p, monkeypatch)
        _same(p, monkeypatch, block=rng.choice((1000, 4096, 20000)))


def test_a_file_of_blocks_the_fast_path_refuses_stays_linear(tmp_path: Path) -> None:
    n = 40_000
    bad = b"".join(_epb(9, i, FRAME) for i in range(n))  # every packet on an undeclared interface
    p = tmp_path / "x.pcapng"
    p.write_bytes(SHB + _idb(1) + bad + _run(1000))
    t0 = time.process_time()
    src = open_capture(p)
    frames = sum(len(b) for b in src.batches())
    took = time.process_time() - t0
    assert frames == 1000 and src.stats.errors["bad_interface"] == n
    assert took < 5.0, f"{took:.1f} s for {n} refused blocks"
