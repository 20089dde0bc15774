"""pcapng block walker: sections, interfaces with their own link type and time resolution.

Two paths over the same blocks. The fast one takes runs of Enhanced Packet Blocks as the
pcap reader takes records: a tight loop collects the block offsets (type and length only),
then numpy reads every header of the run at once and checks it (length, trailer, interface,
captured length, wire length, time range); the run is cut before the first block that fails
any check. Everything else (section and interface blocks, simple and obsolete packet blocks,
damaged blocks, odd timestamp resolutions) goes one block at a time through the exact path,
which counts and skips damage. A file where short runs keep failing the fast path (damage,
mixed blocks) backs off to the exact path for a doubling number of blocks, so hostile input
costs no more than before. Frames of consecutive blocks with the same link type are handed
on as one FrameBatch.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensor.capture.base import Buffer, FrameBatch
from sensor.native import lib as native

__all__ = ["PcapngWalker"]

SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
MAX_BLOCK = 16 << 20
MAX_WIRE = 0x40000  # as pcapfile.MAX_WIRE (that module imports this one)
_RESYNC_ARRAY = np.array([IDB, PB, SPB, 4, 5, EPB], dtype=np.uint32)
"""Block types a damaged region is skipped to (SHB is not: it needs its byte-order magic)."""
_OPT_TSRESOL, _OPT_TSOFFSET = 9, 14
_EPB_COLS = np.arange(28, dtype=np.int64)
"""Bytes of an EPB's header: type, length, interface, time high, time low, captured, wire."""
_U32_COLS = np.arange(4, dtype=np.int64)
_MIN_RUN = 16
"""A fast run shorter than this (and not cut by the end of the data) backs off."""
_MAX_BACKOFF = 4096
_I64_MAX = (1 << 63) - 1

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    units: int  # timestamp units per second
    offset_ns: int


class PcapngWalker:
    """Stateful across reads: the section's byte order and interfaces carry over."""

    def __init__(self, name: str, error: Callable[[str, str], None]) -> None:
        self.name = name
        self.frames = 0
        self.stopped = False
        self.bytes_lost = 0
        """Bytes skipped over damaged blocks."""
        self._skipping = False
        self._error = error
        self._endian = "<"
        self._ifaces: list[_Interface] = []
        self._linktype = -1
        self._rows: list[tuple[int, int, int, int]] = []
        self._parts: list[tuple[I64, I64, I64, I64]] = []
        """Frames of fast runs (offset, captured, wire, time columns), before `_rows`."""
        self._last_ts = 0
        self._fast_ifaces: tuple[int, int, npt.NDArray[np.bool_], I64, I64, I64, I64] | None
        self._fast_ifaces = None
        """Per interface, for the fast path: usable, ns per unit, offset, time range."""
        self._slow_left = 0
        self._backoff = 1

    def walk(self, data: Buffer, final: bool) -> Generator[FrameBatch, None, int]:
        """Yield batches for the whole blocks in `data`; return where the unread rest starts."""
        pos, n = 0, len(data)
        while pos + 12 <= n and not self.stopped:
            if self._slow_left:
                self._slow_left -= 1
            elif self._ifaces:
                pos = self._fast(data, pos, n)
                if pos + 12 > n:
                    break
            btype = struct.unpack_from(self._endian + "I", data, pos)[0]
            if btype == SHB and not self._section(data, pos):
                break
            blen = struct.unpack_from(self._endian + "I", data, pos + 4)[0]
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                nxt = self._resync(data, pos, final)
                if nxt is None:
                    break
                pos = nxt
                continue
            if pos + blen > n:
                break
            if struct.unpack_from(self._endian + "I", data, pos + blen - 4)[0] != blen:
                nxt = self._resync(data, pos, final)  # length field and trailer disagree
                if nxt is None:
                    break
                pos = nxt
                continue
            self._skipping = False
            batch = self._block(data, pos, btype, blen)
            if batch is not None:
                yield batch
            pos += blen
        batch = self._flush(data)
        if batch is not None:
            yield batch
        return pos

    def _fast(self, data: Buffer, pos: int, n: int) -> int:
        """Take the run of clean EPBs at `pos` in bulk; return where it ends."""
        starts, p = _epb_run(data, pos, self._endian)
        if not len(starts):
            self._back_off(p, n)
            return pos
        u8 = np.frombuffer(data, dtype=np.uint8)
        hdr = u8[starts[:, None] + _EPB_COLS].view(self._endian + "u4").astype(np.int64)
        blen = hdr[:, 1]
        ok = (blen >= 32) & (blen % 4 == 0) & (blen <= MAX_BLOCK) & (starts + blen <= n)
        ends = np.where(ok, starts + blen - 4, 0)
        ok &= u8[ends[:, None] + _U32_COLS].view(self._endian + "u4")[:, 0] == blen
        usable, nif, mul, off, lo, hi = self._iface_table()
        iface = hdr[:, 2]
        ok &= iface < nif
        iface = np.minimum(iface, nif - 1)
        ok &= usable[iface]
        cap, wire = hdr[:, 5], hdr[:, 6]
        ok &= (cap <= blen - 32) & (wire <= MAX_WIRE)
        raw = hdr[:, 3] << 32 | hdr[:, 4]  # int64: a raw time from 2^63 on is negative
        ok &= (raw >= lo[iface]) & (raw <= hi[iface])
        bad = np.flatnonzero(~ok)
        k = int(bad[0]) if len(bad) else len(starts)
        if k == 0:
            self._back_off(pos, n)
            return pos
        end = int(starts[k]) if k < len(starts) else p
        if k < _MIN_RUN and end + 32 <= n:
            self._back_off(end, n)
        else:
            self._backoff = 1
        self._skipping = False
        ifc = iface[:k]
        ts = raw[:k] * mul[ifc] + off[ifc]
        cap = cap[:k]
        self._seal()
        self._parts.append((starts[:k] + 28, cap, np.maximum(wire[:k], cap), ts))
        self._last_ts = int(ts[-1])
        self.frames += k
        return end

    def _back_off(self, pos: int, n: int) -> None:
        """The fast path found (almost) nothing to take: use the exact path for a while."""
        if pos + 32 <= n:
            self._slow_left = self._backoff
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)

    def _iface_table(
        self,
    ) -> tuple[npt.NDArray[np.bool_], int, I64, I64, I64, I64]:
        """Per interface of the section: whether the fast path can take its packets (the
        current link type, a resolution that divides a second into whole nanoseconds), ns
        per time unit, time offset, and the raw times that give 0 <= ns < 2^63."""
        t = self._fast_ifaces
        if t is not None and t[0] == len(self._ifaces) and t[1] == self._linktype:
            return t[2], len(self._ifaces), t[3], t[4], t[5], t[6]
        usable, mul, off, lo, hi = [], [], [], [], []
        for i in self._ifaces:
            m = 1_000_000_000 // i.units if 1_000_000_000 % i.units == 0 else 0
            sane = -(1 << 62) < i.offset_ns < 1 << 62
            usable.append(i.linktype == self._linktype and m > 0 and sane)
            m, o = (m, i.offset_ns) if m and sane else (1, 0)
            mul.append(m)
            off.append(o)
            lo.append(max(-(o // m), 0))  # ceil(-offset / m)
            hi.append(min(max((_I64_MAX - o) // m, -1), _I64_MAX))
        m_, o_, lo_, hi_ = (np.array(v, dtype=np.int64) for v in (mul, off, lo, hi))
        flags = np.array(usable, dtype=np.bool_)
        self._fast_ifaces = (len(self._ifaces), self._linktype, flags, m_, o_, lo_, hi_)
        return flags, len(self._ifaces), m_, o_, lo_, hi_

    def _resync(self, data: Buffer, pos: int, final: bool) -> int | None:
        """Skip a damaged block: the next offset that holds a whole, well-formed block (its
        length repeated in its trailer), so only the damaged part of a file is lost.

        None: no such block in `data`. Then the walk stops at the end of the file, or waits
        for more data keeping at most one block's worth, so garbage cannot grow the buffer.
        """
        if not self._skipping:
            self._error("corrupt_block", f"corrupt pcapng block at byte {pos}: skipped")
            self._skipping = True
        e, n = self._endian, len(data)
        words = np.frombuffer(data, dtype=e + "u4", count=(n - pos) // 4, offset=pos)
        for k in np.flatnonzero(np.isin(words[1:-2], _RESYNC_ARRAY)).tolist():
            p = pos + 4 * (k + 1)
            blen = int(words[k + 2])
            if blen < 12 or blen % 4 or blen > MAX_BLOCK or p + blen > n:
                continue
            if struct.unpack_from(e + "I", data, p + blen - 4)[0] == blen:
                self.bytes_lost += p - pos
                return p
        if final:
            self.bytes_lost += n - pos
            self.stopped = True
            return None
        keep = (n - MAX_BLOCK) & ~3 if n - pos > 2 * MAX_BLOCK else pos
        keep = pos + ((keep - pos) & ~3)
        self.bytes_lost += keep - pos
        return None if keep == pos else keep

    def _section(self, data: Buffer, pos: int) -> bool:
        if pos + 12 > len(data):
            return False
        bom = data[pos + 8 : pos + 12]
        if bom == b"\x4d\x3c\x2b\x1a":
            self._endian = "<"
        elif bom == b"\x1a\x2b\x3c\x4d":
            self._endian = ">"
        else:
            self._error("corrupt_record", "pcapng section header with bad byte-order magic")
            self.stopped = True
            return False
        return True

    def _block(self, data: Buffer, pos: int, btype: int, blen: int) -> FrameBatch | None:
        e = self._endian
        if btype == SHB:
            flushed = self._flush(data)
            self._ifaces = []
            self._fast_ifaces = None
            return flushed
        if btype == IDB:
            self._fast_ifaces = None
            self._interface(data, pos, blen)
            return None
        if btype == EPB and blen >= 32:
            iface, hi, lo, cap, wire = struct.unpack_from(e + "IIIII", data, pos + 8)
            return self._frame(data, iface, hi << 32 | lo, pos + 28, cap, wire, blen - 32)
        if btype == SPB and blen >= 16:
            wire = struct.unpack_from(e + "I", data, pos + 8)[0]
            if not self._ifaces:
                self._error("bad_interface", "simple packet block before any interface")
                return None
            cap = min(wire, blen - 16, self._ifaces[0].snaplen or wire)
            return self._frame(data, 0, None, pos + 12, cap, wire, blen - 16)
        if btype == PB and blen >= 32:
            iface, _, hi, lo, cap, wire = struct.unpack_from(e + "HHIIII", data, pos + 8)
            return self._frame(data, iface, hi << 32 | lo, pos + 28, cap, wire, blen - 32)
        return None  # name resolution, statistics, custom blocks: nothing for flows

    def _interface(self, data: Buffer, pos: int, blen: int) -> None:
        e = self._endian
        if blen < 20:  # too short for link type and snaplen: packets on it will be counted
            self._error("bad_interface", "interface block too short")
            self._ifaces.append(_Interface(-1, 0, 1_000_000, 0))
            return
        linktype, _, snaplen = struct.unpack_from(e + "HHI", data, pos + 8)
        units, offset = 1_000_000, 0
        opt, end = pos + 16, pos + blen - 4
        while opt + 4 <= end:
            code, olen = struct.unpack_from(e + "HH", data, opt)
            val = opt + 4
            if code == 0 or val + olen > end:  # an option cut by its block: ignore the rest
                break
            if code == _OPT_TSRESOL and olen >= 1:
                r = data[val]
                units = 2 ** (r & 0x7F) if r & 0x80 else 10**r
            elif code == _OPT_TSOFFSET and olen >= 8:
                offset = struct.unpack_from(e + "q", data, val)[0]
            opt = val + ((olen + 3) & ~3)
        self._ifaces.append(_Interface(linktype, snaplen, units or 1_000_000, offset * 10**9))

    def _frame(
        self,
        data: Buffer,
        iface: int,
        raw_ts: int | None,
        start: int,
        cap: int,
        wire: int,
        room: int,
    ) -> FrameBatch | None:
        if iface >= len(self._ifaces):
            self._error("bad_interface", f"packet for undeclared interface {iface}")
            return None
        if cap > room:
            self._error("bad_length", "captured length larger than its block")
            cap = max(room, 0)
        info = self._ifaces[iface]
        flushed = None
        if info.linktype != self._linktype:
            flushed = self._flush(data)
            self._linktype = info.linktype
        prev = self._last_ts
        ts = prev if raw_ts is None else raw_ts * 1_000_000_000 // info.units + info.offset_ns
        if not 0 <= ts < 1 << 63:
            self._error("bad_timestamp", "timestamp out of range; using the previous one")
            ts = prev
        if wire > MAX_WIRE:  # forged (0xFFFFFFFF): count the bytes captured, not 4 GB
            self._error("bad_wire_length", "wire length past belief; using the captured one")
            wire = cap
        self._rows.append((start, cap, max(wire, cap), ts))
        self._last_ts = ts
        self.frames += 1
        return flushed

    def _seal(self) -> None:
        """Frames of the exact path so far become a part, ahead of a fast run's."""
        if self._rows:
            cols = np.array(self._rows, dtype=np.int64).reshape(-1, 4)
            self._rows = []
            self._parts.append((cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3]))

    def _flush(self, data: Buffer) -> FrameBatch | None:
        self._seal()
        parts, self._parts = self._parts, []
        if not parts:
            return None
        if len(parts) == 1:
            o, c, w, t = (np.ascontiguousarray(a) for a in parts[0])
        else:
            o, c, w, t = (np.concatenate(col) for col in zip(*parts, strict=True))
        return FrameBatch(self._linktype, data, o, c, w, t)


def _epb_run(data: Buffer, pos: int, endian: str) -> tuple[npt.NDArray[np.int64], int]:
    """Offsets of the run of EPBs at `pos` (headers not yet checked) and where it stops:
    the compiled walk where it is built, else `_epb_run_python`."""
    if native is None:
        return _epb_run_python(data, pos, endian)
    offs, end = native.epb_run(data, pos, endian == ">", EPB)
    return np.frombuffer(offs, dtype=np.int64), end


def _epb_run_python(data: Buffer, pos: int, endian: str) -> tuple[npt.NDArray[np.int64], int]:
    """The reference: one struct unpack per block, the one per-packet Python step of
    pcapng replay."""
    unpack = struct.Struct(endian + "II").unpack_from
    offs: list[int] = []
    append = offs.append
    p, stop = pos, len(data) - 32  # a whole EPB without data is 32 bytes
    while p <= stop:
        btype, blen = unpack(data, p)
        if btype != EPB:
            break
        append(p)
        p += blen or 32  # a zero length is damage: the caller's checks cut the run there
    return np.array(offs, dtype=np.int64), p
