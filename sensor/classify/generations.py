"""A bounded map for the classifier's caches (candidate plans, remembered verdicts).

Traffic picks the keys, so a hostile flood of ever new names must cost misses, never memory;
an LRU would pay a bookkeeping step on every hit, which is the common case. Two generations
bound the map at O(1) per lookup: a hit in the older one moves up, and when the newer one is
full the older is dropped whole.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["MISSING", "Generations"]

MISSING: Any = object()
"""What `Generations.get` returns for an absent key (None can be a cached value)."""


class Generations:
    """A bounded map: lookups try the newer generation, then the older (moving a hit up);
    when the newer is full the older is dropped whole. O(1), at most 2 x `size` entries."""

    __slots__ = ("counts", "new", "old", "size")

    def __init__(self, size: int, counts: Counter[str] | None = None) -> None:
        self.size = size
        self.new: dict[Any, Any] = {}
        self.old: dict[Any, Any] = {}
        self.counts = counts
        """Where the entries dropped are counted (`evicted`), for metrics; None: not counted."""

    def get(self, key: Any) -> Any:
        found = self.new.get(key, MISSING)
        if found is MISSING:
            found = self.old.get(key, MISSING)
            if found is not MISSING:
                self.put(key, found)
        return found

    def put(self, key: Any, value: Any) -> None:
        if len(self.new) >= self.size:
            if self.counts is not None:
                self.counts["evicted"] += len(self.old)
            self.old = self.new
            self.new = {}
        self.new[key] = value
