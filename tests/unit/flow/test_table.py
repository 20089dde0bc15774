"""Flow table semantics on crafted captures: clients, end reasons, timeouts, interim, bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from sensor.config import FlowConfig, SensorConfig
from sensor.flow.table import FlowTimeouts

C, S = "10.1.0.5", "198.51.100.7"


def _at(pkts: list[tuple[float, Packet]]) -> list[Packet]:
    out = []
    for t, p in pkts:
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p
        p.time = t
        out.append(p)
    return out


def _tcp_session(t: float, sport: int = 40000, dport: int = 443, close: str = "F") -> list:
    c2s, s2c = (
        IP(src=C, dst=S) / TCP(sport=sport, dport=dport),
        IP(src=S, dst=C) / TCP(sport=dport, dport=sport),
    )
    seq = [
        (t, c2s.copy() / b""),
        (t + 0.01, s2c.copy()),
        (t + 0.02, c2s.copy()),
        (t + 0.03, c2s.copy() / Raw(b"x" * 100)),
        (t + 0.04, s2c.copy() / Raw(b"y" * 300)),
    ]
    seq[0][1][TCP].flags, seq[1][1][TCP].flags, seq[2][1][TCP].flags = "S", "SA", "A"
    seq[3][1][TCP].flags, seq[4][1][TCP].flags = "PA", "PA"
    if close == "F":
        fin1, fin2, ack = c2s.copy(), s2c.copy(), c2s.copy()
        fin1[TCP].flags, fin2[TCP].flags, ack[TCP].flags = "FA", "FA", "A"
        seq += [(t + 0.05, fin1), (t + 0.06, fin2), (t + 0.07, ack)]
    elif close == "R":
        rst = s2c.copy()
        rst[TCP].flags = "R"
        seq.append((t + 0.05, rst))
    return seq


def _write(tmp_path: Path, pkts: list[tuple[float, Packet]], name: str = "t.pcap") -> Path:
    path = tmp_path / name
    wrpcap(str(path), _at(pkts))
    return path


def _rows(db, order: str = "ts_start, segment") -> list[dict]:  # type: ignore[no-untyped-def]
    cur = db.execute(f"SELECT * FROM flows ORDER BY {order}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_handshake_makes_syn_sender_the_client_and_fin_ends_flow(tmp_path, replay) -> None:
    db, _ = replay([_write(tmp_path, _tcp_session(1000.0))])
    (row,) = _rows(db)
    assert (row["src_ip"], row["src_port"], row["dest_ip"], row["dest_port"]) == (C, 40000, S, 443)
    assert (row["pkts_toserver"], row["pkts_toclient"]) == (5, 3)
    assert row["end_reason"] == "fin"
    assert row["tcp_flags_ts"] == "1b" and row["tcp_flags_tc"] == "1b"  # FIN SYN PSH ACK


def test_synack_seen_first_still_names_the_client(tmp_path, replay) -> None:
    pkts = _tcp_session(1000.0)[1:]  # capture starts after the SYN
    db, _ = replay([_write(tmp_path, pkts)])
    (row,) = _rows(db)
    assert (row["src_ip"], row["dest_port"]) == (C, 443)


def test_rst_ends_flow_with_rst(tmp_path, replay) -> None:
    db, _ = replay([_write(tmp_path, _tcp_session(1000.0, close="R"))])
    assert [r["end_reason"] for r in _rows(db)] == ["rst"]


def test_port_reuse_after_fin_is_a_new_flow(tmp_path, replay) -> None:
    pkts = _tcp_session(1000.0) + _tcp_session(1001.0)
    db, _ = replay([_write(tmp_path, pkts)])
    rows = _rows(db)
    assert len(rows) == 2 and rows[0]["flow_id"] != rows[1]["flow_id"]
    assert [r["pkts_toserver"] + r["pkts_toclient"] for r in rows] == [8, 8]


def test_idle_gap_splits_udp_flow(tmp_path, replay) -> None:
    q = IP(src=C, dst=S) / UDP(sport=5353, dport=9999) / Raw(b"q")
    pkts = [(1000.0, q), (1010.0, q), (1010.0 + 121, q)]  # udp idle timeout: 120 s
    db, _ = replay([_write(tmp_path, pkts)])
    rows = _rows(db)
    assert [r["pkts_toserver"] for r in rows] == [2, 1]
    assert [r["end_reason"] for r in rows] == ["idle", "eof"]


def test_long_flow_emits_interim_records_with_one_flow_id(tmp_path, replay) -> None:
    cfg = SensorConfig(flow=FlowConfig(timeouts=FlowTimeouts(active=60.0)))
    up = IP(src=C, dst=S) / UDP(sport=40000, dport=8000) / Raw(b"a")
    down = IP(src=S, dst=C) / UDP(sport=8000, dport=40000) / Raw(b"b" * 400)
    pkts = [(1000.0, up)] + [(1000.0 + i, down) for i in range(1, 200)]  # 199 s of stream
    db, _ = replay([_write(tmp_path, pkts)], cfg=cfg)
    rows = _rows(db)
    assert len({r["flow_id"] for r in rows}) == 1
    assert [r["segment"] for r in rows] == [0, 1, 2, 3]
    assert [r["end_reason"] for r in rows] == ["active", "active", "active", "eof"]
    assert sum(r["pkts_toclient"] for r in rows) == 199
    assert all(r["src_ip"] == C for r in rows)


def test_dns_answer_seen_first_keeps_the_querier_as_client(tmp_path, replay) -> None:
    resp = IP(src=S, dst=C) / UDP(sport=53, dport=33333) / DNS(qr=1, qd=DNSQR(qname="a.b"))
    db, _ = replay([_write(tmp_path, [(1000.0, resp)])])
    (row,) = _rows(db)
    assert (row["src_ip"], row["dest_port"], row["pkts_toclient"]) == (C, 53, 1)


def test_icmp_echo_request_and_reply_form_one_flow(tmp_path, replay) -> None:
    pkts = [(1000.0, IP(src=C, dst=S) / ICMP(type=8)), (1000.1, IP(src=S, dst=C) / ICMP(type=0))]
    db, _ = replay([_write(tmp_path, pkts)])
    (row,) = _rows(db)
    assert (row["proto"], row["icmp_type"], row["src_port"]) == ("ICMP", 8, None)
    assert (row["pkts_toserver"], row["pkts_toclient"]) == (1, 1)


def test_table_bound_evicts_oldest_and_counts(tmp_path, replay) -> None:
    cfg = SensorConfig(flow=FlowConfig(max_flows=2))
    pkts = [
        (1000.0 + i, IP(src=C, dst=S) / UDP(sport=1000 + i, dport=7) / Raw(b"x")) for i in range(5)
    ]
    db, summary = replay([_write(tmp_path, pkts)], cfg=cfg)
    reasons = [r["end_reason"] for r in _rows(db)]
    assert reasons.count("evicted") == 3 and reasons.count("eof") == 2
    assert summary.ended["evicted"] == 3


@pytest.mark.parametrize("bad", [{"tcp": 0.0}, {"active": -1.0}])
def test_non_positive_timeouts_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FlowTimeouts(**bad)
