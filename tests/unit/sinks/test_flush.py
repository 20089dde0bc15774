"""Records reach segments by row count and by packet time, so a replay's memory is bounded
by the flows in flight, not by the length of the capture (issue 15)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.config import SensorConfig
from sensor.pipeline import Pipeline
from sensor.sinks import FlowStore, default_sinks, store_config
from sensor.sinks.segments import FlushTimer, SegmentWriter, StoreConfig
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


class _Batches:
    """A flow export that keeps the size of each batch the store hands on."""

    name = "batches"

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def export_flows(self, table: pa.Table) -> None:
        self.sizes.append(len(table))

    def close(self) -> None:
        pass


def _replay(tmp_path: Path, flush_rows: int, flush_seconds: float) -> tuple[list[int], list[int]]:
    """(rows per batch taken out of the buffer, rows per segment written)."""
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
    batches = _Batches()
    sinks.flows.exports.append(batches)
    pipe = Pipeline(cfg, list(sinks), classifier)
    summary = pipe.run([open_capture(p, block_bytes=4096)])
    assert summary.records == 600
    rows = _segments(tmp_path / "t.data" / "flows")
    assert sum(rows) == sum(batches.sizes) == 600
    return batches.sizes, rows


def test_replay_takes_records_out_by_packet_time(tmp_path: Path) -> None:
    taken, written = _replay(tmp_path, flush_rows=100_000, flush_seconds=120)
    # a replay takes well under 120 s of wall time: every batch but the last left the buffer
    # on packet time, about 120 records each (plus up to a block of frames: flushes come
    # between blocks); the last holds the flows still in flight at the end
    assert len(taken) >= 4, taken
    assert max(taken[:-1]) <= 200, taken
    assert written == [600]  # the segment waits for flush_rows (or wall time): one file


def test_replay_writes_segments_by_row_count(tmp_path: Path) -> None:
    _, written = _replay(tmp_path, flush_rows=50, flush_seconds=10**9)
    assert len(written) >= 12 and max(written) <= 50, written


def test_segments_hold_at_most_about_flush_rows(tmp_path: Path) -> None:
    taken, written = _replay(tmp_path, flush_rows=250, flush_seconds=120)
    assert len(written) >= 2 and max(written) <= 250 + 200, (taken, written)


def test_wall_time_writes_segments_when_packet_time_stands_still(tmp_path: Path) -> None:
    """A replay fed slowly through a pipe (or a quiet link): records reach segments on wall
    time, so a kill -9 loses at most one interval, and a deleted catalog is made again."""
    frames = [(T0 + i / 100, ETH + udp(0x0A000001, 1000 + i, 0x0A000002, 53)) for i in range(300)]
    p = tmp_path / "three-seconds.pcap"
    p.write_bytes(pcap(frames))
    cfg = SensorConfig()
    storage = replace(cfg.storage, catalog=tmp_path / "w.duckdb", flush_seconds=30)
    cfg = replace(cfg, storage=storage, sensor=replace(cfg.sensor, name="test"),
                  flow=replace(cfg.flow, timeouts=replace(cfg.flow.timeouts, udp=0.1)))  # fmt: skip
    classifier = build_classifier(cfg.signatures, cfg.policy)
    wall = [0.0]

    def clock() -> float:  # 31 s of wall time pass between two looks
        wall[0] += 31.0
        return wall[0]

    store = FlowStore(store_config(cfg), clock=clock)
    pipe = Pipeline(cfg, [store], classifier)
    seen: list[int] = []

    def progress(src: object, summary: object) -> None:
        seen.append(len(_segments(tmp_path / "w.data" / "flows")))
        if len(seen) == 3:
            (tmp_path / "w.duckdb").unlink()

    pipe.run([open_capture(p, block_bytes=4096)], progress=progress)
    assert seen[0] >= 1 and seen[-1] > seen[0], seen  # written during the run, not at its end
    assert (tmp_path / "w.duckdb").exists()
    assert sum(_segments(tmp_path / "w.data" / "flows")) == 300


def test_an_unwritable_disk_drops_only_the_oldest_excess_rows(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]

    cfg = StoreConfig(catalog=tmp_path / "x.duckdb", sensor="s", max_buffered_rows=5)
    schema = pa.schema([("ts", pa.timestamp("us", tz="UTC")), ("n", pa.int64())])
    w = SegmentWriter(cfg, "t", schema, "ts")

    def full(table: pa.Table) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w, "_write_table", full)
    for start in (0, 4):
        w.add(pa.table({"ts": pa.array([T0 * 1e6] * 4, pa.int64()).cast(schema[0].type),
                        "n": list(range(start, start + 4))}, schema=schema))  # fmt: skip
    w.write_pending()  # merged into one table of 8, then the 3 oldest rows dropped
    assert w.pending_rows == 5 and w.stats.rows_dropped == 3
    assert w._pending[0].column("n").to_pylist() == [3, 4, 5, 6, 7]


def _segs(tmp_path: Path) -> list[int]:
    root = tmp_path / "x.data" / "t"
    return [pq.read_metadata(f).num_rows for f in sorted(root.glob("sensor=s/date=*/*.parquet"))]


def _small_writer(tmp_path: Path) -> tuple[SegmentWriter, pa.Schema]:
    cfg = StoreConfig(catalog=tmp_path / "x.duckdb", sensor="s", max_buffered_rows=100)
    schema = pa.schema([("ts", pa.timestamp("us", tz="UTC")), ("n", pa.int64())])
    return SegmentWriter(cfg, "t", schema, "ts"), schema


def _rows(schema: pa.Schema, start: int, n: int) -> pa.Table:
    ts = pa.array([int(T0 * 1e6)] * n, pa.int64()).cast(schema[0].type)
    return pa.table({"ts": ts, "n": list(range(start, start + n))}, schema=schema)


def test_a_background_write_lands_and_is_waited_for(tmp_path: Path) -> None:
    """The flows writer's thread: write_pending returns at once, the next call (or settle,
    or close) waits for it; the rows are in one segment, counted once."""
    w, schema = _small_writer(tmp_path)
    w.add(_rows(schema, 0, 10))
    w.write_pending(background=True)
    assert w.pending_rows in (0, 10)  # in flight or done: never lost, never twice
    w.add(_rows(schema, 10, 5))
    w.write_pending(background=True)  # waits for the first, then hands on the second
    w.close()
    assert w.pending_rows == 0 and w.stats.rows_written == 15
    assert sorted(_segs(tmp_path)) == [5, 10]


def test_a_failed_background_write_is_kept_and_retried(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Disk full in the writer's thread: the table comes back in front of newer ones, the
    error is counted, and the next write (the disk has room again) writes every row."""
    w, schema = _small_writer(tmp_path)
    real = w._write_table
    monkeypatch.setattr(w, "_write_table", lambda t: (_ for _ in ()).throw(OSError(28, "full")))
    w.add(_rows(schema, 0, 4))
    w.write_pending(background=True)
    w.settle()
    assert w.stats.write_errors == 1 and w.pending_rows == 4
    monkeypatch.setattr(w, "_write_table", real)
    w.add(_rows(schema, 4, 4))
    w.write_pending()
    w.close()
    assert w.stats.rows_written == 8 and w.pending_rows == 0
    assert _segs(tmp_path) == [8]  # merged, oldest rows first kept


def test_a_background_bug_reaches_the_caller_rows_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, schema = _small_writer(tmp_path)
    monkeypatch.setattr(w, "_write_table", lambda t: (_ for _ in ()).throw(ValueError("bug")))
    w.add(_rows(schema, 0, 3))
    w.write_pending(background=True)
    with pytest.raises(ValueError):
        w.settle()
    assert w.pending_rows == 3


def test_records_made_and_written_by_the_writer_thread(tmp_path: Path) -> None:
    """No exports: records due by row count are made a table, summed up and written by the
    store's writer thread. Every record lands once, and the rollups count them all."""
    frames = [(T0 + i, ETH + udp(0x0A000001, 1000 + i, 0x0A000002, 53)) for i in range(600)]
    p = tmp_path / "ten-minutes.pcap"
    p.write_bytes(pcap(frames))
    cfg = SensorConfig()
    storage = replace(cfg.storage, catalog=tmp_path / "t.duckdb", flush_rows=50,
                      flush_seconds=10**9)  # fmt: skip
    cfg = replace(cfg, storage=storage, sensor=replace(cfg.sensor, name="test"))
    classifier = build_classifier(cfg.signatures, cfg.policy)
    store = FlowStore(store_config(cfg))
    assert not store.exports
    Pipeline(cfg, [store], classifier).run([open_capture(p, block_bytes=4096)])
    written = _segments(tmp_path / "t.data" / "flows")
    assert sum(written) == 600 and len(written) >= 12 and max(written) <= 50, written
    rollups = tmp_path / "t.data" / "rollups"
    counted = sum(
        sum(pq.read_table(f).column("records").to_pylist())
        for f in rollups.glob("sensor=test/date=*/*.parquet")
    )
    assert counted == 600


def test_the_backlog_counts_records_the_writer_thread_is_making(tmp_path: Path) -> None:
    """sensor_store_backlog_rows: records handed to the writer thread still count as waiting
    until a segment holds them, and none once it does."""
    cfg = SensorConfig()
    storage = replace(cfg.storage, catalog=tmp_path / "b.duckdb", flush_rows=10)
    cfg = replace(cfg, storage=storage, sensor=replace(cfg.sensor, name="test"))
    store = FlowStore(store_config(cfg))
    store.flush(force=True)  # the first flush also runs retention, which waits for the thread
    gate = threading.Event()
    build = store._records.build

    def slow(held):  # type: ignore[no-untyped-def]
        gate.wait(10)
        return build(held)

    store._records.build = slow  # type: ignore[method-assign]
    frames = [(T0 + i, ETH + udp(0x0A000001, 1000 + i, 0x0A000002, 53)) for i in range(10)]
    p = tmp_path / "ten.pcap"
    p.write_bytes(pcap(frames))
    pipe = Pipeline(cfg, [store], build_classifier(cfg.signatures, cfg.policy))
    pipe.process(next(iter(open_capture(p).batches())))
    pipe.table.flush("eof")  # ends the 10 flows: a segment's worth, handed to the thread ...
    assert store.backlog == 10  # ... which has not made their table yet
    gate.set()
    store._writer.settle()
    assert store.backlog == 0 and sum(_segments(tmp_path / "b.data" / "flows")) == 10
    store.close()
