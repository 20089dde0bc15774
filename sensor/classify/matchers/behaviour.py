"""`behaviour`: thresholds on the flow's own numbers, for traffic no name gives away
(an unknown radio station: long, mostly downstream, a steady audio bit rate).

Keys (all optional, all must hold): min_seconds, max_seconds, min_bytes, min_bytes_toclient,
min_bytes_toserver, min_down_ratio (share of bytes sent by the server), max_down_ratio,
kbps_toclient: [low, high] (server-to-client rate over the flow's duration), min_packets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sensor.classify.matchers.base import ANYTHING, RAW, Evidence, Gate, Need
from sensor.classify.view import FlowView, Networks

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

    __slots__ = ("band", "limits", "lower", "upper")

    def __init__(self, limits: dict[str, Any]) -> None:
        self.limits = limits
        # the thresholds as plain tuples, read once: this clause runs on many records
        g = limits.get
        self.lower = (
            g("min_seconds", 0.0),
            g("min_bytes", 0.0),
            g("min_bytes_toclient", 0.0),
            g("min_bytes_toserver", 0.0),
            g("min_down_ratio", 0.0),
            g("min_packets", 0.0),
        )
        self.upper = (g("max_seconds", float("inf")), g("max_down_ratio", 1.0))
        self.band: tuple[float, float] | None = g("kbps_toclient")

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
        min_s, min_b, min_tc, min_ts, min_down, min_pkts = self.lower
        max_s, max_down = self.upper
        secs = v.duration
        tc, ts = v.bytes_tc, v.bytes_ts
        total = ts + tc
        if not (min_s <= secs <= max_s and total >= min_b and tc >= min_tc and ts >= min_ts):
            return None
        if v.pkts_ts + v.pkts_tc < min_pkts:
            return None
        down = tc / total if total else 0.0
        if not min_down <= down <= max_down:
            return None
        kbps = tc * 8 / secs / 1000 if secs > 0 else 0.0
        band = self.band
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

    def requires(self, nets: Networks) -> Need:
        return ANYTHING

    def reads(self) -> frozenset[str]:
        """The flow's own numbers, quoted in the evidence."""
        return frozenset({RAW})


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x >= 0
