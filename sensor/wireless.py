"""The monitor-mode radio's view: access points from 802.11 management frames, and the five
checks of provision 22 that judge access points rather than flows.

| id | check | fires when |
| 10001 | evil twin | an AP not in the inventory advertises a corporate SSID |
| 10002 | unknown AP in range | an AP not in the inventory is heard at min_signal_dbm or louder |
| 10003 | open or WEP network | an AP not in the inventory offers no or WEP protection |
| 10004 | ad-hoc network | a station advertises an IBSS (computer-to-computer) network |
| 10005 | deauth burst | deauth_burst deauth/disassoc frames for a BSSID in deauth_seconds |

Each fires once per access point; the `wireless_aps` rows carry every indicator found.
"""

from __future__ import annotations

import struct
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensor.capture.base import FrameBatch
from sensor.classify.policy import WirelessPolicy
from sensor.decode.dot11 import BEACON, DEAUTH, DISASSOC, PROBE_REQ, PROBE_RESP, parse_mgmt
from sensor.decode.wifi import WIFI_LINKTYPES
from sensor.oui import vendor

__all__ = ["CHECKS", "AccessPoint", "Check", "WirelessEvent", "WirelessMonitor", "mac_text"]

PROVISION = "2503-22"


@dataclass(frozen=True, slots=True)
class Check:
    id: int
    name: str
    msg: str
    confidence: float


CHECKS = {
    "evil_twin": Check(10001, "rogue_ap.evil_twin",
                       "Rogue access point: unknown BSSID advertising a corporate SSID", 0.9),
    "unknown_in_range": Check(10002, "rogue_ap.unknown_in_range",
                              "Rogue access point: unknown access point in range", 0.6),
    "open_or_wep": Check(10003, "rogue_ap.open_or_wep",
                         "Rogue access point: open or WEP network", 0.7),
    "adhoc": Check(10004, "rogue_ap.adhoc", "Rogue access point: ad-hoc (IBSS) network", 0.7),
    "deauth_burst": Check(10005, "rogue_ap.deauth_burst",
                          "Deauthentication burst (an attack on a wireless network)", 0.8),
}  # fmt: skip


def mac_text(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


@dataclass(slots=True)
class AccessPoint:
    """What the radio learnt about one BSSID."""

    bssid: str
    first_seen: int
    last_seen: int
    ssids: list[str] = field(default_factory=list)
    channel: int | None = None
    security: str | None = None
    signal_dbm: int | None = None
    vendor: str | None = None
    beacons: int = 0
    ibss: bool = False
    approved: bool = False
    indicators: list[str] = field(default_factory=list)
    dirty: bool = True


@dataclass(frozen=True, slots=True)
class WirelessEvent:
    """A check that fired, for the alert sink."""

    ts: int
    check: Check
    bssid: str
    evidence: str


class WirelessMonitor:
    """Reads management frames from monitor-mode batches; keeps the AP table; raises checks."""

    def __init__(
        self,
        policy: WirelessPolicy,
        on_event: Callable[[WirelessEvent], None],
        errors: Counter[str] | None = None,
    ) -> None:
        self.policy = policy
        self.on_event = on_event
        self.aps: dict[str, AccessPoint] = {}
        self.frames = 0
        self.errors: Counter[str] = Counter() if errors is None else errors
        """Frames that could not be read, by reason (the pipeline passes its decode errors)."""
        self._bssids = {m.lower().replace("-", ":") for m in policy.approved_bssids}
        self._ouis = {m.lower().replace("-", ":")[:8] for m in policy.approved_ouis}
        self._ssids = set(policy.corporate_ssids)
        self._deauths: dict[str, deque[int]] = {}
        self._oui_db = Path(policy.oui_database)

    def process(self, batch: FrameBatch) -> None:
        """Every management frame of an 802.11 batch."""
        if batch.linktype not in WIFI_LINKTYPES:
            return
        data = batch.data
        lt = batch.linktype
        for off, cap, ts in zip(
            batch.offsets.tolist(), batch.caplens.tolist(), batch.ts.tolist(), strict=True
        ):
            try:
                m = parse_mgmt(lt, data, off, off + cap)
            except (struct.error, IndexError, ValueError):  # a bounds check the parser missed
                self.errors["malformed_80211"] += 1
                continue
            if m is None:
                continue
            self.frames += 1
            if m.subtype in (BEACON, PROBE_RESP):
                self._advert(m, ts)
            elif m.subtype in (DEAUTH, DISASSOC):
                self._deauth(mac_text(m.bssid), ts)
            elif m.subtype == PROBE_REQ:
                pass  # clients looking for networks: devices, not access points

    def _advert(self, m: Any, ts: int) -> None:
        bssid = mac_text(m.bssid)
        ap = self.aps.get(bssid)
        if ap is None:
            ap = self.aps[bssid] = AccessPoint(bssid, ts, ts)
            ap.vendor = vendor(m.bssid, self._oui_db)
            ap.approved = bssid in self._bssids or bssid[:8] in self._ouis
        ap.last_seen = max(ap.last_seen, ts)
        ap.beacons += 1
        ap.dirty = True
        if m.ssid is not None and m.ssid not in ap.ssids and len(ap.ssids) < 16:
            ap.ssids.append(m.ssid)
        ap.channel = m.channel if m.channel is not None else ap.channel
        ap.security = m.security or ap.security
        ap.ibss = ap.ibss or m.ibss
        if m.signal_dbm is not None:
            ap.signal_dbm = max(ap.signal_dbm or -128, m.signal_dbm)
        self._judge(ap, ts)

    def _judge(self, ap: AccessPoint, ts: int) -> None:
        if ap.ibss:
            self._fire(ap, "adhoc", ts, f"ibss=true ssid={ap.ssids[:1]}")
        if ap.approved:
            return
        twins = self._ssids.intersection(ap.ssids)
        if twins:
            self._fire(
                ap, "evil_twin", ts, f"ssid={sorted(twins)[0]} bssid={ap.bssid} not approved"
            )
        if ap.signal_dbm is not None and ap.signal_dbm >= self.policy.min_signal_dbm:
            loud = f"signal={ap.signal_dbm} dBm bssid={ap.bssid}"
            self._fire(ap, "unknown_in_range", ts, loud)
        if ap.security in ("open", "wep"):
            self._fire(ap, "open_or_wep", ts, f"security={ap.security} ssid={ap.ssids[:1]}")

    def _deauth(self, bssid: str, ts: int) -> None:
        window = self._deauths.setdefault(bssid, deque())
        window.append(ts)
        horizon = ts - int(self.policy.deauth_seconds * 1e9)
        while window and window[0] < horizon:
            window.popleft()
        if len(window) >= self.policy.deauth_burst:
            ap = self.aps.get(bssid) or self.aps.setdefault(bssid, AccessPoint(bssid, ts, ts))
            burst = f"{len(window)} deauth/disassoc frames in {self.policy.deauth_seconds:g} s"
            self._fire(ap, "deauth_burst", ts, burst)

    def _fire(self, ap: AccessPoint, name: str, ts: int, evidence: str) -> None:
        if name in ap.indicators:
            return
        ap.indicators.append(name)
        ap.dirty = True
        self.on_event(WirelessEvent(ts, CHECKS[name], ap.bssid, evidence))

    def take_changed(self) -> list[AccessPoint]:
        """APs updated since the last call (for a `wireless_aps` snapshot)."""
        out = [ap for ap in self.aps.values() if ap.dirty]
        for ap in out:
            ap.dirty = False
        return out
