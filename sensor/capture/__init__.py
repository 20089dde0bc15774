"""Packet sources: capture files now, live interfaces later, all yielding FrameBatch."""

from sensor.capture.base import FrameBatch, PacketSource, SourceStats
from sensor.capture.pcapfile import open_capture

__all__ = ["FrameBatch", "PacketSource", "SourceStats", "open_capture"]
