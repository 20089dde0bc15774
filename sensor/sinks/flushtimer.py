"""FlushTimer: when a store moves its buffered rows on, by packet time or the wall clock."""

from __future__ import annotations

from collections.abc import Callable

from sensor.sinks.storeconfig import StoreConfig

__all__ = ["FlushTimer"]


class FlushTimer:
    """When a store moves its buffered rows on (a RowTable writes them; the flow store takes
    them out of its Python buffer, see FlowStore.flush): once `flush_seconds` have passed on
    either of two clocks since the last time, or when the caller forces it (row count, exit).

    - Packet time, fed by `advance(now_ns)` from the pipeline (the flow table's clock, which a
      lone far-future timestamp does not move). A replay flushes as the same traffic would
      live, whatever the replay speed: a capture of a week is written as it goes, not held
      until a wall-clock interval ends (a fast replay reads days of packets in 30 s).
    - The wall clock `clock`: a quiet link, or a replay fed slowly through a pipe, still
      flushes, so a kill -9 loses at most one interval.

    Whichever advances first triggers; both restart at each flush. A timestamp far in the
    future makes one early flush, then packet time waits for the traffic to catch up and
    the wall clock alone keeps flushing.
    """

    def __init__(self, cfg: StoreConfig, clock: Callable[[], float]) -> None:
        self._cfg = cfg
        self._clock = clock
        self._last = clock()
        self._packet_ns = 0
        self._packet_last_ns: int | None = None

    def advance(self, now_ns: int) -> None:
        """Packet time has reached `now_ns` (earlier times are ignored)."""
        if now_ns > self._packet_ns:
            self._packet_ns = now_ns
            if self._packet_last_ns is None:
                self._packet_last_ns = now_ns

    def due(self, force: bool) -> bool:
        interval = self._cfg.flush_seconds
        last = self._packet_last_ns
        if (
            not force
            and self._clock() - self._last < interval
            and (last is None or self._packet_ns - last < interval * 1e9)
        ):
            return False
        self._last = self._clock()
        if last is not None:
            self._packet_last_ns = self._packet_ns
        return True
