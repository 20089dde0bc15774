"""Packet decoding: frames -> flat per-packet columns (addresses, ports, flags, payload span)."""

from sensor.decode.columns import PacketColumns
from sensor.decode.decoder import Decoder

__all__ = ["Decoder", "PacketColumns"]
