"""Records reach segments by row count and by packet time, so a replay's memory is bounded
by the flows in flight, not by the length of the capture (issue 15)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq

from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.config import SensorConfig
from sensor.pipeline import Pipeline
from sensor.sinks import default_sinks
from sensor.sinks.segments import FlushTimer, StoreConfig
from tests.tools.hostile import ETH, pcap, udp

T0 = 1_764_086_400.0


def test_timer_counts_packet_time_and_wall_time(tmp_path: Path) -> None:
    wall = [0.0]
    t = FlushTimer(StoreConfig(catalog=tmp_path / "x.duckdb", sensor="s", flush_seconds=30),
                   lambda: wall[0])  # fmt: skip
    assert not t.due(False)
    t.advance(1_000 * 10**9)  # packet time starts here
    t.advance(1_029 * 10**9)
    assert not t.due(False)
    t.advance(1_030 * 10**9)  # 30 s of packets, no wall time at all: a fast replay
    assert t.due(False) and not t.due(False)
    t.advance(1_050 * 10**9)
    t.advance(900 * 10**9)  # an earlier packet does not move the clock back
    assert not t.due(False)
    t.advance(10**18)  # a far-future time: one flush, then the wall clock alone
    assert t.due(False) and not t.due(False)
    t.advance(1_100 * 10**9)
    assert not t.due(False)
    wall[0] = 31.0  # a quiet link, or a pipe fed slowly: the wall clock flushes
    assert t.due(False) and not t.due(False)
    assert t.due(True)


def _segments(root: Path) -> list[int]:
    return [pq.read_metadata(f).num_rows for f in sorted(root.glob("sensor=test/date=*/*.parquet"))]


def _replay(tmp_path: Path, flush_rows: int, flush_seconds: float) -> list[int]:
    # 600 one-packet DNS flows, one per second of packet time (ten minutes), read in small
    # blocks so the pipeline flushes between them
    frames = [(T0 + i, ETH + udp(0x0A000001, 1000 + i, 0x0A000002, 53)) for i in range(600)]
    p = tmp_path / "ten-minutes.pcap"
    p.write_bytes(pcap(frames))
    cfg = SensorConfig()
    storage = replace(cfg.storage, catalog=tmp_path / "t.duckdb", flush_rows=flush_rows,
                      flush_seconds=flush_seconds)  # fmt: skip
    cfg = replace(cfg, storage=storage, sensor=replace(cfg.sensor, name="test"))
    classifier = build_classifier(cfg.signatures, cfg.policy)
    sinks = default_sinks(cfg, dict(classifier.provisions))
    pipe = Pipeline(cfg, list(sinks), classifier)
    summary = pipe.run([open_capture(p, block_bytes=4096)])
    assert summary.records == 600
    rows = _segments(tmp_path / "t.data" / "flows")
    assert sum(rows) == 600
    return rows


def test_replay_flushes_by_packet_time(tmp_path: Path) -> None:
    rows = _replay(tmp_path, flush_rows=100_000, flush_seconds=120)
    # a replay takes well under 120 s of wall time: every segment but the last was due to
    # packet time, about 120 records each (plus up to a block of frames: flushes come
    # between blocks); the last holds the flows still in flight at the end
    assert len(rows) >= 4, rows
    assert max(rows[:-1]) <= 200, rows


def test_replay_flushes_by_row_count(tmp_path: Path) -> None:
    rows = _replay(tmp_path, flush_rows=50, flush_seconds=10**9)
    assert len(rows) >= 12 and max(rows) <= 50, rows
