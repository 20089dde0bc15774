"""A real Prometheus (Debian package) scrapes the sensor while it replays captures and keeps
serving; then every PromQL expression of every dashboard panel is evaluated through
Prometheus' HTTP API: each must parse and return data. Loopback only."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="needs the prometheus Debian package"
)
DASH = REPO / "dashboards"
CAPTURES = [
    "tor.pcap",
    "bittorrent.pcap",
    "teams.pcap",
    "anydesk.pcapng",
    "dns_doh.pcap",
    "natpmp.pcap",
    "wep.open.system.authentication.cap",
]  # the last two: rogue access points, on the wire and over the air


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _query(prom: int, expr: str) -> dict[str, Any]:
    q = urllib.parse.urlencode({"query": expr})
    try:
        return dict(_get(f"http://127.0.0.1:{prom}/api/v1/query?{q}"))
    except urllib.error.HTTPError as e:  # a 400 carries the parse error
        return dict(json.loads(e.read()))


def _wait(cond: Any, what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _substitute(expr: str) -> str:
    return (
        expr.replace("$__rate_interval", "20s")
        .replace('"$site"', '".*"')
        .replace('"$sensor"', '".*"')
    )


def test_every_dashboard_expression_returns_data_from_a_real_prometheus(tmp_path: Path) -> None:
    metrics, prom = _port(), _port()
    pcaps = [CORPUS / "pcaps" / c for c in CAPTURES]
    pcaps = [p for p in pcaps if p.exists()] or [REPO / "sensor" / "data" / "demo.pcapng"]
    pcaps.append(REPO / "sensor" / "data" / "demo.pcapng")
    sensor = subprocess.Popen(
        [sys.executable, "-m", "sensor", "replay", "-q", "--db", str(tmp_path / "s.duckdb"),
         "--sensor-name", "lab1", "--metrics", f"127.0.0.1:{metrics}", "--linger", "120",
         *map(str, pcaps)],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{DASH / 'prometheus' / 'sensor-alerts.yml'}]\n"
        "scrape_configs:\n"
        "  - job_name: sensor\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics}'], labels: {{site: default}}}}]\n"
    )
    server = subprocess.Popen(
        ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom}", "--log.level=warn"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        ready = f"http://127.0.0.1:{prom}/-/ready"
        _wait(lambda: urllib.request.urlopen(ready, timeout=2).status == 200, "prometheus")
        _wait(
            lambda: _query(prom, 'up{job="sensor"} == 1')["data"]["result"],
            "the first successful scrape",
        )
        _wait(
            lambda: (
                float(
                    _query(prom, "count_over_time(sensor_packets_total[1m])")["data"]["result"][0][
                        "value"
                    ][1]
                )
                >= 6
            ),
            "six scrapes",
        )
        # promtool accepts what Prometheus scraped
        body = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read()
        check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
        assert check.returncode == 0 and not check.stdout, check.stdout
        rules = _get(f"http://127.0.0.1:{prom}/api/v1/rules")["data"]["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} >= {"SensorDown", "SensorNoPackets"}
        assert all(r["health"] == "ok" for g in rules for r in g["rules"])

        failures = []
        count = 0
        for f in sorted(DASH.glob("*.json")):
            for panel in json.loads(f.read_text())["panels"]:
                for t in panel["targets"]:
                    count += 1
                    res = _query(prom, _substitute(t["expr"]))
                    if res.get("status") != "success":
                        failures.append((f.name, panel["title"], res.get("error")))
                    elif not res["data"]["result"]:
                        failures.append((f.name, panel["title"], "no data"))
                    elif "group_left (title)" in t["expr"] and not all(
                        r["metric"].get("title") for r in res["data"]["result"]
                    ):
                        failures.append((f.name, panel["title"], "a series without a title"))
        assert count >= 25
        assert not failures, failures
        violations = _query(
            prom, 'sum(sensor_classified_records_total{action="violation", sensor="lab1"})'
        )["data"]["result"]
        assert float(violations[0]["value"][1]) > 0
        rogue = _query(prom, 'sum(sensor_alerts_total{provision="2503-22"})')["data"]["result"]
        assert float(rogue[0]["value"][1]) > 0  # the rogue access point panel has real data
    finally:
        for p in (sensor, server):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
