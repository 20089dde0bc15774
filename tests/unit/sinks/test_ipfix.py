"""IPFIX message layout read back off a real UDP socket: header, templates, their re-sending."""

from __future__ import annotations

import socket
import struct
import time

import pyarrow as pa

from sensor.config import IpfixConfig
from sensor.endpoints import Address
from sensor.sinks.ipfix import ELEMENTS, IpfixExporter

US = pa.timestamp("us", tz="UTC")


def _table(n: int) -> pa.Table:
    return pa.table(
        {
            "flow_id": list(range(n)),
            "ip_version": pa.array([4] * n, pa.int8()),
            "src_ip": ["10.0.0.1"] * n,
            "dest_ip": ["10.0.0.2"] * n,
            "src_port": pa.array(list(range(1000, 1000 + n)), pa.int32()),
            "dest_port": pa.array([443] * n, pa.int32()),
            "proto": ["TCP"] * n,
            "ts_start": pa.array([1_700_000_000_000_000] * n, US),
            "ts_end": pa.array([1_700_000_002_500_000] * n, US),
            "end_reason": ["fin"] * n,
            "pkts_toserver": [3] * n,
            "bytes_toserver": [200] * n,
            "pkts_toclient": [0] * n,
            "bytes_toclient": [0] * n,
            "app_proto": ["tls"] * n,
            "server_name": ["é" * 40 + "x.example.com"] * n,  # 93 bytes of UTF-8: cut to 64
        }
    )


def _sets(msg: bytes) -> list[tuple[int, bytes]]:
    version, length, _, _, domain = struct.unpack_from(">HHIII", msg)
    assert (version, length, domain) == (10, len(msg), 7)
    out, at = [], 16
    while at < len(msg):
        sid, slen = struct.unpack_from(">HH", msg, at)
        out.append((sid, msg[at + 4 : at + slen]))
        at += slen
    return out


def test_udp_resends_templates_and_records_decode() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        cfg = IpfixConfig(observation_domain=7, template_seconds=0.2, max_message=512)
        exp = IpfixExporter(Address("udp", "127.0.0.1", rx.getsockname()[1]), cfg)
        exp.export_flows(_table(5))
        time.sleep(0.3)
        exp.export_flows(_table(1))
        exp.close()
        msgs = [rx.recv(65536) for _ in range(exp.stats.sent)]
    kinds = [sid for m in msgs for sid, _ in _sets(m)]
    assert kinds.count(2) == 2  # before the first data, then again after template_seconds
    assert kinds.index(2) < kinds.index(256)
    assert all(len(m) <= 512 for m in msgs)
    records = [body for m in msgs for sid, body in _sets(m) if sid == 256]
    size = 8 + sum(n for _, _, n, _ in ELEMENTS)
    recs = [b[i : i + size] for b in records for i in range(0, len(b), size)]
    assert len(recs) == 6  # one per direction with packets
    src, dst, sport, dport, proto, start, end, pkts, octets = struct.unpack_from(
        ">4s4sHHBQQQQ", recs[0]
    )
    assert (socket.inet_ntoa(src), socket.inet_ntoa(dst), sport, dport, proto) == (
        "10.0.0.1", "10.0.0.2", 1000, 443, 6,
    )  # fmt: skip
    assert (start, end, pkts, octets) == (1_700_000_000_000, 1_700_000_002_500, 3, 200)
    name = recs[0][-72 - 64 : -72].rstrip(b"\0").decode()  # serverName: valid UTF-8
    assert name == "é" * 25 + "x.example.com"  # its right-hand end: the domain is kept
