"""`sensor run` under a SYN flood (issue 13): 500,000 SYNs, then steady traffic at the same
rate, tcpreplayed onto the lab's veth. The flood's half-open flows time out while the steady
traffic runs (the case that once lost 88 % of it); the kernel must drop nothing and every
steady packet must be in the flow records. All addresses are the lab's own /24.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.netns.lab import Lab
from tests.tools.synflood import conversations, pcap_header, syn_flood

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("tcpreplay"), reason="needs tcpreplay"),
]

FLOOD = 500_000
STEADY = 500_000
STEADY_FLOWS = 200
PPS = 20_000
MAC = b"\x02\x00\x00\x00\x02\x31"  # nobody's: the receiving kernel ignores the frames
TCP_TIMEOUT = 20
"""Flood flows of the last 20 s of the 25 s flood end while the steady traffic runs."""


def test_after_a_syn_flood_steady_traffic_at_the_same_rate_loses_nothing(
    lab: Lab, tmp_path: Path
) -> None:
    pcap = tmp_path / "flood-then-steady.pcap"
    t0 = time.time()
    with pcap.open("wb") as f:
        f.write(pcap_header())
        f.write(syn_flood(FLOOD, lab.net + ".0", lab.server_ip, t0=t0, pps=PPS, dmac=MAC))
        f.write(conversations(STEADY, STEADY_FLOWS, lab.client_ip, lab.server_ip,
                              t0=t0 + FLOOD / PPS, pps=PPS, dmac=MAC))  # fmt: skip
    db = tmp_path / "live.duckdb"
    cfg = tmp_path / "sensor.yaml"
    cfg.write_text(
        f"sensor: {{name: lab-flood}}\nstorage: {{catalog: {db}, flush_seconds: 2}}\n"
        f"metrics: {{listen: ''}}\nflow: {{timeouts: {{tcp: {TCP_TIMEOUT}}}}}\n"
        "limits: {memory_mb: 2048}\n"  # the whole flood in the table (512 MB: 150,000 flows)
    )
    sensor = lab.start(
        "client",
        [sys.executable, "-m", "sensor", "run", "-c", str(cfg), "-i", lab.client_if],
        stderr=subprocess.PIPE,
    )
    time.sleep(3)
    assert sensor.poll() is None, sensor.stderr.read().decode() if sensor.stderr else ""
    res = lab.run("server", ["tcpreplay", f"--pps={PPS}", "-i", lab.server_if, str(pcap)],
                  timeout=120)  # fmt: skip
    stats = res.stdout.decode()
    m = re.search(r"Successful packets:\s+(\d+)", stats)
    assert m and int(m.group(1)) == FLOOD + STEADY, stats
    time.sleep(2)
    sensor.send_signal(signal.SIGTERM)
    err = sensor.communicate(timeout=120)[1].decode()
    assert sensor.returncode == 0, err

    con = duckdb.connect(str(db), read_only=True)
    packets, drops = con.execute(
        "SELECT sum(packets), sum(kernel_drops) FROM health WHERE sensor = 'lab-flood'"
    ).fetchone() or (0, 0)
    steady = con.execute(
        "SELECT count(DISTINCT src_port), sum(pkts_toserver + pkts_toclient) FROM flows "
        "WHERE dest_port = 7000 AND proto = 'UDP'"
    ).fetchone()
    # the flood's flows ended idle, most of them while the steady traffic was running
    syns = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE end_reason = 'idle'), count(*) FILTER "
        f"(WHERE epoch(ts_end) + {TCP_TIMEOUT} >= (SELECT epoch(min(ts_start)) FROM flows "
        "WHERE dest_port = 7000)) FROM flows WHERE dest_port = 443 AND proto = 'TCP'"
    ).fetchone()
    assert syns is not None
    print(f"\nsent {FLOOD:,} SYNs + {STEADY:,} steady at {PPS:,} pps: read {packets:,}, "
          f"kernel drops {drops:,}; steady flows {steady}, flood records {syns}")  # fmt: skip
    assert drops == 0
    assert steady == (STEADY_FLOWS, STEADY)
    assert packets >= FLOOD + STEADY
    records, idle, during_steady = syns
    assert records > 0.95 * FLOOD and idle == records and during_steady > 0.7 * FLOOD
