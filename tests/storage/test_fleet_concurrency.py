"""Analysts query the central catalog while two sensors ship into its tree: every query
succeeds, the counts only grow, and at the end the central tree has every row the two
sensors wrote (the partial files being written are never read)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.storage.fleet import SENSORS, many_flows_pcap, replay, sensor_config
from tests.storage.test_concurrency import QUERIES


def _segments(data: Path, name: str) -> list[Path]:
    """Segments still to ship (the replay ledger, `captures`, is shipped as a copy)."""
    return [p for p in data.glob(f"*/sensor={name}/date=*/*.parquet")
            if p.name[0] != "." and not p.is_relative_to(data / "captures")]  # fmt: skip


@pytest.mark.slow
def test_queries_on_the_central_catalog_while_sensors_ship(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    big = many_flows_pcap(tmp_path / "many.pcap", 8_000)
    rows = 0
    cfgs = {}
    for name, (site, pcaps) in SENSORS.items():
        # small segments: a few hundred files to ship, so shipping lasts while we query
        cfgs[name] = sensor_config(tmp_path, name, site, str(fleet), flush_rows=100)
        replay(cfgs[name], [*pcaps, big])
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
        rows += con.execute("SELECT count(*) FROM flows").fetchone()[0]  # type: ignore[index]
        con.close()
    files = sum(len(_segments(tmp_path / f"{n}.data", n)) for n in SENSORS)
    assert files > 200
    subprocess.run([sys.executable, "-m", "sensor", "catalog", "--root", str(fleet)],
                   check=True, capture_output=True)  # fmt: skip
    catalog = tmp_path / "fleet.duckdb"

    cmd = [sys.executable, "-m", "sensor", "ship", "--every", "0.2", "-c"]
    shippers = [
        subprocess.Popen([*cmd, str(c)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in cfgs.values()
    ]
    errors: list[str] = []
    seen: list[int] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            left = sum(len(_segments(tmp_path / f"{n}.data", n)) for n in SENSORS)
            try:
                con = duckdb.connect(str(catalog), read_only=True)
                try:
                    for q in QUERIES:
                        row = con.execute(q).fetchone()
                        if q == QUERIES[0] and row:
                            seen.append(int(row[0]))
                finally:
                    con.close()
            except duckdb.Error as e:
                errors.append(str(e))
            if left == 0:
                break
    finally:
        for p in shippers:
            p.send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=30) for p in shippers]
    assert not errors, errors[:5]
    assert all(p.returncode == 0 for p in shippers), outs
    assert seen == sorted(seen), "a count went down: a query saw a segment twice or lost one"
    assert len(set(seen)) >= 3, sorted(set(seen))  # the queries really ran during shipping
    assert seen[-1] == rows
    print(f"\n{files} segments shipped while {len(seen)} query rounds ran: 0 errors, "
          f"{len(set(seen))} distinct counts, final {seen[-1]} rows")  # fmt: skip
