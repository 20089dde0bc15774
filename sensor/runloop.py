"""The replay loop: every source in order, a stop honoured between batches (or inside a
read that would block), and whatever ends the run, the flows read so far written. Live
capture has its own loop (`sensor/live.py`) over the same Pipeline steps, and both tune
garbage collection with `flow_heavy_gc`."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sensor.capture.base import PacketSource
from sensor.control import ReadInterrupted
from sensor.summary import Summary

if TYPE_CHECKING:  # only the type: the pipeline imports this module
    from sensor.pipeline import Pipeline

__all__ = ["Progress", "flow_heavy_gc", "replay_sources"]

Progress = Callable[[PacketSource, Summary], None]
"""Called after every batch with its source and the summary so far (the progress bar)."""

_GC_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def flow_heavy_gc() -> Iterator[None]:
    """Cyclic garbage collection tuned for a flow table: a SYN flood keeps up to `max_flows`
    objects alive for minutes, and the default thresholds scan them all again every few
    hundred thousand allocations (a third of a flood replay's time). Young cycles are still
    collected; full collections become rare, and what was built before the capture (modules,
    signatures) is frozen out of them. The previous thresholds come back at the end."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def replay_sources(
    pipe: Pipeline, sources: Sequence[PacketSource], progress: Progress | None
) -> Summary:
    """Replay every source in order, then end all flows (`eof`) and close the sinks."""
    t0 = time.perf_counter()
    try:
        with flow_heavy_gc():
            _run(pipe, sources, progress)
    finally:
        pipe.summary.seconds = time.perf_counter() - t0
    return pipe.summary


def _run(pipe: Pipeline, sources: Sequence[PacketSource], progress: Progress | None) -> None:
    summary, control = pipe.summary, pipe.control
    try:
        for src in sources:
            try:
                _replay(pipe, src, progress)
            finally:
                summary.capture_errors.update(src.stats.errors)
                summary.capture_bytes_lost += src.stats.bytes_lost
                src.close()
            if control.stopping:
                break
    finally:  # whatever stopped the replay (an error too), the flows read so far are written
        pipe.finish("shutdown" if control.stopping else "eof")


def _replay(pipe: Pipeline, src: PacketSource, progress: Progress | None) -> None:
    batches = iter(src.batches())
    control, first_ts = pipe.control, pipe.first_ts
    while not control.stopping:
        control.reading = True
        try:
            batch = next(batches, None)
        except ReadInterrupted:
            return
        finally:
            control.reading = False
        if batch is None:
            return
        if len(batch) and src.name not in first_ts:
            first_ts[src.name] = int(batch.ts[0])
        pipe.guarded(batch)
        pipe.flush_sinks(force=False)
        if progress is not None:
            progress(src, pipe.summary)
