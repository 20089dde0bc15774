"""kill -9 in the middle of a replay: every file still opens, the restarted sensor appends,
and what was lost is at most the last flush interval."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import corpus_pcaps

FLUSH = 1.0


@pytest.mark.slow
def test_kill_9_loses_at_most_one_flush_interval(tmp_path: Path) -> None:
    pcaps = [str(p) for p in corpus_pcaps() if p.stat().st_size > 200_000][:12]
    if not pcaps:
        pytest.skip("../shared/corpus is absent")
    db = tmp_path / "s.duckdb"
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"storage: {{catalog: {db}, flush_seconds: {FLUSH}, flush_rows: 1000000}}\n")
    # --again: the same captures many times over, to keep the sensor busy until the kill
    cmd = [sys.executable, "-m", "sensor", "replay", "-q", "--again", "-c", str(cfg)]
    p = subprocess.Popen([*cmd, *pcaps * 40], stderr=subprocess.DEVNULL)
    flows = tmp_path / "s.data" / "flows"
    deadline = time.monotonic() + 120
    while len(list(flows.glob("sensor=*/date=*/*.parquet"))) < 4:
        assert p.poll() is None and time.monotonic() < deadline, "no segments appeared"
        time.sleep(0.1)
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = time.time()

    segments = sorted(flows.glob("sensor=*/date=*/*.parquet"))
    for seg in segments:  # every file analysts (or a restart) can see opens
        pq.read_table(seg)
    newest = max(s.stat().st_mtime for s in segments if "_schema" not in str(s))
    age = killed_at - newest
    assert age <= FLUSH + 1.5, f"newest segment {age:.2f} s old at the kill"
    con = duckdb.connect(str(db), read_only=True)
    before = con.execute("SELECT count(*) FROM flows").fetchone()
    con.close()
    assert before and before[0] > 0

    # the restarted sensor opens the same store, cleans the dead writer's temporaries, appends
    assert subprocess.run([*cmd, pcaps[0]], capture_output=True).returncode == 0
    assert not list(flows.glob("sensor=*/date=*/.*.tmp"))
    con = duckdb.connect(str(db), read_only=True)
    after = con.execute("SELECT count(*) FROM flows").fetchone()
    assert after and after[0] > before[0]
    print(f"\nkilled after {len(segments)} segments; newest was {age:.2f} s old (flush {FLUSH} s)")
