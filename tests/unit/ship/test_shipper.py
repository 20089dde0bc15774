"""The Shipper over a real directory destination: only closed segments move, a partial is
resumed (only the missing bytes sent), a bad partial is sent again, the ledger and the
destination's own copy keep a segment from being sent twice, and a failure keeps the local
copy. Segments are real ones, written by the sensor's SegmentWriter."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sensor.config import SensorConfig, SensorInfo, ShipConfig, StorageConfig, load_config
from sensor.errors import ConfigError
from sensor.metrics import ShipCollector
from sensor.ship import (
    DirectoryDestination,
    Shipper,
    SshDestination,
    build_shipper,
    open_destination,
)
from sensor.ship.destination import Digest, file_digest, partial_name
from sensor.ship.shipper import LEDGER_NAME, LOCK_NAME, closed_segments
from sensor.sinks import FlowStore, store_config
from sensor.sinks.segments import SegmentWriter, StoreConfig

SCHEMA = pa.schema([("ts", pa.timestamp("us", tz="UTC")), ("n", pa.int64())])


def _segments(data: Path, days: int = 3, rows: int = 5000) -> dict[str, Digest]:
    """Real segments of sensor `s1`, one per day; their relative paths and digests."""
    w = SegmentWriter(StoreConfig(catalog=data.with_suffix(".duckdb"), sensor="s1",
                                  data_dir=data), "flows", SCHEMA, "ts")  # fmt: skip
    for d in range(days):
        ts = pa.array([(1_764_000_000 + d * 86_400) * 10**6 + i for i in range(rows)])
        w.add(pa.table({"ts": ts.cast(SCHEMA.field("ts").type), "n": range(rows)}))
    w.write_pending()
    return {p.relative_to(data).as_posix(): file_digest(p) for p in closed_segments(data, "s1")}


def _dirs(tmp: Path) -> tuple[Path, Path]:
    (tmp / "fleet").mkdir()
    return tmp / "d.data", tmp / "fleet"


def _tree(root: Path) -> dict[str, Digest]:
    return {p.relative_to(root).as_posix(): file_digest(p) for p in root.rglob("*") if p.is_file()}


def test_closed_segments_move_and_temporaries_stay(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    want = _segments(data)
    tmp = next(iter(data.glob("flows/sensor=s1/date=*"))) / ".123-1-000009.parquet.999.tmp"
    tmp.write_bytes(b"half a segment")
    sh = Shipper(data, "s1", DirectoryDestination(dest))
    assert sh.ship_once()
    assert _tree(dest) == want and len(want) == 3  # schema marker (sensor=_schema) stays home
    assert tmp.exists() and not closed_segments(data, "s1")
    st = sh.stats
    assert (st.segments_shipped, st.bytes_shipped, st.failures) == (
        3, sum(d.size for d in want.values()), 0)  # fmt: skip
    assert st.backlog_segments == 0 and st.backlog_age_seconds == 0


def test_a_partial_is_resumed_with_only_the_missing_bytes(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    want = _segments(data, days=1)
    rel, digest = next(iter(want.items()))
    part = dest / partial_name(rel)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes((data / rel).read_bytes()[:1000])
    sh = Shipper(data, "s1", DirectoryDestination(dest))
    assert sh.ship_once()
    assert (sh.stats.resumed, sh.stats.bytes_shipped) == (1, digest.size - 1000)
    assert _tree(dest) == want


def test_a_partial_that_does_not_verify_is_sent_again(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    want = _segments(data, days=1)
    rel = next(iter(want))
    part = dest / partial_name(rel)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\0" * 1000)  # not a prefix of the segment
    sh = Shipper(data, "s1", DirectoryDestination(dest))
    assert not sh.ship_once()
    assert sh.stats.failures == 1 and (data / rel).exists() and not (dest / rel).exists()
    assert sh.ship_once()
    assert _tree(dest) == want and sh.stats.segments_shipped == 1


def test_nothing_is_sent_twice(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    want = _segments(data, days=2)
    (a, da), (b, _) = sorted(want.items())
    # a: the destination has it (a pass died after the rename); b: the ledger says verified
    (dest / a).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(data / a, dest / a)
    (data / LEDGER_NAME).write_text(  # and a line torn by a crash: ignored, logged
        f'{{"path": "{b}", "size": 1, "sha256": "x"}}\n{{"path": "flows/sens\n'
    )
    sh = Shipper(data, "s1", DirectoryDestination(dest))
    assert sh.ship_once()
    assert sh.stats.bytes_shipped == 0 and sh.stats.segments_shipped == 0
    assert not closed_segments(data, "s1") and _tree(dest) == {a: da}


def test_a_different_file_at_the_destination_is_left_alone(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    rel = next(iter(_segments(data, days=1)))
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    (dest / rel).write_bytes(b"someone else's file")
    sh = Shipper(data, "s1", DirectoryDestination(dest))
    assert not sh.ship_once()
    assert (data / rel).exists() and (dest / rel).read_bytes() == b"someone else's file"


def test_an_unwritable_destination_keeps_the_local_copies(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    want = _segments(data)
    dest.rmdir()  # an unmounted share: never created, nothing shipped
    dest.with_name("fleet").write_text("a file, not a directory")
    for f in closed_segments(data, "s1"):
        os.utime(f, (f.stat().st_atime, f.stat().st_mtime - 3600))  # written an hour ago
    sh = Shipper(data, "s1", DirectoryDestination(dest))
    assert not sh.ship_once()
    assert sh.stats.failures == 1 and sh.stats.backlog_segments == 3
    assert sh.stats.backlog_bytes == sum(d.size for d in want.values())
    assert 3600 <= sh.stats.backlog_age_seconds < 3700 and len(closed_segments(data, "s1")) == 3


def test_ship_metrics_are_exported(tmp_path: Path) -> None:
    data = tmp_path / "d.data"
    _segments(data, days=1)
    (tmp_path / "fleet").mkdir()
    sh = Shipper(data, "s1", DirectoryDestination(tmp_path / "fleet"))
    sh.ship_once()
    reg = CollectorRegistry()
    reg.register(ShipCollector(sh.stats, "s1", "hq"))
    text = generate_latest(reg).decode()
    assert 'sensor_ship_segments_total{sensor="s1",site="hq"} 1.0' in text
    for name in ("bytes_total", "failures_total", "resumed_total", "backlog_segments",
                 "backlog_bytes", "backlog_age_seconds"):  # fmt: skip
        assert f"sensor_ship_{name}{{" in text


def test_destinations_from_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "storage:\n  ship:\n    destination: ssh://ship@collector:2222/srv/fleet\n"
        "    ssh_options: [-i, /etc/sensor/key]\n    interval_seconds: 30\n"
    )
    ship = load_config(cfg).storage.ship
    d = open_destination(ship)
    assert isinstance(d, SshDestination) and d.name == "ssh://ship@collector:2222/srv/fleet"
    assert isinstance(open_destination(ShipConfig(str(tmp_path))), DirectoryDestination)
    for bad in ("", "ssh://collector", "s3://bucket/fleet"):
        with pytest.raises(ConfigError):
            open_destination(ShipConfig(bad))
    cfg.write_text("storage:\n  ship: {destination: /x, interval_seconds: 0}\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:2"):
        load_config(cfg)
    assert SensorConfig(storage=StorageConfig()).storage.ship.destination == ""


def _retaining(tmp_path: Path, dest: Path) -> Shipper:
    """The shipper `sensor ship` builds: flows kept 30 days here, the segments a year old."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"sensor: {{name: s1}}\nstorage:\n  catalog: {tmp_path / 'd.duckdb'}\n"
        f"  retention: {{flows_days: 30}}\n  ship: {{destination: '{dest}'}}\n"
    )
    return build_shipper(load_config(cfg))


def test_retention_runs_after_shipping(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    want = _segments(data)
    sh = _retaining(tmp_path, dest)
    assert sh.ship_once()
    assert _tree(dest) == want  # shipped first: expiry never took what could still ship


def test_what_cannot_ship_is_still_bound_by_retention(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    _segments(data)
    dest.rmdir()
    sh = _retaining(tmp_path, dest)
    assert not sh.ship_once()
    assert sh.stats.failures == 1 and sh.stats.backlog_segments == 0
    assert not list(data.glob("flows/sensor=s1/date=*"))


def test_one_pass_at_a_time_per_tree(tmp_path: Path) -> None:
    data, dest = _dirs(tmp_path)
    _segments(data, days=1)
    with (data / LOCK_NAME).open("w") as held:  # a pass of another process
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        sh = Shipper(data, "s1", DirectoryDestination(dest))
        assert sh.ship_once() and sh.stats.passes == 0 and not _tree(dest)
    assert sh.ship_once() and len(_tree(dest)) == 1


def test_the_replay_ledger_ships_as_a_copy(tmp_path: Path) -> None:
    """`captures` says which captures the store holds: it must stay, or a replay of the same
    capture after shipping would not be recognised and would double the central rows."""
    data, dest = _dirs(tmp_path)
    flows = _segments(data, days=1)
    cap = data / "captures" / "sensor=s1" / "date=2025-11-24" / "1-1-000001.parquet"
    cap.parent.mkdir(parents=True)
    shutil.copy(data / next(iter(flows)), cap)
    sh = Shipper(data, "s1", DirectoryDestination(dest))
    assert sh.ship_once() and sh.stats.segments_shipped == 2
    assert cap.exists() and (dest / cap.relative_to(data)).exists()
    assert sh.stats.backlog_segments == 0
    again = Shipper(data, "s1", DirectoryDestination(dest))
    assert again.ship_once() and again.stats.segments_shipped == 0 and cap.exists()


@pytest.mark.parametrize("ship", ["", "/srv/fleet"])
def test_no_compaction_while_shipping(tmp_path: Path, ship: str) -> None:
    """A merged file would carry rows of segments already shipped: shipped twice."""
    cfg = SensorConfig(
        sensor=SensorInfo(name="hq"),
        storage=StorageConfig(catalog=tmp_path / "x.duckdb", ship=ShipConfig(ship)),
    )
    store = FlowStore(store_config(cfg, retain=True))
    past = tmp_path / "x.data" / "flows" / "sensor=hq" / "date=2026-11-01"
    past.mkdir(parents=True)
    for i in range(40):
        pq.write_table(pa.table({"n": [i]}), past / f"{i:03d}.parquet")
    store._newest_us = 1_796_000_000 * 10**6  # "today" is 2026-11-30 in packet time
    store.retain()
    assert len(list(past.glob("*.parquet"))) == (40 if ship else 1)
