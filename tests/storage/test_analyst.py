"""What analysts get from the store: ready-made views and macros, `sensor query` (`sensor
report` is tested in tests/report/), rollups, retention, and a fleet's tree read as one."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from sensor.cli import demo_capture, main
from sensor.sinks.retention import apply_retention
from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensor", *args], capture_output=True, text=True, cwd=REPO
    )


def _demo_store(tmp_path: Path, name: str = "s", sensor: str = "hq") -> Path:
    db = tmp_path / f"{name}.duckdb"
    assert main(["replay", "-q", "--db", str(db), "--sensor-name", sensor]) == 0
    return db


def test_ready_made_views_and_macros(tmp_path: Path) -> None:
    con = duckdb.connect(str(_demo_store(tmp_path)), read_only=True)
    by_day = con.execute(
        "SELECT provision, records FROM violations_by_day ORDER BY provision"
    ).fetchall()
    assert [p for p, _ in by_day] == ["2503-15", "2503-21", "2503-9b", "2503-9f", "2503-ai"]
    assert con.execute("SELECT src_ip FROM top_hosts_in('radio', 1)").fetchall() == [
        ("10.20.1.12",)
    ]
    timeline = con.execute("SELECT server_name FROM host_timeline('10.20.1.11')").fetchall()
    assert ("chatgpt.com",) in timeline and len(timeline) == 3
    share = con.execute("SELECT sum(share) FROM bandwidth_by_category").fetchone()
    assert share and abs(share[0] - 1.0) < 1e-9
    devices = con.execute("SELECT count(*) FROM new_devices").fetchone()
    assert devices == (3,)
    assert con.execute("SELECT count(*) FROM long_flows").fetchone() == (0,)
    # rollups count every record, and survive as the long-term summary
    assert con.execute("SELECT sum(records) FROM rollup_hour").fetchone() == (7,)
    assert con.execute(
        "SELECT sum(records) FROM rollup_minute WHERE action = 'violation'"
    ).fetchone() == (5,)
    assert con.execute("SELECT DISTINCT site FROM flows").fetchall() == [("default",)]


def test_sensor_query_formats(tmp_path: Path) -> None:
    db = str(_demo_store(tmp_path))
    sql = "SELECT provision, count(*) AS n FROM violations GROUP BY 1 ORDER BY 1"
    table = _run("query", "--db", db, sql)
    assert table.returncode == 0 and "2503-ai" in table.stdout and "(5 rows)" in table.stdout
    csv = _run("query", "--db", db, "-f", "csv", sql)
    assert csv.stdout.splitlines()[0] == "provision,n" and len(csv.stdout.splitlines()) == 6
    js = _run("query", "--db", db, "-f", "json", sql)
    assert json.loads(js.stdout.splitlines()[0]) == {"provision": "2503-15", "n": 1}
    out = tmp_path / "v.parquet"
    assert _run("query", "--db", db, "-f", "parquet", "-o", str(out), sql).returncode == 0
    assert pq.read_table(out).num_rows == 5
    bad = _run("query", "--db", db, "SELECT * FROM nowhere")
    assert bad.returncode == 2 and "query failed" in bad.stderr and "Traceback" not in bad.stderr
    none = _run("query", "--db", str(tmp_path / "missing.duckdb"), "SELECT 1")
    assert none.returncode == 3 and "no such catalog" in none.stderr


def test_retention_by_age_and_disk_bound(tmp_path: Path) -> None:
    data = tmp_path / "x.data"
    for table, days in (("flows", (1, 30, 500)), ("rollups", (1, 500, 2500))):
        for d in days:
            part = data / table / "sensor=hq" / f"date={dt.date(2026, 11, 29) - dt.timedelta(d)}"
            part.mkdir(parents=True)
            (part / "a.parquet").write_bytes(b"x" * 1000)
    other = data / "flows" / "sensor=other" / "date=2020-01-01"
    other.mkdir(parents=True)
    today = dt.date(2026, 11, 29)
    removed = apply_retention(data, "hq", {"flows": 400, "rollups": 2000}, today)
    assert sorted(p.name for p in removed) == ["date=2020-01-25", "date=2025-07-17"]
    assert other.exists()  # another sensor's data is never touched
    removed = apply_retention(data, "hq", {"flows": 400}, today, max_bytes=3000)
    assert [p.name for p in removed] == ["date=2026-10-30"]  # the oldest raw day first


def test_retention_is_for_live_capture_not_for_replays_of_old_captures(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("storage: {retention: {flows_days: 1, rollups_days: 1}}\n")
    db = tmp_path / "s.duckdb"
    old = REPO.parent / "shared" / "corpus" / "pcaps" / "http.pcapng"
    pcaps = [str(old)] if old.exists() else []
    assert main(["replay", "-q", "-c", str(cfg), "--db", str(db), *pcaps, str(demo_capture())]) == 0
    dates = (
        duckdb.connect(str(db), read_only=True)
        .execute("SELECT count(DISTINCT date) FROM flows")
        .fetchone()
    )
    assert dates and dates[0] >= (2 if pcaps else 1)


def test_a_fleet_tree_reads_as_one(tmp_path: Path) -> None:
    """Two district sensors ship their segments into one tree; DuckDB (like Spark or Trino)
    reads it with hive partitioning, no conversion."""
    central = tmp_path / "central"
    for sensor in ("district-4", "district-7"):
        cfg = tmp_path / f"{sensor}.yaml"
        cfg.write_text(
            f"sensor: {{name: {sensor}, site: {sensor}}}\n"
            f"storage: {{catalog: {tmp_path / sensor}.duckdb, data_dir: {central}}}\n"
        )
        assert main(["replay", "-q", "-c", str(cfg)]) == 0
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT sensor, site, count(*) FROM read_parquet('{central}/flows/*/*/*.parquet', "
        "hive_partitioning = true) WHERE sensor <> '_schema' GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert rows == [("district-4", "district-4", 7), ("district-7", "district-7", 7)]
    parts = sorted(p.name for p in (central / "flows").iterdir())
    assert parts == ["sensor=_schema", "sensor=district-4", "sensor=district-7"]


def test_small_segments_of_past_days_are_compacted(tmp_path: Path) -> None:
    import pyarrow as pa

    from sensor.sinks.retention import compact

    data = tmp_path / "x.data"
    past = data / "flows" / "sensor=hq" / "date=2026-11-01"
    today = data / "flows" / "sensor=hq" / "date=2026-11-29"
    for folder in (past, today):
        folder.mkdir(parents=True)
        for i in range(40):
            pq.write_table(pa.table({"n": [i, i + 100]}), folder / f"{i:03d}.parquet")
    glob = f"{data}/flows/*/*/*.parquet"
    count = f"SELECT count(*), sum(n) FROM read_parquet('{glob}')"
    before = duckdb.execute(count).fetchone()
    merged = compact(data, "flows", "hq", dt.date(2026, 11, 29))
    assert [p.parent for p in merged] == [past]
    assert [p.name for p in past.iterdir()] == [merged[0].name]  # nothing else left
    assert len(list(today.glob("*.parquet"))) == 40  # today's folder is still being written
    after = duckdb.execute(count).fetchone()
    assert after == before == (160, 2 * (2 * sum(range(40)) + 40 * 100))
