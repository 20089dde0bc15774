"""A full disk: in a mount namespace of its own the test gives the sensor a small tmpfs,
fills it while the sensor runs, then frees it. The sensor keeps running, counts and logs the
failed writes, keeps the rows, and writes them all once space returns."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a private tmpfs",
)

FEEDER = """
import sys, time
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    half = 24 + (len(data) - 24) // 2
    # pcap records must not be cut: send the header and whole records up to half way
    pos, cut = 24, 24
    while pos < len(data):
        n = int.from_bytes(data[pos + 8:pos + 12], "little")
        if pos > half:
            break
        pos += 16 + n
    out.write(data[:pos]); out.flush()
    open(sys.argv[3], "w").write("half")
    while not __import__("os").path.exists(sys.argv[4]):
        time.sleep(0.1)
    # the rest a few records at a time, so the sensor keeps working (and flushing) for seconds
    while pos < len(data):
        end = pos
        for _ in range(20):
            if end >= len(data):
                break
            end += 16 + int.from_bytes(data[end + 8:end + 12], "little")
        out.write(data[pos:end]); out.flush()
        pos = end
        time.sleep(0.1)
"""

SCRIPT = """
set -e
mount -t tmpfs -o size=3m tmpfs "$DIR"
"$PY" -m sensor replay -c "$CFG" "$FIFO" > "$OUT/stdout" 2> "$OUT/stderr" &
SENSOR=$!
"$PY" -c "$FEEDER" "$PCAP" "$FIFO" "$OUT/half" "$OUT/go" &
while [ ! -e "$OUT/half" ]; do sleep 0.1; done
sleep 1
dd if=/dev/zero of="$DIR/filler" bs=64k 2>/dev/null || true     # the disk is now full
touch "$OUT/go"                                                  # more traffic arrives
sleep 3                                                          # its flushes fail
rm -f "$DIR/filler"                                              # space returns
wait $SENSOR; echo $? > "$OUT/rc"
cp -a "$DIR/." "$OUT/store/"
"""


def test_the_sensor_survives_a_full_disk_and_recovers(tmp_path: Path) -> None:
    pcap = REPO / "pcaps" / "radio" / "unknown-station-steady.pcap.gz"
    plain = tmp_path / "in.pcap"
    import gzip

    plain.write_bytes(gzip.decompress(pcap.read_bytes()))
    store = tmp_path / "disk"
    store.mkdir()
    out = tmp_path / "out"
    (out / "store").mkdir(parents=True)
    fifo = tmp_path / "feed.pcap"
    os.mkfifo(fifo)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"storage: {{catalog: {store}/s.duckdb, flush_seconds: 0.2, flush_rows: 50}}\n"
        "flow: {timeouts: {active: 10}}\n"  # many small records: many writes
    )
    env = {**os.environ, "DIR": str(store), "CFG": str(cfg), "FIFO": str(fifo),
           "OUT": str(out), "PCAP": str(plain), "PY": sys.executable, "FEEDER": FEEDER}  # fmt: skip
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    stdout, stderr = (out / "stdout").read_text(), (out / "stderr").read_text()
    assert (out / "rc").read_text().strip() == "0", stdout + stderr
    m = re.search(r"rows_written=(\d+) write_errors=(\d+)", stdout)
    assert m and int(m.group(2)) > 0, stdout  # writes failed while the disk was full ...
    assert "No space left on device" in stderr and "will retry" in stderr
    con = duckdb.connect(str(out / "store" / "s.duckdb"), read_only=True)
    # ... and every record was written once space returned (same count as a normal replay)
    flows = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/store/s.data/flows/*/*/*.parquet')"
    ).fetchone()
    normal = subprocess.run(
        [sys.executable, "-m", "sensor", "replay", "-c", str(cfg), "--db",
         str(tmp_path / "n.duckdb"), str(plain)],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout  # fmt: skip
    expected = re.search(r"rows_written=(\d+)", normal)
    assert expected and flows and flows[0] == int(m.group(1)) == int(expected.group(1))
    print(f"\n{m.group(2)} failed writes while full, then all {flows[0]} rows written")
