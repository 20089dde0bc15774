"""A rogue DHCP server on the wire: dnsmasq serves DHCP in the lab's server namespace and
busybox udhcpc asks for an address from the client namespace; the sensor replays what
dumpcap recorded. Not on the site's list of DHCP servers, the server is a rogue (2503-22);
on the list, it is not. Addresses stay in the lab's subnet."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from sensor.cli import main
from tests.netns.lab import Lab

pytestmark = pytest.mark.skipif(
    not (shutil.which("dnsmasq") and shutil.which("busybox") and shutil.which("dumpcap")),
    reason="needs dnsmasq, busybox (udhcpc) and dumpcap",
)


def _replay(tmp_path: Path, pcap: Path, servers: str, name: str) -> duckdb.DuckDBPyConnection:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"policy:\n  dhcp_servers: [{servers}]\n")
    db = tmp_path / f"{name}.duckdb"
    assert main(["replay", "-q", "-c", str(cfg), "--db", str(db), str(pcap)]) == 0
    return duckdb.connect(str(db), read_only=True)


def test_a_rogue_dhcp_server_is_caught(lab: Lab, tmp_path: Path) -> None:
    lab.start(
        "server",
        ["dnsmasq", "--no-daemon", "--port=0", f"--interface={lab.server_if}",
         "--bind-interfaces", f"--dhcp-range={lab.net}.100,{lab.net}.150,1h",
         f"--dhcp-leasefile={tmp_path / 'leases'}", "--log-facility=-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)
    pcap = tmp_path / "dhcp.pcap"
    with lab.capture(pcap):
        got = lab.run(
            "client",
            ["busybox", "udhcpc", "-i", lab.client_if, "-n", "-q", "-f", "-s", "/bin/true",
             "-t", "5", "-T", "1"],
            check=False,
        )  # fmt: skip
    assert got.returncode == 0, got.stderr.decode()

    con = _replay(tmp_path, pcap, "10.1.0.67", "rogue")
    rows = con.execute(
        "SELECT src_ip, provision, action, evidence FROM flows WHERE signature_id = 10101"
    ).fetchall()
    assert rows and all(r[0] == lab.server_ip for r in rows)
    assert rows[0][1:3] == ("2503-22", "violation")
    assert f"src_ip={lab.server_ip} not in policy.dhcp_servers" in rows[0][3]
    alerts = con.execute("SELECT signature, provision, src_ip FROM alerts").fetchall()
    assert alerts == [("rogue_ap.dhcp_server", "2503-22", lab.server_ip)]

    con = _replay(tmp_path, pcap, lab.server_ip, "listed")
    assert con.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM flows WHERE signature_id = 10101").fetchone() == (0,)
