"""Capture files: classic pcap (both byte orders, us/ns), pcapng (EPB/SPB/PB) and gzip of either.

Files are read in large blocks; each block becomes one or more FrameBatch without copying frame
bytes. A bad record inside a readable file is counted in `stats.errors` and logged once; a file
that is not a capture at all raises CaptureError with a one-line reason.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sensor.capture.base import Buffer, FrameBatch, SourceStats
from sensor.capture.pcapng import PcapngWalker
from sensor.errors import CaptureError
from sensor.native import lib as native

__all__ = ["MAX_RECORD", "MAX_WIRE", "CaptureFile", "open_capture"]

log = logging.getLogger(__name__)

MAX_RECORD = 0x40000  # 256 KiB: larger captured lengths mean a corrupt record header
BLOCK_BYTES = 8 << 20
MAX_WIRE = 0x40000
"""Largest believable wire length (GRO/TSO super-frames included); a larger one (0xFFFFFFFF)
is a forged header and counts as the captured length, not as 256 KiB of traffic."""
MAX_EXPANSION = 100
"""Real captures compress 2-20x; a stream that inflates 100x more is a bomb (zeros or one
frame repeated), not traffic, and is stopped before it costs minutes and gigabytes."""
EXPANSION_FLOOR = 16 << 20
"""Below this many inflated bytes the ratio is not judged (tiny files compress oddly)."""
_HDR_COLS = np.arange(16, dtype=np.int64)
_CAP_COLS = np.arange(8, 12, dtype=np.int64)
_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def open_capture(path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES) -> CaptureFile:
    """Open a capture file, detecting gzip, pcap and pcapng from the first bytes."""
    p = Path(path)
    try:
        raw: BinaryIO = p.open("rb")
    except OSError as e:
        raise CaptureError(f"{p}: cannot open: {e.strerror}") from None
    total = _size(raw)
    if raw.seekable():
        head = raw.read(2)
        raw.seek(0)
    else:  # a pipe or FIFO (e.g. `tcpdump -w -`): look without consuming
        head = raw.peek(2)[:2]  # type: ignore[attr-defined]
    stream: BinaryIO = raw
    if head == b"\x1f\x8b":
        raw = _Counted(raw)  # type: ignore[assignment]
        stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    try:
        magic = stream.read(4)
    except (OSError, EOFError) as e:
        raw.close()
        raise CaptureError(f"{p}: not a capture file ({e})") from None
    if magic in _PCAP_MAGIC or magic == _PCAPNG_MAGIC:
        return CaptureFile(str(p), raw, stream, magic, total, block_bytes)
    raw.close()
    if not magic:
        raise CaptureError(f"{p}: empty file, not a capture")
    raise CaptureError(f"{p}: not a pcap or pcapng capture (magic {magic.hex()})")


def _release(data: mmap.mmap, begin: int, end: int) -> None:
    """Drop pages already processed from our resident set (they stay in the page cache)."""
    page = mmap.PAGESIZE
    start = begin - begin % page
    if end - start >= page and hasattr(data, "madvise"):
        with contextlib.suppress(OSError, ValueError):
            data.madvise(mmap.MADV_DONTNEED, start, (end - start) // page * page)


class _Counted:
    """The compressed side of a gzip stream, counting what was read (pipes have no tell)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count += len(data)
        return data

    def seekable(self) -> bool:
        return self.f.seekable()

    def fileno(self) -> int:
        return self.f.fileno()

    def close(self) -> None:
        self.f.close()


def _size(f: BinaryIO) -> int | None:
    try:
        return os.fstat(f.fileno()).st_size
    except OSError:
        return None


class CaptureFile:
    """A PacketSource over one capture file."""

    def __init__(
        self,
        name: str,
        raw: BinaryIO,
        stream: BinaryIO,
        magic: bytes,
        total: int | None,
        block_bytes: int,
    ) -> None:
        self.name = name
        self.stats = SourceStats(bytes_total=total)
        self._raw = raw
        self._stream = stream
        self._magic = magic
        self._block = block_bytes
        self._pipe = not raw.seekable()
        """From a pipe, process what has arrived instead of waiting for a whole block."""
        self._gzip = isinstance(raw, _Counted)
        self._inflated = 0
        self._ended = False
        """The stream is damaged or over its limits: nothing more is read from it."""

    def close(self) -> None:
        """Close the file."""
        self._stream.close()
        self._raw.close()

    def _read(self, n: int) -> bytes:
        if self._ended:
            return b""
        if self._gzip:
            return self._read_gzip(n)
        try:
            data = self._stream.read1(n) if self._pipe else self._stream.read(n)  # type: ignore[attr-defined]
        except OSError as e:
            self._error("unreadable_data", f"read failed: {e}")
            self._ended = True
            return b""
        if self._pipe:
            self.stats.bytes_read += len(data)
        else:
            self.stats.bytes_read = self._raw.tell()
        return data

    def _read_gzip(self, n: int) -> bytes:
        """Up to `n` inflated bytes, piece by piece, so a stream cut short or corrupt further on
        still gives back everything before the damage (GzipFile.read would discard it)."""
        parts: list[bytes] = []
        got = 0
        while got < n:
            try:
                part = self._stream.read1(n - got)  # type: ignore[attr-defined]
            except EOFError:
                self._stop("truncated_gzip", "compressed stream cut short: kept what came before")
                break
            except (OSError, zlib.error) as e:  # BadGzipFile is an OSError
                self._stop("corrupt_gzip", f"compressed stream damaged, kept what came before: {e}")
                break
            if not part:
                break
            parts.append(part)
            got += len(part)
            if self._pipe:
                break
        self._inflated += got
        packed = self._raw.count  # type: ignore[attr-defined]
        self.stats.bytes_read = packed
        if self._inflated > max(EXPANSION_FLOOR, MAX_EXPANSION * packed):
            self._stop(
                "decompression_limit",
                f"{packed} compressed bytes inflate to over {self._inflated}: "
                f"more than {MAX_EXPANSION}x is not a capture; stopped",
            )
        return b"".join(parts)

    def _stop(self, reason: str, detail: str) -> None:
        self._error(reason, detail)
        self._ended = True
        if self.stats.bytes_total is not None:
            self.stats.bytes_lost = max(self.stats.bytes_total - self.stats.bytes_read, 0)

    def _error(self, reason: str, detail: str) -> None:
        if not self.stats.errors[reason]:
            log.warning("%s: %s", self.name, detail)
        self.stats.errors[reason] += 1

    def batches(self) -> Iterator[FrameBatch]:
        """Yield the file's frames in order, one batch per block read."""
        if self._magic == _PCAPNG_MAGIC:
            yield from self._pcapng()
        else:
            yield from self._pcap()

    # -- classic pcap ---------------------------------------------------------------------
    def _pcap(self) -> Iterator[FrameBatch]:
        endian, ts_mul = _PCAP_MAGIC[self._magic]
        rest = self._read(20)
        if len(rest) < 20:
            raise CaptureError(f"{self.name}: truncated pcap file header")
        _, _, _, _, snaplen, linktype = struct.unpack(endian + "HHiIII", rest)
        limit = min(max(snaplen, 65535), MAX_RECORD)  # a forged 2^31 must not lift the bound
        fmt = _PcapFormat(endian, ts_mul, linktype & 0x0FFFFFFF, limit)
        mapped = self._map()
        if mapped is not None:
            yield from self._pcap_mapped(mapped, fmt)
        else:
            yield from self._pcap_stream(fmt)

    def _map(self) -> mmap.mmap | None:
        """Map plain files: frames are then read in place, with no copy of the capture."""
        if self._stream is not self._raw or not self.stats.bytes_total:
            return None
        try:
            return mmap.mmap(self._raw.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None

    def _pcap_mapped(self, data: mmap.mmap, fmt: _PcapFormat) -> Iterator[FrameBatch]:
        pos, n = 24, len(data)
        while pos < n:
            begin = pos
            made, pos, corrupt = _walk(data, pos, pos + self._block, fmt)
            self.stats.bytes_read = pos
            if made is not None:
                self.stats.frames += len(made[0])
                yield self._counted(made)
            _release(data, begin, pos)
            if corrupt:
                self._error("corrupt_record", f"corrupt record header at byte {pos}: stopped")
                self.stats.bytes_lost = n - pos
                return
            if made is None:
                break
        if pos < n:
            self._error("truncated_record", "capture ends inside a record")
            self.stats.bytes_lost = n - pos

    def _pcap_stream(self, fmt: _PcapFormat) -> Iterator[FrameBatch]:
        carry = b""
        while True:
            chunk = self._read(self._block)
            data = carry + chunk if carry else chunk
            if not data:
                return
            made, end, corrupt = _walk(data, 0, len(data), fmt)
            if made is not None:
                self.stats.frames += len(made[0])
                yield self._counted(made)
            if corrupt:
                self._error("corrupt_record", "corrupt record header: stopped")
                self._lost(len(data) - end)
                return
            carry = data[end:]
            if not chunk:
                if carry:
                    self._error("truncated_record", "capture ends inside a record")
                    self._lost(len(carry))
                return

    # -- pcapng ---------------------------------------------------------------------------
    def _pcapng(self) -> Iterator[FrameBatch]:
        walker = PcapngWalker(self.name, self._error)
        mapped = self._map()
        if mapped is not None:
            yield from self._pcapng_mapped(mapped, walker)
            return
        carry = _PCAPNG_MAGIC
        while True:
            chunk = self._read(self._block)
            data = carry + chunk
            end = yield from walker.walk(data, final=not chunk)
            self.stats.frames = walker.frames
            if walker.stopped:
                self._lost(walker.bytes_lost)
                return
            carry = data[end:]
            if not chunk:
                if carry:
                    self._error("truncated_record", "capture ends inside a block")
                self._lost(walker.bytes_lost + len(carry))
                return

    def _pcapng_mapped(self, data: mmap.mmap, walker: PcapngWalker) -> Iterator[FrameBatch]:
        """The stream walk above, over windows of the mapped file instead of copies: each
        window is what the stream would hold (the unread rest of the last one, then the next
        block), so damage is handled alike; frames are read in place."""
        view = memoryview(data)
        n = len(data)
        start = read_end = 0
        while True:
            end = min(n, read_end + self._block)
            final = end == read_end
            used = yield from walker.walk(view[start:end], final=final)
            read_end = end
            self.stats.bytes_read = read_end
            self.stats.frames = walker.frames
            if walker.stopped:
                self._lost(walker.bytes_lost)
                return
            _release(data, start, start + used)
            start += used
            if final:
                if start < n:
                    self._error("truncated_record", "capture ends inside a block")
                self._lost(walker.bytes_lost + n - start)
                return

    def _counted(self, made: tuple[FrameBatch, int]) -> FrameBatch:
        """Count records whose wire length was not believable (set to the captured one)."""
        batch, bad = made
        if bad:
            self._error("bad_wire_length", f"{bad} records claim a wire length over {MAX_WIRE}")
            self.stats.errors["bad_wire_length"] += bad - 1
        return batch

    def _lost(self, n: int) -> None:
        """Count bytes that gave no frames, plus whatever of the file is left unread."""
        unread = 0
        if self.stats.bytes_total is not None and not self._ended:
            unread = max(self.stats.bytes_total - self.stats.bytes_read, 0)
        self.stats.bytes_lost += n + unread


@dataclass(frozen=True, slots=True)
class _PcapFormat:
    endian: str
    ts_mul: int  # nanoseconds per timestamp fraction unit
    linktype: int
    limit: int  # largest plausible captured length


def _walk(
    data: Buffer, pos: int, stop: int, fmt: _PcapFormat
) -> tuple[tuple[FrameBatch, int] | None, int, bool]:
    """The records from `pos` as a batch (None if there are none) with its count of
    unbelievable wire lengths, the offset after the last whole record, a corruption flag.
    The compiled walk where it is built; `_walk_pcap` and `_pcap_batch` are its reference."""
    if native is None:
        offs, pos, corrupt = _walk_pcap(data, pos, stop, fmt)
        return (_pcap_batch(data, offs, fmt) if offs else None), pos, corrupt
    o, c, w, t, pos, corrupt, bad = native.pcap_walk(
        data, pos, stop, fmt.endian == ">", fmt.limit, fmt.ts_mul, MAX_WIRE
    )
    if not o:
        return None, pos, corrupt
    cols = [np.frombuffer(x, dtype=np.int64) for x in (o, c, w, t)]
    return (FrameBatch(fmt.linktype, data, *cols), bad), pos, corrupt


def _walk_pcap(data: Buffer, pos: int, stop: int, fmt: _PcapFormat) -> tuple[list[int], int, bool]:
    """Walk record headers from `pos` until past `stop` or the end of the whole records.

    Returns record offsets, the offset after the last whole record, and a corruption flag.
    This loop is the one per-packet Python step of file replay, so it does as little as it
    can: far from the end of the buffer no bounds are checked (a record is at most `limit`
    bytes); lengths are validated afterwards for the whole batch at once.
    """
    unpack = struct.Struct(fmt.endian + "I").unpack_from
    limit = fmt.limit
    offs: list[int] = []
    append = offs.append
    n = len(data)
    stop = min(stop, n)
    safe = min(stop, n - 16 - limit)
    while pos < safe:
        append(pos)
        pos += 16 + unpack(data, pos + 8)[0]
    if offs:
        pos, corrupt = _check_lengths(data, offs, pos, fmt)
        if corrupt:
            return offs, pos, True
    while pos < stop and pos + 16 <= n:
        cap = unpack(data, pos + 8)[0]
        if cap > limit:
            return offs, pos, True
        nxt = pos + 16 + cap
        if nxt > n:
            break
        append(pos)
        pos = nxt
    return offs, pos, False


def _check_lengths(data: Buffer, offs: list[int], pos: int, fmt: _PcapFormat) -> tuple[int, bool]:
    """Find the first record with an impossible length; cut the offsets there."""
    u8 = np.frombuffer(data, dtype=np.uint8)
    starts = np.array(offs, dtype=np.int64)
    caps = u8[starts[:, None] + _CAP_COLS].view(fmt.endian + "u4")[:, 0]
    bad = np.flatnonzero(caps > fmt.limit)
    if len(bad) == 0:
        return pos, False
    first = int(bad[0])
    at = offs[first]
    del offs[first:]
    return at, True


def _pcap_batch(data: Buffer, offs: list[int], fmt: _PcapFormat) -> tuple[FrameBatch, int]:
    """Gather the 16-byte record headers with one fancy index and view them as u32 columns;
    also say how many wire lengths were past belief."""
    u8 = np.frombuffer(data, dtype=np.uint8)
    starts = np.array(offs, dtype=np.int64)
    hdr = u8[starts[:, None] + _HDR_COLS].view(fmt.endian + "u4").astype(np.int64)
    caplens = hdr[:, 2]
    wire = hdr[:, 3]
    wirelens = np.where(wire > MAX_WIRE, caplens, np.maximum(wire, caplens))
    ts = hdr[:, 0] * 1_000_000_000 + hdr[:, 1] * fmt.ts_mul
    bad = int(np.count_nonzero(wire > MAX_WIRE))
    return FrameBatch(fmt.linktype, data, starts + 16, caplens, wirelens, ts), bad
