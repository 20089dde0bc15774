"""Live capture from a Linux interface: an AF_PACKET socket with a TPACKET_V3 memory-mapped
ring, promiscuous mode, optional BPF filter and PACKET_FANOUT for several workers.

The kernel fills whole blocks of frames; each retired block becomes one FrameBatch (copied
out, so the block goes straight back to the kernel), the same shape a capture file yields.
When no block is ready within the poll timeout an empty batch comes out, so the pipeline's
clock still moves and idle flows expire on a quiet link. Kernel drop counts come from
PACKET_STATISTICS.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import select
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensor.capture.base import FrameBatch, SourceStats
from sensor.errors import CaptureError

__all__ = ["AfPacketConfig", "AfPacketSource", "compile_bpf"]

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
TPACKET_V3 = 2
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
TP_STATUS_USER = 1
TP_STATUS_KERNEL = 0
LINKTYPE_ETHERNET = 1
# ARPHRD_* of the interface -> pcap link type: a monitor-mode radio delivers 802.11 frames
_LINKTYPES = {1: 1, 772: 1, 801: 105, 802: 119, 803: 127}


def interface_linktype(name: str) -> int:
    """The pcap link type of an interface's frames (from /sys/class/net/NAME/type)."""
    try:
        arphrd = int(Path(f"/sys/class/net/{name}/type").read_text().strip())
    except (OSError, ValueError):
        return LINKTYPE_ETHERNET
    if arphrd not in _LINKTYPES:
        raise CaptureError(f"{name}: unsupported link type (ARPHRD {arphrd})")
    return _LINKTYPES[arphrd]


_BLOCK_HDR = struct.Struct("=IIIIIIQIIII")  # tpacket_block_desc + tpacket_hdr_v1
_PKT_HDR = struct.Struct("=IIIIIIHH")  # tpacket3_hdr up to tp_net
_STATS_V3 = struct.Struct("=III")


@dataclass(frozen=True, slots=True)
class AfPacketConfig:
    """How one capture socket is set up."""

    interface: str
    snaplen: int = 65535
    bpf: str = ""
    promiscuous: bool = True
    block_size: int = 1 << 22  # 4 MiB blocks
    block_count: int = 64  # 256 MiB ring per worker
    block_timeout_ms: int = 100
    fanout_group: int | None = None


def compile_bpf(expression: str, snaplen: int = 65535) -> bytes:
    """A tcpdump-syntax filter compiled by libpcap into a `struct sock_fprog` program body."""

    class BpfInsn(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_ushort),
            ("jt", ctypes.c_ubyte),
            ("jf", ctypes.c_ubyte),
            ("k", ctypes.c_uint),
        ]

    class BpfProgram(ctypes.Structure):
        _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(BpfInsn))]

    name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise CaptureError("a BPF filter needs libpcap (Debian package libpcap0.8)") from None
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_geterr.restype = ctypes.c_char_p
    handle = lib.pcap_open_dead(LINKTYPE_ETHERNET, snaplen)
    prog = BpfProgram()
    try:
        rc = lib.pcap_compile(
            ctypes.c_void_p(handle), ctypes.byref(prog), expression.encode(), 1, 0xFFFFFFFF
        )
        if rc != 0:
            err = lib.pcap_geterr(ctypes.c_void_p(handle)).decode(errors="replace")
            raise CaptureError(f"bad capture filter {expression!r}: {err}")
        insns = b"".join(
            struct.pack("=HBBI", i.code, i.jt, i.jf, i.k)
            for i in (prog.bf_insns[n] for n in range(prog.bf_len))
        )
        lib.pcap_freecode(ctypes.byref(prog))
        return insns
    finally:
        lib.pcap_close(ctypes.c_void_p(handle))


class AfPacketSource:
    """One capture socket and its ring; iterate `batches()` until `stop()`."""

    def __init__(self, cfg: AfPacketConfig) -> None:
        self.cfg = cfg
        self.name = cfg.interface
        self.stats = SourceStats()
        self._stopped = False
        self._sock = self._open()
        self.linktype = interface_linktype(cfg.interface)
        size = cfg.block_size * cfg.block_count
        try:
            self._ring = mmap.mmap(self._sock.fileno(), size, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE)  # fmt: skip
        except OSError as e:
            self._sock.close()
            raise CaptureError(f"{cfg.interface}: cannot map the capture ring: {e}") from None
        self._block = 0
        self._poll = select.poll()
        self._poll.register(self._sock.fileno(), select.POLLIN | select.POLLERR)

    def _open(self) -> socket.socket:
        cfg = self.cfg
        try:
            ifindex = socket.if_nametoindex(cfg.interface)
        except OSError:
            raise CaptureError(f"no such interface: {cfg.interface}") from None
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise CaptureError(
                f"{cfg.interface}: capturing needs CAP_NET_RAW (and CAP_NET_ADMIN for "
                "promiscuous mode and fanout): run as root or grant them, e.g. "
                "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN in the systemd unit"
            ) from None
        try:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            if cfg.bpf:
                prog = compile_bpf(cfg.bpf, cfg.snaplen)
                buf = ctypes.create_string_buffer(prog)
                fprog = struct.pack("HL", len(prog) // 8, ctypes.addressof(buf))
                sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            frame = 1 << 11
            req = struct.pack(
                "=IIIIIII",
                cfg.block_size,
                cfg.block_count,
                frame,
                cfg.block_size * cfg.block_count // frame,
                cfg.block_timeout_ms,
                0,
                0,
            )
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            sock.bind((cfg.interface, ETH_P_ALL))
            if cfg.promiscuous:
                mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            if cfg.fanout_group is not None:
                # hash of the flow (symmetric in the kernel), so both directions of a flow
                # reach the same worker; defragment first so fragments follow their flow
                arg = cfg.fanout_group | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16)
                sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("=I", arg))
        except PermissionError:
            sock.close()
            raise CaptureError(
                f"{cfg.interface}: promiscuous mode and fanout need CAP_NET_ADMIN"
            ) from None
        except OSError as e:
            sock.close()
            raise CaptureError(f"{cfg.interface}: cannot set up capture: {e.strerror}") from None
        return sock

    def batches(self) -> Iterator[FrameBatch]:
        """One batch per retired ring block; an empty batch when the link is quiet."""
        cfg = self.cfg
        ring = self._ring
        while not self._stopped:
            at = self._block * cfg.block_size
            status = struct.unpack_from("=I", ring, at + 8)[0]
            if not status & TP_STATUS_USER:
                with contextlib.suppress(InterruptedError):
                    self._poll.poll(cfg.block_timeout_ms * 2)
                status = struct.unpack_from("=I", ring, at + 8)[0]
                if not status & TP_STATUS_USER:
                    yield _EMPTY  # a quiet link: the caller's clock still moves
                    continue
            batch = self._read_block(at)
            struct.pack_into("=I", ring, at + 8, TP_STATUS_KERNEL)  # give it back
            self._block = (self._block + 1) % cfg.block_count
            if len(batch):
                yield batch

    def _read_block(self, at: int) -> FrameBatch:
        ring = self._ring
        hdr = _BLOCK_HDR.unpack_from(ring, at)
        num, first, blen = hdr[3], hdr[4], hdr[5]
        data = bytes(ring[at : at + blen])  # copy: the block goes back to the kernel now
        offs, caps, wires, ts = [], [], [], []
        pos = first
        unpack = _PKT_HDR.unpack_from
        for _ in range(num):
            nxt, sec, nsec, snap, wire, _status, mac, _net = unpack(data, pos)
            offs.append(pos + mac)
            caps.append(snap)
            wires.append(wire)
            ts.append(sec * 1_000_000_000 + nsec)
            if not nxt:
                break
            pos += nxt
        self.stats.frames += len(offs)
        self.stats.bytes_read += sum(wires)
        return FrameBatch(
            self.linktype,
            data,
            np.array(offs, dtype=np.int64),
            np.array(caps, dtype=np.int64),
            np.array(wires, dtype=np.int64),
            np.array(ts, dtype=np.int64),
        )

    def kernel_counts(self) -> tuple[int, int]:
        """(packets, drops) the kernel counted since the last call (PACKET_STATISTICS resets)."""
        try:
            raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS_V3.size)
        except OSError:
            return 0, 0
        packets, drops, _ = _STATS_V3.unpack(raw)
        self.stats.kernel_drops += drops
        return packets, drops

    def stop(self) -> None:
        """Make `batches()` return at its next turn (safe from a signal handler)."""
        self._stopped = True

    def close(self) -> None:
        self.kernel_counts()
        self._stopped = True
        with contextlib.suppress(BufferError, ValueError):
            self._ring.close()
        self._sock.close()


_Z = np.zeros(0, dtype=np.int64)
_EMPTY = FrameBatch(LINKTYPE_ETHERNET, b"", _Z, _Z, _Z, _Z)
