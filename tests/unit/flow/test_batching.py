"""The batched flow table must give exactly the records of packet-by-packet processing.

Run sums, run boundaries and batch edges are an optimisation; this test is what allows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from sensor.capture.base import FrameBatch, SourceStats
from sensor.capture.pcapfile import open_capture
from sensor.config import FlowConfig, SensorConfig
from sensor.flow.table import FlowTimeouts
from sensor.pipeline import Pipeline
from tests.conftest import corpus_pcaps
from tests.tools.record_dump import Collect


class _Sliced:
    """A capture re-batched into batches of `size` frames (1 = packet by packet)."""

    def __init__(self, path: Path, size: int) -> None:
        self._src = open_capture(path)
        self.name, self.stats, self._size = str(path), SourceStats(), size

    def batches(self) -> Iterator[FrameBatch]:
        for b in self._src.batches():
            for i in range(0, len(b), self._size):
                s = slice(i, i + self._size)
                yield FrameBatch(
                    b.linktype, b.data, b.offsets[s], b.caplens[s], b.wirelens[s], b.ts[s]
                )

    def close(self) -> None:
        self._src.close()


def _records(path: Path, size: int, cfg: SensorConfig, columnar: bool = True) -> list[dict]:  # type: ignore[type-arg]
    sink = Collect()
    Pipeline(cfg, [sink], columnar=columnar).run([_Sliced(path, size)])
    table = sink.buf.take() or pa.table({})
    return sorted(table.to_pylist(), key=lambda r: (r["flow_id"], r["segment"]))


_SHORT = SensorConfig(flow=FlowConfig(timeouts=FlowTimeouts(udp=20, other=10, active=30)))


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_pcaps(), ids=lambda p: p.name)
def test_batched_equals_packet_by_packet(path: Path) -> None:
    """Short timeouts make the corpus full of idle splits and interim records."""
    exact = _records(path, 1, _SHORT)
    assert _records(path, 1 << 30, _SHORT) == exact
    assert _records(path, 7, _SHORT) == exact  # batch edges in the middle of runs


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_pcaps(), ids=lambda p: p.name)
def test_pending_rows_give_the_records_of_flow_objects(path: Path) -> None:
    """The columnar tier for one-sided payload-less flows (sensor/flow/pending.py) against
    the reference that makes every flow a FlowState at its first packet: every record, every
    column (flow_id, counters, end reason, verdict fields) identical."""
    reference = _records(path, 1 << 30, _SHORT, columnar=False)
    assert _records(path, 1 << 30, _SHORT) == reference
