"""pcapng block walker: sections, interfaces with their own link type and time resolution.

pcapng files are mostly small and mixed (several interfaces and link types in one file), so a
per-block Python walk is fine here; frames of consecutive blocks with the same link type are
still handed on as one FrameBatch.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from sensor.capture.base import FrameBatch

__all__ = ["PcapngWalker"]

SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
MAX_BLOCK = 16 << 20
MAX_WIRE = 0x40000  # as pcapfile.MAX_WIRE (that module imports this one)
_RESYNC_ARRAY = np.array([IDB, PB, SPB, 4, 5, EPB], dtype=np.uint32)
"""Block types a damaged region is skipped to (SHB is not: it needs its byte-order magic)."""
_OPT_TSRESOL, _OPT_TSOFFSET = 9, 14


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

    def walk(self, data: bytes, final: bool) -> Generator[FrameBatch, None, int]:
        """Yield batches for the whole blocks in `data`; return where the unread rest starts."""
        pos, n = 0, len(data)
        while pos + 12 <= n and not self.stopped:
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

    def _resync(self, data: bytes, pos: int, final: bool) -> int | None:
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

    def _section(self, data: bytes, pos: int) -> bool:
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

    def _block(self, data: bytes, pos: int, btype: int, blen: int) -> FrameBatch | None:
        e = self._endian
        if btype == SHB:
            flushed = self._flush(data)
            self._ifaces = []
            return flushed
        if btype == IDB:
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

    def _interface(self, data: bytes, pos: int, blen: int) -> None:
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
        data: bytes,
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
        prev = self._rows[-1][3] if self._rows else 0
        ts = prev if raw_ts is None else raw_ts * 1_000_000_000 // info.units + info.offset_ns
        if not 0 <= ts < 1 << 63:
            self._error("bad_timestamp", "timestamp out of range; using the previous one")
            ts = prev
        if wire > MAX_WIRE:  # forged (0xFFFFFFFF): count the bytes captured, not 4 GB
            self._error("bad_wire_length", "wire length past belief; using the captured one")
            wire = cap
        self._rows.append((start, cap, max(wire, cap), ts))
        self.frames += 1
        return flushed

    def _flush(self, data: bytes) -> FrameBatch | None:
        if not self._rows:
            return None
        cols = np.array(self._rows, dtype=np.int64).reshape(-1, 4)
        self._rows = []
        return FrameBatch(
            self._linktype,
            data,
            cols[:, 0].copy(),
            cols[:, 1].copy(),
            cols[:, 2].copy(),
            cols[:, 3].copy(),
        )
