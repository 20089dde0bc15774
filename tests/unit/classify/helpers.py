"""Flows for classifier tests, built directly (no capture needed)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sensor.classify.view import FlowView, Networks
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState

T_WORK = 1_764_086_400 * 10**9  # 2025-11-25 10:00 in America/Chicago (a Tuesday)
T_LUNCH = T_WORK + (2 * 3600 + 15 * 60) * 10**9  # 12:15 the same day


def make_flow(
    src: str = "10.20.1.15",
    dst: str = "203.0.113.10",
    sport: int = 50000,
    dport: int = 443,
    proto: int = 6,
    meta: dict[str, Any] | None = None,
    ts: int = T_WORK,
    seconds: float = 1.0,
    bytes_ts: int = 1000,
    bytes_tc: int = 5000,
    pkts: tuple[int, int] = (5, 5),
) -> FlowState:
    """A flow from `src` (the client) to `dst`, with the given fields in meta."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    ver = a.version

    def halves(x: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
        n = int(x)
        return (0, n) if ver == 4 else (n >> 64, n & ((1 << 64) - 1))

    sa, sb = halves(a), halves(b)
    client_is_lo = (sa, sport) <= (sb, dport)
    lo, hi = (sa, sb) if client_is_lo else (sb, sa)
    lp, hp = (sport, dport) if client_is_lo else (dport, sport)
    key = (lo[0], lo[1], hi[0], hi[1], pack_ports(lp, hp, proto, ver))
    f = FlowState(key, 1, client_is_lo, proto, ts, ts, ts + int(seconds * 1e9))
    f.bytes_ts, f.bytes_tc = bytes_ts, bytes_tc
    f.pkts_ts, f.pkts_tc = pkts
    f.meta.update(meta or {})
    return f


def view(flow: FlowState, nets: Networks | None = None) -> FlowView:
    return FlowView(flow, nets or Networks())
