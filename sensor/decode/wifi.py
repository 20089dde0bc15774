"""802.11 link layers (radiotap, Prism, AVS, plain 802.11): data frames down to their ethertype.

Monitor-mode captures of open networks carry whole IP packets; management and control frames
are not flows (issue: rogue access points reads those separately). Encrypted data frames are
counted, not decoded.
"""

from __future__ import annotations

import struct
from typing import Final

from sensor.capture.base import Buffer

__all__ = ["WIFI_LINKTYPES", "wifi_payload"]

IEEE802_11, PRISM, RADIOTAP, AVS = 105, 119, 127, 163
WIFI_LINKTYPES: Final = frozenset({IEEE802_11, PRISM, RADIOTAP, AVS})
_SNAP = b"\xaa\xaa\x03\x00\x00\x00"
_FCS_FLAG = 0x10


def wifi_payload(linktype: int, data: Buffer, off: int, end: int) -> tuple[int, int, int] | str:
    """(ethertype, offset of the network layer, new end) of a data frame, or a reason."""
    fcs = False
    if linktype == RADIOTAP:
        if off + 8 > end:
            return "truncated_link"
        rt_len = struct.unpack_from("<H", data, off + 2)[0]
        if rt_len < 8 or off + rt_len > end:
            return "bad_radiotap"
        fcs = _radiotap_fcs(data, off, off + rt_len)
        off += rt_len
    elif linktype in (PRISM, AVS):
        if off + 8 > end:
            return "truncated_link"
        size = struct.unpack_from("<I" if linktype == PRISM else "!I", data, off + 4)[0]
        if size < 8 or off + size > end:
            return "truncated_link"
        off += size
    if fcs:
        end -= 4
    return _dot11(data, off, end)


def _radiotap_fcs(data: Buffer, start: int, stop: int) -> bool:
    """Whether the radiotap Flags field says the frame ends with an FCS."""
    present = struct.unpack_from("<I", data, start + 4)[0]
    p = start + 8
    ext = present
    while ext & 0x80000000:  # extended presence bitmaps
        if p + 4 > stop:
            return False
        ext = struct.unpack_from("<I", data, p)[0]
        p += 4
    if not present & 0x2:
        return False
    if present & 0x1:  # TSFT: 8 bytes aligned to 8
        p = start + ((p - start + 7) & ~7) + 8
    return p < stop and bool(data[p] & _FCS_FLAG)


def _dot11(data: Buffer, off: int, end: int) -> tuple[int, int, int] | str:
    if off + 2 > end:
        return "truncated_link"
    fc0, fc1 = data[off], data[off + 1]
    if (fc0 >> 2) & 3 != 2:  # management or control frame (ACK/CTS are only 10 bytes)
        return "non_ip"
    if off + 24 > end:
        return "truncated_link"
    if fc0 & 0x40:  # null function and other data frames without a body
        return "non_ip"
    if fc1 & 0x40:
        return "encrypted_80211"
    hdr = 24 + (6 if fc1 & 3 == 3 else 0) + (2 if fc0 & 0x80 else 0)
    p = off + hdr
    if p + 8 > end or bytes(data[p : p + 6]) != _SNAP:
        return "non_ip"
    return struct.unpack_from("!H", data, p + 6)[0], p + 8, end
