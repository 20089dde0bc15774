"""SIGHUP under a flood: the reload takes effect within a second or two of packet processing,
also while one sweep ends a SYN flood's 500,000 flows (that once took it ~40 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.tools.synflood import conversations, pcap_header, syn_flood

T0 = 1_764_086_400.0
MAC = b"\x02\x00\x00\x00\x0f\x02"
FLOOD = 500_000


@pytest.mark.slow
def test_a_sighup_during_a_flood_expiry_reloads_within_seconds(tmp_path: Path) -> None:
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    cfg = tmp_path / "s.yaml"
    db = tmp_path / "x.duckdb"
    cfg.write_text(  # memory for the whole flood in the table (512 MB holds 150,000 flows)
        f"storage: {{catalog: {db}}}\nflow: {{timeouts: {{tcp: 5}}}}\nlimits: {{memory_mb: 2048}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensor", "replay", "-q", "-c", str(cfg), str(fifo)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        lines.extend((time.monotonic(), line) for line in proc.stderr)

    threading.Thread(target=read, daemon=True).start()
    stop = threading.Event()
    try:
        with fifo.open("wb") as feed:
            # the flood: 500,000 half-open flows in 10 s of packet time
            feed.write(pcap_header())
            feed.write(syn_flood(FLOOD, "10.231.7.0", "10.231.7.1", t0=T0, pps=50_000, dmac=MAC))
            feed.flush()
            # then steady traffic 10 s later: its first batch ends every flood flow at once
            sender = threading.Thread(target=_steady, args=(feed, T0 + 20, stop), daemon=True)
            sender.start()
            time.sleep(0.5)  # the sweep is under way
            sent = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            deadline = sent + 60
            while not any("reloaded" in x for _, x in lines) and time.monotonic() < deadline:
                time.sleep(0.02)
            stop.set()
            sender.join(30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
    took = [t - sent for t, x in lines if "reloaded" in x]
    assert took, "".join(x for _, x in lines)
    print(f"\nreloaded {took[0]:.2f} s after SIGHUP, during the expiry of {FLOOD:,} flows")
    assert took[0] < 3.0, "".join(x for _, x in lines)


def _steady(feed: BinaryIO, t: float, stop: threading.Event) -> None:
    """UDP conversations, 10,000 packets per write, packet time moving on, until `stop`."""
    while not stop.is_set():
        try:
            feed.write(conversations(10_000, 100, "10.231.7.2", "10.231.7.1", t0=t, pps=20_000,
                                     dmac=MAC))  # fmt: skip
            feed.flush()
        except (BrokenPipeError, ValueError):
            return
        t += 0.5
