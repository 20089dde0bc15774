"""`behaviour`: thresholds on the flow's own numbers, for traffic no name gives away
(an unknown radio station: long, mostly downstream, a steady audio bit rate).

Keys (all optional, all must hold): min_seconds, max_seconds, min_bytes, min_bytes_toclient,
min_bytes_toserver, min_down_ratio (share of bytes sent by the server), max_down_ratio,
kbps_toclient: [low, high] (server-to-client rate over the flow's duration), min_packets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sensor.classify.matchers.base import Evidence, Gate
from sensor.classify.view import FlowView

__all__ = ["BehaviourMatcher"]

_KEYS = frozenset(
    {
        "min_seconds",
        "max_seconds",
        "min_bytes",
        "min_bytes_toclient",
        "min_bytes_toserver",
        "min_down_ratio",
        "max_down_ratio",
        "kbps_toclient",
        "min_packets",
    }
)


class BehaviourMatcher:
    kind: ClassVar[str] = "behaviour"

    __slots__ = ("limits",)

    def __init__(self, limits: dict[str, Any]) -> None:
        self.limits = limits

    @classmethod
    def parse(cls, field: str | None, value: Any) -> BehaviourMatcher:
        if field:
            raise ValueError("behaviour: takes no `field`")
        if not isinstance(value, Mapping) or not value:
            raise ValueError("behaviour: expected a mapping of thresholds")
        bad = set(value) - _KEYS
        if bad:
            raise ValueError(
                f"behaviour: unknown {sorted(bad)} (known: {', '.join(sorted(_KEYS))})"
            )
        limits: dict[str, Any] = {}
        for k, x in value.items():
            if k == "kbps_toclient":
                if not (isinstance(x, list) and len(x) == 2 and all(_num(i) for i in x)):
                    raise ValueError("behaviour: kbps_toclient: expected [low, high]")
                limits[k] = (float(x[0]), float(x[1]))
            elif not _num(x):
                raise ValueError(f"behaviour: {k}: expected a number, got {x!r}")
            else:
                limits[k] = float(x)
        return cls(limits)

    def match(self, v: FlowView) -> Evidence | None:
        lim = self.limits
        # cheapest and most selective first: a flood's one-packet flows leave at once
        if v.pkts_ts + v.pkts_tc < lim.get("min_packets", 0):
            return None
        total = v.bytes_ts + v.bytes_tc
        if total < lim.get("min_bytes", 0) or v.bytes_tc < lim.get("min_bytes_toclient", 0):
            return None
        if v.bytes_ts < lim.get("min_bytes_toserver", 0):
            return None
        secs = v.duration
        if not lim.get("min_seconds", 0) <= secs <= lim.get("max_seconds", float("inf")):
            return None
        down = v.bytes_tc / total if total else 0.0
        if not lim.get("min_down_ratio", 0) <= down <= lim.get("max_down_ratio", 1):
            return None
        kbps = v.bytes_tc * 8 / secs / 1000 if secs > 0 else 0.0
        band = lim.get("kbps_toclient")
        if band is not None and not band[0] <= kbps <= band[1]:
            return None
        return (
            f"behaviour=duration {secs:.0f}s, {total} bytes, {down:.0%} down, "
            f"{kbps:.0f} kbit/s down",
            1.0,
        )

    def gate(self) -> Gate | None:
        """Flows too small for the byte thresholds are never tried: the flow's total byte
        count has at least as many bits as the largest threshold."""
        least = max(
            (
                self.limits.get(k, 0)
                for k in ("min_bytes", "min_bytes_toclient", "min_bytes_toserver")
            ),
            default=0,
        )
        if least < 1024:
            return None
        return (("volume", frozenset(range(int(least).bit_length(), 65))),)


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x >= 0
