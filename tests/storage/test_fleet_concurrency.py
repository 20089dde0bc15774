"""Analysts query the central catalog while two sensors replay captures in waves and ship
each wave into its tree (`sensor ship --every 0.2`): every query succeeds, the counts only
grow, and at the end the central tree has every row the two sensors wrote (the partial files
being written are never read)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.storage.fleet import SENSORS, many_flows_pcap, replay, sensor_config
from tests.storage.test_concurrency import QUERIES

WAVES, FLOWS = 4, 2_000


def _segments(data: Path, name: str) -> list[Path]:
    """Segments still to ship (the replay ledger, `captures`, is shipped as a copy)."""
    return [p for p in data.glob(f"*/sensor={name}/date=*/*.parquet")
            if p.name[0] != "." and not p.is_relative_to(data / "captures")]  # fmt: skip


@pytest.mark.slow
def test_queries_on_the_central_catalog_while_sensors_ship(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    # small segments (100 rows): a few hundred files, shipped wave after wave
    cfgs = {n: sensor_config(tmp_path, n, site, str(fleet), flush_rows=100)
            for n, (site, _) in SENSORS.items()}  # fmt: skip
    pcaps = [many_flows_pcap(tmp_path / f"w{w}.pcap", FLOWS, 1_764_000_000.0 + w * 3600)
             for w in range(WAVES)]  # fmt: skip
    subprocess.run([sys.executable, "-m", "sensor", "catalog", "--root", str(fleet)],
                   check=True, capture_output=True)  # fmt: skip
    catalog = tmp_path / "fleet.duckdb"

    cmd = [sys.executable, "-m", "sensor", "ship", "--every", "0.2", "-c"]
    shippers = [
        subprocess.Popen([*cmd, str(c)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in cfgs.values()
    ]
    waves = threading.Thread(
        target=lambda: [replay(c, [p]) for p in pcaps for c in cfgs.values()], daemon=True
    )
    waves.start()
    errors: list[str] = []
    seen: list[int] = []
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline:
            writing = waves.is_alive()
            left = sum(len(_segments(tmp_path / f"{n}.data", n)) for n in SENSORS)
            try:
                with duckdb.connect(str(catalog), read_only=True) as con:
                    for q in QUERIES:
                        row = con.execute(q).fetchone()
                        if q == QUERIES[0] and row:
                            seen.append(int(row[0]))
            except duckdb.Error as e:
                errors.append(str(e))
            if not writing and left == 0:
                break
    finally:
        for p in shippers:
            p.send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=30) for p in shippers]
    assert not errors, errors[:5]
    assert all(p.returncode == 0 for p in shippers), outs
    assert seen == sorted(seen), "a count went down: a query saw a segment twice or lost one"
    assert len(set(seen)) >= WAVES, sorted(set(seen))  # the queries ran while waves shipped
    assert seen[-1] == WAVES * len(SENSORS) * FLOWS  # every row, exactly once
    shipped = len(list(fleet.glob("*/sensor=[!_]*/date=*/*.parquet")))
    print(f"\n{shipped} segments shipped while {len(seen)} query rounds ran: 0 errors, "
          f"{len(set(seen))} distinct counts, final {seen[-1]} rows")  # fmt: skip
