"""The `health` table: what the sensor saw and missed, as deltas whose sums equal the run's
counters, one row per flush interval of packet time and one at exit."""

from __future__ import annotations

import datetime as dt
import struct
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import duckdb

from sensor.cli import demo_capture, main
from sensor.config import SensorConfig
from sensor.pipeline import Summary
from sensor.sinks.health import HealthSink, Tally
from sensor.sinks.schema import HEALTH_COLUMNS
from sensor.sinks.segments import StoreConfig
from tests.tools.shifted_store import shift_capture

SUMS = ", ".join(f"sum({c.name})" for c in HEALTH_COLUMNS[1:-1])
# Ethernet + IPv4 ethertype + 4 bytes of an IP header: a frame the decoder cannot read
BAD_FRAME = bytes.fromhex("02000000000502000000000c0800" + "45000014")


def damaged_capture(folder: Path, bad_frames: int = 3) -> Path:
    """The demo as classic pcap, plus frames with a cut IP header, and a last record whose
    bytes stop short (a capture copied while it was being written)."""
    path = shift_capture(demo_capture(), folder / "damaged.pcap", dt.timedelta(0))[0]
    with path.open("ab") as f:
        for i in range(bad_frames):
            f.write(struct.pack("<IIII", 1764086400, i, len(BAD_FRAME), 60) + BAD_FRAME)
        f.write(struct.pack("<IIII", 1764086401, 0, 200, 200) + bytes(50))
    return path


def test_replay_of_a_damaged_capture_sums_to_its_summary(tmp_path: Path, replay) -> None:
    cfg = SensorConfig()
    cfg = replace(cfg, storage=replace(cfg.storage, flush_seconds=1.0))
    later = shift_capture(demo_capture(), tmp_path / "later.pcap", dt.timedelta(minutes=1))
    db, summary = replay([damaged_capture(tmp_path), *later], cfg)
    rows = db.execute(f"SELECT count(*), {SUMS} FROM health WHERE sensor <> '_schema'").fetchone()
    assert rows is not None
    n, *sums = rows
    assert sums == [
        summary.packets,
        summary.bytes,
        sum(summary.decode_errors.values()),
        sum(summary.capture_errors.values()),
        0,  # no kernel in a replay
        sum(summary.extractor_errors.values()),
        sum(summary.sink_errors.values()),
        0,
    ]
    assert summary.decode_errors["truncated_ip"] == 3
    assert summary.capture_errors == Counter(truncated_record=1)
    # one batch per file here: a row after the later file's batch (a minute of packet time
    # on), which holds the first file's damage known at its end, and one at exit
    assert n == 2
    first = db.execute(
        "SELECT capture_errors, decode_errors FROM health WHERE sensor <> '_schema' ORDER BY ts"
    ).fetchone()
    assert first == (1, 3)
    ends = db.execute(
        "SELECT (SELECT max(ts) FROM health), (SELECT max(ts_end) FROM flows WHERE sensor <> "
        "'_schema')"
    ).fetchone()
    # packet time: the flow table's clock, which trails the newest packet by at most one
    # packet (a lone far-future timestamp must not move it)
    assert ends is not None and dt.timedelta(0) <= ends[1] - ends[0] <= dt.timedelta(seconds=5), (
        "rows are dated in packet time"
    )


def test_cli_replay_writes_health_beside_flows(tmp_path: Path, capsys) -> None:
    db = tmp_path / "d.duckdb"
    assert main(["replay", "--db", str(db), str(damaged_capture(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "decode_errors=3" in out and "truncated_record=1" in out
    con = duckdb.connect(str(db), read_only=True)
    sums = con.execute(f"SELECT {SUMS} FROM health").fetchone()
    said = dict(w.split("=") for w in out.splitlines()[0].split())
    assert sums is not None
    assert sums[:4] == (int(said["packets"]), int(said["bytes"]), 3, 1)


def _fake(now: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        summary=Summary(), table=SimpleNamespace(now=now), wireless=SimpleNamespace(last=0)
    )


def test_rows_are_deltas_per_interval_of_packet_time(tmp_path: Path) -> None:
    cfg = StoreConfig(catalog=tmp_path / "x.duckdb", sensor="s", flush_seconds=10, site="hq")
    lost = [0]
    sink = HealthSink(cfg, lambda: lost[0], clock=lambda: 0.0)
    pipe, drops = _fake(), [0]
    sink.watch(pipe, lambda: drops[0])  # type: ignore[arg-type]
    sink.flush()  # no packet yet: no row, no clock
    for second in (100, 105, 110, 125, 126):
        pipe.table.now = second * 10**9
        pipe.summary.packets += 10
        pipe.summary.decode_errors["truncated_ip"] += 1
        drops[0] += 2
        sink.flush()
    lost[0] = 4
    sink.close()
    got = [(r["ts"] // 10**6, r["packets"], r["kernel_drops"], r["rows_lost"]) for r in _rows(sink)]
    # intervals end at 110 and 125 (10 s after the previous row); exit at 126
    assert got == [(110, 30, 6, 0), (125, 10, 2, 0), (126, 10, 2, 4)]
    assert sum(r["decode_errors"] for r in _rows(sink)) == 5


def _rows(sink: HealthSink) -> list[dict[str, int]]:
    import pyarrow.parquet as pq

    root = sink._table.writer.data_dir / "health" / "sensor=s"
    rows = [r for seg in sorted(root.glob("*/*.parquet")) for r in pq.read_table(seg).to_pylist()]
    return [
        {**r, "ts": int(r["ts"].timestamp() * 1e6)} for r in sorted(rows, key=lambda r: r["ts"])
    ]


def test_a_run_without_packets_writes_only_damage(tmp_path: Path) -> None:
    cfg = StoreConfig(catalog=tmp_path / "x.duckdb", sensor="s")
    quiet = HealthSink(cfg)
    quiet.watch(_fake())  # type: ignore[arg-type]
    quiet.close()
    assert _rows(quiet) == []
    broken = HealthSink(cfg)
    pipe = _fake()
    pipe.summary.capture_errors["corrupt_record"] += 1
    broken.watch(pipe)  # type: ignore[arg-type]
    broken.close()
    assert [r["capture_errors"] for r in _rows(broken)] == [1]


def test_tally_minus() -> None:
    assert Tally(5, 50, 1).minus(Tally(2, 20)) == Tally(3, 30, 1)
    assert Tally().empty() and not Tally(rows_lost=1).empty()
