"""`sensor run` with `storage.ship`: live capture on a lab veth while a client fetches pages
from a server; the parent ships the closed segments every second (the metrics say so while
it runs), and after SIGTERM the last segments are shipped too: nothing left locally, every
record in the central tree."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.netns.lab import Lab, wait_port

SCRAPE = "import sys, urllib.request as u; sys.stdout.buffer.write(u.urlopen('{}').read())"
FETCH = "import urllib.request as u; [u.urlopen('http://{}:8080/').read() for _ in range(5)]"


def _metric(lab: Lab, name: str) -> float:
    get = SCRAPE.format("http://127.0.0.1:9118/metrics")
    res = lab.run("client", ["python3", "-c", get], check=False)
    m = re.search(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", res.stdout.decode(), re.M)
    return float(m.group(1)) if m else -1.0


@pytest.mark.slow
def test_sensor_run_ships_while_capturing_and_at_exit(lab: Lab, tmp_path: Path) -> None:
    srv = lab.server_ip
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello fleet\n" * 100)
    lab.start("server", [sys.executable, "-m", "http.server", "--bind", srv, "8080",
                         "--directory", str(tmp_path / "www")],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_port(lab, srv, 8080)
    fleet, db = tmp_path / "fleet", tmp_path / "live.duckdb"
    fleet.mkdir()
    cfg = tmp_path / "sensor.yaml"
    cfg.write_text(
        "sensor: {name: lab-ship, site: lab}\n"
        f"storage:\n  catalog: {db}\n  flush_seconds: 1\n"
        f"  ship: {{destination: '{fleet}', interval_seconds: 1}}\n"
        "metrics: {listen: '127.0.0.1:9118'}\n"
    )
    sensor = lab.start("client", [sys.executable, "-m", "sensor", "run", "-c", str(cfg),
                                  "-i", lab.client_if], stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 30
    while _metric(lab, "sensor_ship_segments_total") <= 0:
        assert sensor.poll() is None, sensor.stderr.read().decode() if sensor.stderr else ""
        assert time.monotonic() < deadline, "nothing shipped while running"
        lab.run("client", ["python3", "-c", FETCH.format(srv)])
        time.sleep(1)
    assert _metric(lab, "sensor_ship_failures_total") == 0
    lab.run("client", ["python3", "-c", FETCH.format(srv)])  # open flows: written at exit
    sensor.send_signal(signal.SIGTERM)
    _, err = sensor.communicate(timeout=60)
    assert sensor.returncode == 0, err.decode()

    local = [p for p in db.with_suffix(".data").glob("*/sensor=lab-ship/*/*.parquet")]
    assert not local, local  # the final pass shipped what the workers wrote on their way out
    shipped = list(fleet.glob("flows/sensor=lab-ship/date=*/*.parquet"))
    assert shipped and not list(fleet.rglob(".*"))
    subprocess.run([sys.executable, "-m", "sensor", "catalog", "--root", str(fleet)],
                   check=True, capture_output=True)  # fmt: skip
    con = duckdb.connect(str(tmp_path / "fleet.duckdb"), read_only=True)
    n = con.execute("SELECT count(*) FROM flows WHERE dest_port = 8080 AND site = 'lab'")
    assert n.fetchone()[0] >= 10  # type: ignore[index]
