"""Decoder: vectorised fast path for whole batches, scalar reference for the rest, counters."""

from __future__ import annotations

import logging
import struct
from collections import Counter

import numpy as np

from sensor.capture.base import FrameBatch
from sensor.decode.columns import PacketColumns
from sensor.decode.scalar import LINKTYPES, FragmentCache, decode_frame
from sensor.decode.vector import decode_vector

__all__ = ["NOT_ERRORS", "Decoder"]

NOT_ERRORS = frozenset({"non_ip", "encrypted_80211"})
"""Reasons that are normal traffic without a flow (ARP, LLDP, STP), not decode errors."""

log = logging.getLogger(__name__)

_SIGN = 1 << 63
_WRAP = 1 << 64


def _s64(x: int) -> int:
    return x - _WRAP if x >= _SIGN else x


class Decoder:
    """Turns FrameBatch into PacketColumns; keeps the fragment cache and the counters."""

    def __init__(self, fragment_cache: int = 4096) -> None:
        self.frags = FragmentCache(fragment_cache)
        self.errors: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self._warned: set[int] = set()

    def decode(self, batch: FrameBatch, vector: bool = True) -> PacketColumns:
        """Decode every frame; frames that form no flow stay `ok=False` and are counted."""
        cols = PacketColumns.empty(batch.data, batch.ts, batch.wirelens)
        if batch.linktype not in LINKTYPES:
            if batch.linktype not in self._warned:
                self._warned.add(batch.linktype)
                log.warning(
                    "link type %d is not decoded; its frames are counted as unknown_linktype",
                    batch.linktype,
                )
            self.errors["unknown_linktype"] += len(batch)
            return cols
        if vector:
            pending = decode_vector(batch, cols)
            self.skipped["non_ip"] += int(len(batch) - cols.ok.sum() - pending.sum())
        else:
            pending = np.ones(len(batch), dtype=np.bool_)
        for i in np.flatnonzero(pending).tolist():
            self._scalar(batch, cols, i)
        return cols

    def _scalar(self, batch: FrameBatch, cols: PacketColumns, i: int) -> None:
        off, cap = int(batch.offsets[i]), int(batch.caplens[i])
        try:
            res = decode_frame(batch.linktype, batch.data, off, cap, self.frags)
        except (struct.error, IndexError, ValueError):  # a bounds check a parser missed
            res = "malformed"
        if isinstance(res, str):
            (self.skipped if res in NOT_ERRORS else self.errors)[res] += 1
            return
        ver, src, dst, proto, sport, dport, flags, pl_off, pl_len, vlan, tunnel, seq = res
        cols.ok[i] = True
        cols.ver[i], cols.proto[i], cols.sport[i], cols.dport[i] = ver, proto, sport, dport
        cols.flags[i], cols.pl_off[i], cols.pl_len[i] = flags, pl_off, pl_len
        cols.vlan[i], cols.tunnel[i], cols.seq[i] = vlan, tunnel, seq
        if ver == 4:
            cols.src_lo[i] = int.from_bytes(src, "big")
            cols.dst_lo[i] = int.from_bytes(dst, "big")
        else:
            cols.src_hi[i] = _s64(int.from_bytes(src[:8], "big"))
            cols.src_lo[i] = _s64(int.from_bytes(src[8:], "big"))
            cols.dst_hi[i] = _s64(int.from_bytes(dst[:8], "big"))
            cols.dst_lo[i] = _s64(int.from_bytes(dst[8:], "big"))
