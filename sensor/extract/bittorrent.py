"""BitTorrent: peer-wire handshake, DHT (KRPC over UDP), UDP tracker, local peer discovery."""

from __future__ import annotations

import re
import struct
from typing import Any

from sensor.flow.state import FlowState

__all__ = ["BitTorrentExtractor"]

HANDSHAKE = b"\x13BitTorrent protocol"
_UDP_TRACKER_MAGIC = 0x41727101980
_KRPC = re.compile(rb"^d1:[ar]d2:id20:|^d1:eli\d+e|1:y1:[qre]")
_KRPC_QUERY = re.compile(rb"1:q(\d+):([a-z_]+)")
_AZUREUS_ID = re.compile(rb"^-([A-Za-z~]{2})([0-9A-Za-z]{4})-")


class BitTorrentExtractor:
    """Every BitTorrent transport the corpus and real clients use."""

    name = "bittorrent"
    transports = frozenset({6, 17})
    first_bytes: frozenset[int] | None = frozenset({0x13, 0x00, *b"dB"})
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Handshake prefix, bencoded KRPC, tracker connect magic or BT-SEARCH."""
        if flow.proto == 6:
            return data.startswith(HANDSHAKE)
        return (
            (data.startswith(b"d1:") and _KRPC.search(data[:64]) is not None)
            or (len(data) >= 16 and struct.unpack_from("!Q", data)[0] == _UDP_TRACKER_MAGIC)
            or data.startswith(b"BT-SEARCH * HTTP/1.1")
        )

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Record what the first message says; one message is enough."""
        m = flow.meta
        if data.startswith(HANDSHAKE) and len(data) >= 68:
            m["app_proto"] = "bittorrent"
            m["bittorrent.info_hash"] = data[28:48].hex()
            peer = _AZUREUS_ID.match(data[48:68])
            if peer:
                client = peer.group(0).decode("ascii")
                m["bittorrent.client"] = client
                m.setdefault("user_agent", client)
        elif data.startswith(b"d1:"):
            m["app_proto"] = "bittorrent-dht"
            q = _KRPC_QUERY.search(data)
            if q:
                m["bittorrent.dht_query"] = q.group(2)[:64].decode("ascii")
        elif data.startswith(b"BT-SEARCH"):
            m["app_proto"] = "bittorrent-lsd"
        else:
            m["app_proto"] = "bittorrent-tracker"
        return True
