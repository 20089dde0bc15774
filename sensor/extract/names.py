"""Names learnt from DNS answers, per client, for flows that carry no name of their own.

A client that resolved chatgpt.com and then connects to the answered address with ECH (or an
app that talks to a bare IP) still gets `server_name = chatgpt.com`, `server_name_source =
dns`. Entries respect the answer's TTL, but never name for less than `min_seconds` (a TTL-0
answer still names the connection its client opens right after it), and the cache is bounded
(oldest out first). Another client's answer never names a flow: the key is (client, address).
Answers that expired before the oldest packet still to come are forgotten (`prune`), so a long
capture or a long-running sensor holds the names of the last TTLs, not of every answer seen.
"""

from __future__ import annotations

from collections import OrderedDict

from sensor.extract.base import set_server_name
from sensor.flow.state import FlowState

__all__ = ["DnsNames", "addr_key"]

_NS = 1_000_000_000
_SIGN, _WRAP = 1 << 63, 1 << 64

AddrKey = tuple[int, int]


def _s64(x: int) -> int:
    return x - _WRAP if x >= _SIGN else x


def addr_key(raw: bytes) -> AddrKey:
    """An address as the flow key spells it: two signed 64-bit halves, IPv4 in the low one."""
    if len(raw) == 4:
        return 0, int.from_bytes(raw, "big")
    return _s64(int.from_bytes(raw[:8], "big")), _s64(int.from_bytes(raw[8:], "big"))


class DnsNames:
    """(client, answered address) -> (name, seen, expires); bounded, the entry at the front
    (the least recently learnt, or looked at by `prune` and found still valid) out first."""

    def __init__(self, size: int = 200_000, min_seconds: float = 60.0) -> None:
        self._size = size
        self._min = int(min_seconds * _NS)
        self._map: OrderedDict[tuple[int, int, int, int], tuple[str, int, int]] = OrderedDict()
        self.unmatched = 0
        """Answers not learnt: they matched no query seen from that client (forged?)."""
        self.evicted = 0
        """Answers forgotten before their time because the cache was full (oldest first)."""
        self._learnt = 0
        """Answers learnt since the last prune: how far the next one looks."""

    def __len__(self) -> int:
        return len(self._map)

    def learn(self, client: AddrKey, answer: AddrKey, name: str, ttl: int, ts: int) -> None:
        """Remember that `client` was told `answer` is `name`, valid for `ttl` seconds."""
        key = (*client, *answer)
        self._map[key] = (name, ts, ts + max(ttl * _NS, self._min))
        self._map.move_to_end(key)
        self._learnt += 1
        if len(self._map) > self._size:
            self._map.popitem(last=False)
            self.evicted += 1

    def known(self, pairs: list[tuple[int, int, int, int]]) -> list[bool]:
        """Per (client hi, client lo, server hi, server lo): is there an answer at all?"""
        m = self._map
        return [p in m for p in pairs]

    def prune(self, before_ns: int) -> None:
        """Forget answers that expired before `before_ns`: no flow starting then or later can
        use them (the pipeline passes the earliest packet time of the frames it is about to
        process, so names never depend on when this runs). Looks at the oldest entries, as
        many as were learnt since the last call and at least 64: expired ones go, live ones
        (a long TTL learnt early) move behind the others, so the work stays proportional to
        what is learnt."""
        m = self._map
        look = min(len(m), max(64, 2 * self._learnt))
        self._learnt = 0
        for _ in range(look):
            key, entry = next(iter(m.items()))
            if entry[2] < before_ns:
                del m[key]
            else:
                m.move_to_end(key)

    def annotate(self, flow: FlowState) -> None:
        """Give a flow without a server name the name its client resolved for the server."""
        if not self._map:
            return
        k = flow.key
        key = (k[0], k[1], k[2], k[3]) if flow.client_is_lo else (k[2], k[3], k[0], k[1])
        hit = self._map.get(key)
        if hit is not None and hit[1] <= flow.ts_first <= hit[2]:
            set_server_name(flow, hit[0], "dns")
