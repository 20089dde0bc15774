"""`sensor run` end to end: live AF_PACKET capture with two fanout workers on the client's
veth of a lab the test creates, while real software talks across it: curl resolves
chatgpt.com through dnsmasq and greets an openssl TLS server by that name, openssl s_client
greets it as claude.ai, curl listens to an ICY radio stream. SIGTERM must leave every flow,
the open radio stream too, in the database, and the outputs of both workers (syslog to a
unix socket, EVE flow lines to one shared file) must carry every alert and record once.
All addresses are the lab's own."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.netns.lab import Lab, wait_port
from tests.netns.test_ai_radio import PEERS, _cert

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("openssl", "curl", "dnsmasq")),
    reason="needs openssl, curl and dnsmasq",
)


def test_live_capture_with_two_workers_until_sigterm(lab: Lab, tmp_path: Path) -> None:
    cert, key = _cert(tmp_path)
    srv = lab.server_ip
    radio = lab.add_server_address(5)
    dns = lab.add_server_address(53)
    lab.start("server", ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts",
                         f"--listen-address={dns}", "--bind-interfaces", "--port=53",
                         f"--address=/chatgpt.com/{srv}", f"--address=/claude.ai/{srv}",
                         "--log-facility=-"],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    lab.start("server", ["openssl", "s_server", "-quiet", "-accept", f"{srv}:443",
                         "-cert", str(cert), "-key", str(key), "-www"],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    lab.start("server", [sys.executable, str(PEERS / "icy_server.py"), radio, "8000"])
    wait_port(lab, srv, 443)
    wait_port(lab, radio, 8000)
    lab.client_resolver(dns)

    db = tmp_path / "live.duckdb"
    cfg = tmp_path / "sensor.yaml"
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # a SIEM's local syslog socket
    syslog.bind(str(tmp_path / "syslog.sock"))
    syslog.settimeout(0.5)
    eve = tmp_path / "eve-flows.json"
    cfg.write_text(
        f"sensor: {{name: lab-live, site: lab}}\nstorage: {{catalog: {db}, flush_seconds: 1}}\n"
        "metrics: {listen: ''}\n"
        "policy:\n  provisions:\n    2503-ai: {personal_use: false}\n"
        f"outputs:\n  eve_flows: {eve}\n"
        f"  syslog: {{address: {tmp_path / 'syslog.sock'}, transport: unix}}\n"
    )
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # systemd's side of sd_notify
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(20)
    sensor = lab.start(
        "client",
        [sys.executable, "-m", "sensor", "run", "-c", str(cfg), "-i", lab.client_if,
         "--workers", "2"],
        stderr=subprocess.PIPE,
        env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
    )  # fmt: skip
    assert notify.recv(4096).startswith(b"READY=1\nSTATUS=capturing on")
    time.sleep(2)
    assert sensor.poll() is None, sensor.stderr.read().decode() if sensor.stderr else ""

    lab.run("client", ["curl", "-sk", "https://chatgpt.com/", "-o", "/dev/null"])
    lab.run("client", ["openssl", "s_client", "-connect", f"{srv}:443", "-servername",
                       "claude.ai", "-brief"], input=b"Q\n")  # fmt: skip
    stream = lab.start(
        "client", ["curl", "--http0.9", "-s", "-o", "/dev/null", f"http://{radio}:8000/live"]
    )
    time.sleep(3)
    said = []
    while not any(m.startswith(b"STATUS=") and b"packets/s" in m for m in said):
        said.append(notify.recv(4096))  # STATUS with the rates comes every few seconds
    sensor.send_signal(signal.SIGTERM)
    err = sensor.communicate(timeout=60)[1].decode()
    stream.terminate()
    assert sensor.returncode == 0, err
    notify.settimeout(1)
    with contextlib.suppress(TimeoutError):
        while True:
            said.append(notify.recv(4096))
    assert b"STOPPING=1" in said

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT app_proto, server_name, dns_query, category, provision, action, end_reason "
        "FROM flows ORDER BY ts_start"
    ).fetchall()
    by = {(r[0], r[1] or r[2]): r for r in rows}
    assert ("dns", "chatgpt.com") in by
    assert by[("tls", "chatgpt.com")][3:6] == ("ai", "2503-ai", "violation")
    assert by[("tls", "claude.ai")][3:6] == ("ai", "2503-ai", "violation")
    radio_rows = [r for r in rows if r[3] == "radio"]
    assert radio_rows and radio_rows[0][4:7] == ("2503-9b", "violation", "shutdown")
    sensors = con.execute("SELECT DISTINCT sensor FROM flows").fetchall()
    assert sensors == [("lab-live",)]
    # what the two workers read and missed: rows per worker each second (flush_seconds) and at exit
    health = con.execute(
        "SELECT count(*), sum(packets), min(kernel_drops), "
        "sum(kernel_drops), (SELECT sum(pkts_toserver + pkts_toclient) FROM flows) "
        "FROM health WHERE sensor = 'lab-live'"
    ).fetchone()
    assert health is not None
    rows, packets, least_drops, drops, flow_packets = health
    assert rows >= 2 and least_drops >= 0 and drops >= 0
    assert packets >= flow_packets > 0
    kinds = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE health)").fetchall())
    assert kinds["kernel_drops"] == "BIGINT"
    _check_outputs(con, eve, syslog)


def _check_outputs(con: duckdb.DuckDBPyConnection, eve: Path, syslog: socket.socket) -> None:
    """Both workers' outputs: every alert once on the syslog socket, every flow record once
    in the shared EVE flow file (whole lines: two writers never interleave)."""
    messages = []
    with contextlib.suppress(TimeoutError):
        while True:
            messages.append(syslog.recv(65536).decode())
    events = [json.loads(m[m.index("{") :]) for m in messages]
    got = sorted((e["flow_id"], e["alert"]["signature_id"]) for e in events)
    alerts = con.execute("SELECT flow_id, signature_id FROM alerts ORDER BY 1, 2").fetchall()
    assert len(alerts) >= 3 and got == [tuple(a) for a in alerts]
    lines = [json.loads(x) for x in eve.read_text().splitlines()]
    flows = con.execute("SELECT flow_id, community_id FROM flows ORDER BY 1").fetchall()
    assert sorted((e["flow_id"], e.get("community_id")) for e in lines) == flows
