"""A real nfcapd (Debian's nfdump) collects the sensor's IPFIX from a corpus replay, and
`nfdump -r` gives the same flows, packets and bytes per 5-tuple and direction as the store;
the same for NetFlow v9.

nfcapd listens on UDP only, so the TCP export is checked through a small relay that reads
the TCP stream, splits it into messages by the IPFIX length field and hands each to nfcapd
as a datagram: nfcapd still decodes every byte the sensor sent over TCP."""

from __future__ import annotations

import csv
import io
import ipaddress
import socket
import struct
import subprocess
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sensor.config import IpfixConfig, OutputsConfig, SensorConfig
from tests.conftest import Replay, corpus_pcaps
from tests.integration.tools import free_port, need, wait_for

PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58, "ICMP6": 58}
Key = tuple[Any, int, Any, int, int]


def _proto(p: str) -> int:
    return PROTO.get(p) or (int(p) if p.isdigit() else -1)


def _store_directions(db: Any) -> Counter[Key]:
    """Per 5-tuple and direction: [records, packets, bytes] summed, as exported."""
    out: Counter[Key] = Counter()
    rows = db.execute(
        "SELECT src_ip, coalesce(src_port, 0), dest_ip, coalesce(dest_port, 0), proto, "
        "pkts_toserver, bytes_toserver, pkts_toclient, bytes_toclient FROM flows"
    ).fetchall()
    for s, sp, d, dp, proto, p_ts, b_ts, p_tc, b_tc in rows:
        a, b, pr = ipaddress.ip_address(s), ipaddress.ip_address(d), _proto(proto)
        for key, pk, by in (((a, sp, b, dp, pr), p_ts, b_ts), ((b, dp, a, sp, pr), p_tc, b_tc)):
            if pk:
                out[(*key, "n")] += 1  # type: ignore[index]
                out[(*key, "p")] += pk  # type: ignore[index]
                out[(*key, "b")] += by  # type: ignore[index]
    return out


def _nfdump_directions(flowdir: Path) -> Counter[Key]:
    text = subprocess.run(
        ["nfdump", "-R", str(flowdir), "-o", "csv", "-N"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out: Counter[Key] = Counter()
    for r in csv.DictReader(io.StringIO(text)):
        if not r.get("sa") or not r["ts"][:1].isdigit() or r.get("pr") is None:
            continue
        pr = _proto(r["pr"].strip())
        sp, dp = int(float(r["sp"])), int(float(r["dp"]))
        if pr in (1, 58):
            sp = dp = 0  # nfdump shows ICMP type.code in the ports; the store has none
        key = (
            ipaddress.ip_address(r["sa"].strip()),
            sp,
            ipaddress.ip_address(r["da"].strip()),
            dp,
            pr,
        )
        out[(*key, "n")] += 1  # type: ignore[index]
        out[(*key, "p")] += int(r["ipkt"])  # type: ignore[index]
        out[(*key, "b")] += int(r["ibyt"])  # type: ignore[index]
    return out


class _TcpRelay:
    """Accept the exporter's TCP connection; forward each IPFIX message to nfcapd by UDP."""

    def __init__(self, nfcapd_port: int) -> None:
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.target = ("127.0.0.1", nfcapd_port)
        self.messages = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.srv.accept()
        buf = b""
        with conn:
            while chunk := conn.recv(65536):
                buf += chunk
                while len(buf) >= 4 and len(buf) >= struct.unpack_from(">H", buf, 2)[0]:
                    n = struct.unpack_from(">H", buf, 2)[0]
                    self.out.sendto(buf[:n], self.target)
                    self.messages += 1
                    buf = buf[n:]


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("transport", "protocol"),
    [("udp", 10), ("tcp", 10), ("udp", 9)],
    ids=["ipfix-udp", "ipfix-tcp", "netflow9"],
)
def test_nfdump_reads_the_same_flows_as_the_store(
    replay: Replay, tmp_path: Path, corpus_dir: Path, transport: str, protocol: int
) -> None:
    need("nfcapd", "nfdump")
    flowdir = tmp_path / "nfcapd"
    flowdir.mkdir()
    port = free_port()
    log = (tmp_path / "nfcapd.log").open("w")
    proc = subprocess.Popen(
        ["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(flowdir), "-t", "3600",
         "-B", "8000000", "-v"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: "Startup" in (tmp_path / "nfcapd.log").read_text(), "nfcapd")
        relay = _TcpRelay(port) if transport == "tcp" else None
        target = f"127.0.0.1:{relay.port if relay else port}"
        # large UDP messages on loopback: fewer datagrams for nfcapd's socket to keep up with
        ipfix = IpfixConfig(
            address=target, transport=transport, max_message=32000, protocol=protocol
        )
        db, _ = replay(corpus_pcaps(), replace(SensorConfig(), outputs=OutputsConfig(ipfix=ipfix)))
        if relay is not None:
            wait_for(lambda: not relay.thread.is_alive(), "the TCP stream to end")
            assert relay.messages > 10
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "Sequence Errors: 0" in (tmp_path / "nfcapd.log").read_text()
    store, collected = _store_directions(db), _nfdump_directions(flowdir)
    assert sum(v for k, v in store.items() if k[-1] == "n") > 3000  # type: ignore[index]
    assert collected == store
