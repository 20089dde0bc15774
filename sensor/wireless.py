"""The monitor-mode radio's view: access points from 802.11 management frames, and the five
checks of provision 22 that judge access points rather than flows.

| id | check | fires when |
| 10001 | evil twin | an AP not in the inventory advertises a corporate SSID |
| 10002 | unknown AP in range | an AP not in the inventory is heard at min_signal_dbm or louder |
| 10003 | open or WEP network | an AP not in the inventory offers no or WEP protection |
| 10004 | ad-hoc network | a station advertises an IBSS (computer-to-computer) network |
| 10005 | deauth burst | deauth_burst deauth/disassoc frames for a BSSID in deauth_seconds |
| 10006 | beacon flood | more than alerts_per_minute of the above in a minute: one alert, counted |

Each fires once per access point; the `wireless_aps` rows carry every indicator found. The
tables are bounded (max_aps, oldest out; ap_expiry_seconds), since anyone can forge beacons.
"""

from __future__ import annotations

import struct
from collections import Counter, OrderedDict, deque
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
    "beacon_flood": Check(10006, "rogue_ap.beacon_flood",
                          "Beacon or deauthentication flood: alerts aggregated with a count", 0.8),
}  # fmt: skip
_MINUTE = 60 * 1_000_000_000


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
        self.aps: OrderedDict[str, AccessPoint] = OrderedDict()
        """By last advert, oldest first: eviction and expiry take from the front."""
        self.frames = 0
        self.evicted = 0
        """Access points pushed out of the full table (oldest advert first)."""
        self.deauths_evicted = 0
        """Deauthentication windows pushed out of the full table."""
        self.held: Counter[str] = Counter()
        """Alerts held back in the current minute, by check (summed up in beacon_flood)."""
        self._dirty: dict[str, AccessPoint] = {}
        self._window = -_MINUTE
        self._sent = 0
        self._new = 0
        self._flood_bssid = ""
        self.last = 0
        """Packet time of the newest 802.11 frame (a radio-only capture has no flows)."""
        self.errors: Counter[str] = Counter() if errors is None else errors
        """Frames that could not be read, by reason (the pipeline passes its decode errors)."""
        self._bssids = {m.lower().replace("-", ":") for m in policy.approved_bssids}
        self._ouis = {m.lower().replace("-", ":")[:8] for m in policy.approved_ouis}
        self._ssids = set(policy.corporate_ssids)
        self._deauths: OrderedDict[str, deque[int]] = OrderedDict()
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
        if len(batch):
            self.last = max(self.last, int(batch.ts[-1]))
            self._age(self.last)

    def _age(self, now: int) -> None:
        """Forget silent access points and old deauth windows; close a finished minute."""
        horizon = now - int(self.policy.ap_expiry_seconds * 1e9)
        while self.aps and next(iter(self.aps.values())).last_seen < horizon:
            self.aps.popitem(last=False)
        horizon = now - int(self.policy.deauth_seconds * 1e9)
        while self._deauths and next(iter(self._deauths.values()))[-1] < horizon:
            self._deauths.popitem(last=False)
        if now >= self._window + _MINUTE:
            self._roll(now)

    def _advert(self, m: Any, ts: int) -> None:
        bssid = mac_text(m.bssid)
        ap = self.aps.get(bssid)
        if ap is None:
            ap = self._remember(AccessPoint(bssid, ts, ts))
            ap.vendor = vendor(m.bssid, self._oui_db)
            ap.approved = bssid in self._bssids or bssid[:8] in self._ouis
            self._new += 1
        else:
            self.aps.move_to_end(bssid)
        ap.last_seen = max(ap.last_seen, ts)
        ap.beacons += 1
        self._dirty[bssid] = ap
        if m.ssid is not None and m.ssid not in ap.ssids and len(ap.ssids) < 16:
            ap.ssids.append(m.ssid)
        ap.channel = m.channel if m.channel is not None else ap.channel
        ap.security = m.security or ap.security
        ap.ibss = ap.ibss or m.ibss
        if m.signal_dbm is not None:
            ap.signal_dbm = max(ap.signal_dbm or -128, m.signal_dbm)
        self._judge(ap, ts)

    def _remember(self, ap: AccessPoint) -> AccessPoint:
        self.aps[ap.bssid] = ap
        if len(self.aps) > self.policy.max_aps:
            self.aps.popitem(last=False)
            self.evicted += 1
        return ap

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
        window = self._deauths.get(bssid)
        if window is None:
            window = self._deauths[bssid] = deque(maxlen=self.policy.deauth_burst)
            if len(self._deauths) > self.policy.max_aps:
                self._deauths.popitem(last=False)
                self.deauths_evicted += 1
        else:
            self._deauths.move_to_end(bssid)
        window.append(ts)
        horizon = ts - int(self.policy.deauth_seconds * 1e9)
        while window and window[0] < horizon:
            window.popleft()
        if len(window) >= self.policy.deauth_burst:
            ap = self.aps.get(bssid) or self._remember(AccessPoint(bssid, ts, ts))
            burst = f"{len(window)} deauth/disassoc frames in {self.policy.deauth_seconds:g} s"
            self._fire(ap, "deauth_burst", ts, burst)

    def _fire(self, ap: AccessPoint, name: str, ts: int, evidence: str) -> None:
        if name in ap.indicators:
            return
        ap.indicators.append(name)
        self._dirty[ap.bssid] = ap
        if ts >= self._window + _MINUTE:
            self._roll(ts)
        if self._sent >= self.policy.alerts_per_minute:
            self.held[name] += 1
            self._flood_bssid = self._flood_bssid or ap.bssid
            return
        self._sent += 1
        self.on_event(WirelessEvent(ts, CHECKS[name], ap.bssid, evidence))

    def _roll(self, now: int) -> None:
        """Start a new alert minute; sum up the one before if alerts were held back."""
        if self.held:
            held = sum(self.held.values())
            kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.held.items()))
            evidence = f"{self._new} new access points, {held} alerts held back ({kinds})"
            self.on_event(WirelessEvent(now, CHECKS["beacon_flood"], self._flood_bssid, evidence))
        self.held.clear()
        self._window, self._sent, self._new, self._flood_bssid = now, 0, 0, ""

    def close(self) -> None:
        """End of capture: sum up a minute that still holds alerts back."""
        if self.held:
            self._roll(self.last)

    @property
    def deauth_targets(self) -> int:
        """BSSIDs with a deauthentication window in the table now."""
        return len(self._deauths)

    def take_changed(self) -> list[AccessPoint]:
        """APs updated since the last call (for a `wireless_aps` snapshot)."""
        out = list(self._dirty.values())
        self._dirty.clear()
        return out
