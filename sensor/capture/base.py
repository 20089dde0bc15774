"""The one shape every packet source produces: batches of frames sharing a link type.

Batches rather than single packets let the decoder and the flow table work on numpy arrays,
which is what makes a Python sensor keep pace with C tools. A live AF_PACKET ring hands out
blocks of frames in the same way, so file replay and live capture share the pipeline.
"""

from __future__ import annotations

import mmap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Buffer", "FrameBatch", "PacketSource", "SourceStats"]

Buffer = bytes | bytearray | memoryview | mmap.mmap
"""Anything frames can be read from in place (collections.abc.Buffer needs Python 3.12)."""

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class FrameBatch:
    """Frames stored back to back in one buffer, described by parallel arrays."""

    linktype: int
    """DLT/LINKTYPE number shared by all frames of the batch."""
    data: Buffer
    """Buffer that holds the frame bytes (and whatever lies between them)."""
    offsets: I64
    """Start of each frame in `data`."""
    caplens: I64
    """Captured length of each frame (may be less than the wire length: snaplen)."""
    wirelens: I64
    """Original length of each frame on the wire; flows count these bytes."""
    ts: I64
    """Capture time of each frame in nanoseconds since the Unix epoch: the only clock."""

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass(slots=True)
class SourceStats:
    """What a source counted while reading: bytes consumed and problems with records."""

    bytes_read: int = 0
    bytes_total: int | None = None
    frames: int = 0
    kernel_drops: int = 0
    bytes_lost: int = 0
    """Bytes of the file left unread because of damage (a corrupt record, block or stream)."""
    errors: Counter[str] = field(default_factory=Counter)


class PacketSource(Protocol):
    """A capture file or interface; iterate `batches()` until it is exhausted or stopped."""

    name: str
    stats: SourceStats

    def batches(self) -> Iterator[FrameBatch]:
        """Yield frame batches in capture order."""
        ...

    def close(self) -> None:
        """Release the file or socket."""
        ...
