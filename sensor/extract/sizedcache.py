"""A cache bounded in entries and in bytes, for values built from what a sender chose.

Keys and values that traffic picks can be of any size a packet allows, so a bound on entries
alone bounds nothing: 8,192 ClientHello shapes of 64 KB hold gigabytes. The caller says what
each entry costs (an estimate from above, held to tracemalloc's figure by a test); when the
next entry would pass either bound the cache starts again empty, so a lookup stays O(1) and
a flood of new keys costs misses, never memory. An entry over 1/64 of the bytes is not kept:
it could only push out the ordinary ones.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["SizedCache"]

K = TypeVar("K")
V = TypeVar("V")


class SizedCache(Generic[K, V]):
    """`get`, and `put` with the entry's estimated bytes; `evicted` counts the entries
    dropped or never kept, `nbytes` what the kept ones are estimated to hold."""

    __slots__ = ("_map", "evicted", "limit", "max_bytes", "nbytes")

    def __init__(self, limit: int, max_bytes: int) -> None:
        self._map: dict[K, V] = {}
        self.limit = limit
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._map)

    def get(self, key: K) -> V | None:
        return self._map.get(key)

    def put(self, key: K, value: V, size: int) -> None:
        """Keep `value` under `key`, `size` bytes by the caller's estimate."""
        if size > self.max_bytes >> 6:
            self.evicted += 1
            return
        if len(self._map) >= self.limit or self.nbytes + size > self.max_bytes:
            self.evicted += len(self._map)
            self._map.clear()
            self.nbytes = 0
        self._map[key] = value
        self.nbytes += size
