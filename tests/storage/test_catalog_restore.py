"""A catalog deleted while the sensor runs (a clean-up job, an analyst's `rm`) is made again at
the store's next flush, said once in the log, and reads every segment written before and after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.test_data_safety import _udp_flows_pcap


def _wait(cond: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _flows(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM flows").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def test_a_deleted_catalog_is_made_again_at_the_next_flush(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    _udp_flows_pcap(first, 2_000)
    _udp_flows_pcap(second, 2_000)
    body = second.read_bytes()[24:]  # the same flows again, records only (no file header)
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    db = tmp_path / "x.duckdb"
    cfg = tmp_path / "s.yaml"
    # udp timeout 1 s: the first flows end (and are written) while the second half arrives
    cfg.write_text(
        f"storage: {{catalog: {db}, flush_seconds: 0.2}}\nflow: {{timeouts: {{udp: 1}}}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensor", "replay", "-c", str(cfg), str(fifo)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with fifo.open("wb") as feed:
            feed.write(first.read_bytes())
            feed.flush()
            _wait(db.exists, 30, "no catalog at start")
            time.sleep(2)  # every sink has started (each writes the catalog once at start)
            db.unlink()
            for shift in range(2, 5):  # packet time moves on: the first flows end and flush
                feed.write(_later(body, shift * 10))
                feed.flush()
                time.sleep(0.3)
            _wait(db.exists, 30, "the deleted catalog was not made again")
            assert _flows(db) >= 2_000  # queryable while the sensor runs: the first flows
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.count("was deleted; made it again") == 1, err
    assert "Traceback" not in err
    assert _flows(db) == 8_000, out


def _later(records: bytes, seconds: int) -> bytes:
    """Classic pcap records (little endian) with every timestamp moved `seconds` later."""
    out = bytearray(records)
    at = 0
    while at < len(out):
        ts, caplen = int.from_bytes(out[at : at + 4], "little"), out[at + 8 : at + 12]
        out[at : at + 4] = (ts + seconds).to_bytes(4, "little")
        at += 16 + int.from_bytes(caplen, "little")
    return bytes(out)
