"""802.11 management frames (beacons, probe requests and responses, deauthentication,
disassociation) read from monitor-mode captures: who advertises which network, where, how
protected, how loud. Data frames go the flow path (decode/wifi.py); these never do."""

from __future__ import annotations

import struct
from typing import NamedTuple

from sensor.capture.base import Buffer
from sensor.decode.wifi import AVS, IEEE802_11, PRISM, RADIOTAP

__all__ = ["Mgmt", "channel_of", "parse_mgmt"]

BEACON, PROBE_REQ, PROBE_RESP, DISASSOC, DEAUTH, ASSOC_REQ = 8, 4, 5, 10, 12, 0
_FIXED = {BEACON: 12, PROBE_RESP: 12, PROBE_REQ: 0, ASSOC_REQ: 4}
_RSN, _VENDOR, _SSID, _DS = 48, 221, 0, 3
_WPA_OUI = b"\x00\x50\xf2\x01"


class Mgmt(NamedTuple):
    """One management frame, as the wireless monitor needs it."""

    subtype: int
    ssid_raw: bytes | None
    """The SSID element's bytes as sent (names need not be UTF-8)."""
    src: bytes
    dst: bytes
    bssid: bytes
    ssid: str | None
    channel: int | None
    security: str | None
    """open, wep, wpa, wpa2, wpa3, wpa2-enterprise, wpa3-enterprise (beacons and responses)."""
    ibss: bool
    signal_dbm: int | None


def channel_of(freq_mhz: int) -> int | None:
    """IEEE channel number of a 2.4/5/6 GHz centre frequency."""
    if freq_mhz == 2484:
        return 14
    if 2412 <= freq_mhz < 2484:
        return (freq_mhz - 2407) // 5
    if 5000 < freq_mhz < 5950:
        return (freq_mhz - 5000) // 5
    if 5950 < freq_mhz <= 7125:
        return (freq_mhz - 5950) // 5
    return None


def _radiotap(data: Buffer, off: int, end: int) -> tuple[int, int | None, int | None]:
    """(header length, channel, antenna signal dBm) from a radiotap header."""
    rt_len = struct.unpack_from("<H", data, off + 2)[0]
    present = struct.unpack_from("<I", data, off + 4)[0]
    stop = min(off + rt_len, end)  # a header longer than its frame: read what is there
    p = off + 8
    word = present
    while word & 0x80000000:  # skip extended bitmaps; a forged chain stops at the header end
        if p + 4 > stop:
            return rt_len, None, None
        word = struct.unpack_from("<I", data, p)[0]
        p += 4
    chan = sig = None

    def align(pos: int, n: int) -> int:
        return off + ((pos - off + n - 1) & ~(n - 1))

    if present & 0x01:  # TSFT
        p = align(p, 8) + 8
    if present & 0x02:  # flags
        p += 1
    if present & 0x04:  # rate
        p += 1
    if present & 0x08:  # channel: frequency, flags
        p = align(p, 2)
        if p + 4 <= stop:
            chan = channel_of(struct.unpack_from("<H", data, p)[0])
        p += 4
    if present & 0x10:  # FHSS
        p += 2
    if present & 0x20 and p < stop:  # antenna signal, dBm
        sig = struct.unpack_from("b", data, p)[0]
    return rt_len, chan, sig


def _prism(data: Buffer, off: int, end: int) -> tuple[int, int | None, int | None]:
    """(header length, channel, signal) from a Prism header (DIDs: channel, signal)."""
    size = struct.unpack_from("<I", data, off + 4)[0]
    chan = sig = None
    p = off + 24
    stop = min(off + size, end)  # a forged size (0xFFFFFFF0) must not walk off the frame
    while p + 12 <= stop:  # items: DID, status, length, 32-bit value
        did, status, _ = struct.unpack_from("<IHH", data, p)
        value = struct.unpack_from("<i", data, p + 8)[0]
        kind = (did >> 16) & 0xFF  # 0x0003xx44: channel, 0x0006xx44: signal
        if status == 0 and kind == 3:
            chan = value
        elif status == 0 and kind == 6:
            sig = value
        p += 12
    return size, chan, sig


def parse_mgmt(linktype: int, data: Buffer, off: int, end: int) -> Mgmt | None:
    """The management frame at data[off:end], or None (not management, or too short)."""
    chan = sig = None
    if linktype == RADIOTAP:
        if off + 8 > end:
            return None
        n, chan, sig = _radiotap(data, off, end)
        if n < 8:
            return None
        off += n
    elif linktype in (PRISM, AVS):
        if off + 8 > end:
            return None
        if linktype == PRISM:
            n, chan, sig = _prism(data, off, end)
        else:
            n = struct.unpack_from("!I", data, off + 4)[0]
        if n < 8:
            return None
        off += n
    elif linktype != IEEE802_11:
        return None
    if off + 24 > end:
        return None
    fc0 = data[off]
    if (fc0 >> 2) & 3 != 0:
        return None
    subtype = fc0 >> 4
    dst, src, bssid = (bytes(data[off + i : off + i + 6]) for i in (4, 10, 16))
    body = off + 24
    raw = security = None
    ibss = False
    if subtype in (BEACON, PROBE_RESP) and body + 12 <= end:
        cap = struct.unpack_from("<H", data, body + 10)[0]
        ibss = bool(cap & 0x2)
        privacy = bool(cap & 0x10)
        raw, ds, rsn, wpa = _elements(data, body + 12, end)
        chan = chan if chan is not None else ds
        security = _security(privacy, rsn, wpa)
    elif subtype in (PROBE_REQ, ASSOC_REQ):
        raw, _, _, _ = _elements(data, body + _FIXED[subtype], end)
    # an SSID is 0-32 octets (IEEE 802.11-2020 9.4.2.2); a forged element may hold 255,
    # and backslashreplace writes each undecodable byte as four characters
    ssid = None if raw is None else raw[:32].rstrip(b"\0").decode("utf-8", "backslashreplace")
    return Mgmt(subtype, raw, src, dst, bssid, ssid, chan, security, ibss, sig)


def _elements(
    data: Buffer, p: int, end: int
) -> tuple[bytes | None, int | None, bytes | None, bool]:
    ssid: bytes | None = None
    ds = None
    rsn = None
    wpa = False
    while p + 2 <= end:
        eid, n = data[p], data[p + 1]
        v = p + 2
        if v + n > end:
            break
        if eid == _SSID and ssid is None:
            ssid = bytes(data[v : v + n])
        elif eid == _DS and n >= 1:
            ds = data[v]
        elif eid == _RSN:
            rsn = bytes(data[v : v + n])
        elif eid == _VENDOR and bytes(data[v : v + 4]) == _WPA_OUI:
            wpa = True
        p = v + n
    return ssid, ds, rsn, wpa


def _security(privacy: bool, rsn: bytes | None, wpa: bool) -> str:
    """The strongest protection the network advertises."""
    if rsn is not None and len(rsn) >= 8:
        akms = _akm_suites(rsn)
        sae = {8, 9, 24, 25} & akms
        eap = {1, 3, 5, 11, 12, 13} & akms
        if sae or (eap and {12, 13} & akms):
            return "wpa3-enterprise" if eap else "wpa3"
        return "wpa2-enterprise" if eap else "wpa2"
    if wpa:
        return "wpa"
    return "wep" if privacy else "open"


def _akm_suites(rsn: bytes) -> set[int]:
    try:
        n_pair = struct.unpack_from("<H", rsn, 6)[0]
        p = 8 + 4 * n_pair
        n_akm = struct.unpack_from("<H", rsn, p)[0]
        return {
            rsn[p + 2 + 4 * i + 3]
            for i in range(n_akm)
            if rsn[p + 2 + 4 * i : p + 5 + 4 * i] == b"\x00\x0f\xac"
        }
    except (struct.error, IndexError):
        return set()
