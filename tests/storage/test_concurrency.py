"""Analysts query while the sensor writes: one process replays captures at full speed for
half a minute (SENSOR_CONCURRENCY_SECONDS, default 30) while this one opens the catalog
read-only and runs analyst queries in a loop. Zero query errors, zero write errors, and the
final row count equals a single-process replay of the same captures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import corpus_pcaps

SECONDS = float(os.environ.get("SENSOR_CONCURRENCY_SECONDS", "30"))
QUERIES = [
    "SELECT count(*) FROM flows",
    "SELECT provision, count(*) FROM violations_by_day GROUP BY 1",
    "SELECT * FROM top_hosts WHERE rank <= 3",
    "SELECT sum(bytes) FROM rollup_hour",
    "SELECT count(*) FROM alerts",
    "SELECT count(*) FROM host_timeline('192.168.1.1')",
]


def _replay(db: Path, pcaps: list[Path], rounds: int) -> subprocess.Popen[str]:
    cfg = db.with_suffix(".yaml")
    cfg.write_text(f"storage: {{catalog: {db}, flush_seconds: 1, flush_rows: 20000}}\n")
    args = [str(p) for _ in range(rounds) for p in pcaps]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensor",
            "replay",
            "--again",
            "-c",
            str(cfg),
            "--sensor-name",
            "w",
            *args,
        ],  # --again: the same captures round after round
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_queries_while_the_sensor_writes(tmp_path: Path) -> None:
    pcaps = [p for p in corpus_pcaps() if p.stat().st_size > 200_000][:12]
    if not pcaps:
        pytest.skip("../shared/corpus is absent")
    # calibrate: how many rounds of these captures fill the time
    t0 = time.monotonic()
    probe = _replay(tmp_path / "probe.duckdb", pcaps, 4)
    probe.communicate(timeout=600)
    per_round = max((time.monotonic() - t0 - 1.0) / 4, 0.05)  # less start-up time
    rounds = max(2, int(SECONDS / per_round))

    db = tmp_path / "live.duckdb"
    started = time.monotonic()
    writer = _replay(db, pcaps, rounds)
    errors: list[str] = []
    seen: list[int] = []
    ran = 0
    while writer.poll() is None:
        if not db.exists():  # the sensor has not created its catalog yet
            time.sleep(0.05)
            continue
        try:
            con = duckdb.connect(str(db), read_only=True)
            try:
                for q in QUERIES:
                    row = con.execute(q).fetchone()
                    if q == QUERIES[0] and row:
                        seen.append(int(row[0]))
            finally:
                con.close()  # an open connection would keep this process on an old catalog
            ran += 1
        except duckdb.Error as e:
            errors.append(str(e))
        time.sleep(0.05)
    out, err = writer.communicate()
    started_to_end = time.monotonic() - started
    assert writer.returncode == 0, err
    m = re.search(r"rows_written=(\d+) write_errors=(\d+)", out)
    assert m and m.group(2) == "0"

    single = _replay(tmp_path / "single.duckdb", pcaps, rounds)
    single.communicate(timeout=1200)
    solo = duckdb.connect(str(tmp_path / "single.duckdb"), read_only=True)
    both = duckdb.connect(str(db), read_only=True)
    n = both.execute("SELECT count(*) FROM flows").fetchone()
    assert n == solo.execute("SELECT count(*) FROM flows").fetchone()
    assert not errors, errors[:5]
    took = started_to_end
    assert ran >= 10 and len(set(seen)) >= 3, (ran, sorted(set(seen))[:10])  # rows kept arriving
    print(f"\n{took:.0f} s of writing, {ran} query rounds, 0 errors; rows={n[0]}")
