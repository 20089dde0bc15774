"""Forged DNS answers: an answer names a client's flows only if it answers that client's own
query (transaction id, name, addresses and ports); the rest are counted, not learnt."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from tests.tools.synth import client_hello, tcp_session

C, S, R = "10.20.1.11", "104.18.32.47", "10.20.0.53"


def _udp(t: float, src: tuple[str, int], dst: tuple[str, int], dns: DNS) -> Ether:
    f = Ether() / IP(src=src[0], dst=dst[0]) / UDP(sport=src[1], dport=dst[1]) / dns
    f.time = t
    return f


def _answer(ident: int, name: str, addr: str) -> DNS:
    return DNS(id=ident, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, ttl=300, rdata=addr))


def _names(tmp_path: Path, replay, pkts: list) -> tuple[list, object]:  # type: ignore[no-untyped-def]
    pkts = pkts + tcp_session((C, 50001), (S, 443), 1001.0, [(True, client_hello(None))])
    path = tmp_path / "dns.pcap"
    wrpcap(str(path), pkts)
    db, summary = replay([path])
    rows = db.execute(
        "SELECT server_name, server_name_source FROM flows WHERE dest_port = 443"
    ).fetchall()
    return rows, summary


def test_a_forged_answer_names_nothing(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    forged = [_udp(1000.0, (R, 53), (C, 40000), _answer(7, "chatgpt.com", S))]
    rows, _ = _names(tmp_path, replay, forged)
    assert rows == [(None, None)]


def test_an_answer_with_another_id_or_name_names_nothing(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    q = _udp(1000.0, (C, 40000), (R, 53), DNS(id=7, rd=1, qd=DNSQR(qname="example.org")))
    wrong_id = _udp(1000.01, (R, 53), (C, 40000), _answer(8, "example.org", S))
    wrong_name = _udp(1000.02, (R, 53), (C, 40000), _answer(7, "chatgpt.com", S))
    rows, _ = _names(tmp_path, replay, [q, wrong_id, wrong_name])
    assert rows == [(None, None)]


def test_the_matching_real_answer_still_names(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    q = _udp(1000.0, (C, 40000), (R, 53), DNS(id=7, rd=1, qd=DNSQR(qname="ChatGPT.com")))
    forged = _udp(1000.01, (R, 53), (C, 40000), _answer(9, "claude.ai", S))
    real = _udp(1000.02, (R, 53), (C, 40000), _answer(7, "chatgpt.com", S))
    rows, _ = _names(tmp_path, replay, [q, forged, real])
    assert rows == [("chatgpt.com", "dns")]


def test_unmatched_answers_are_counted(tmp_path: Path) -> None:
    from sensor.capture.pcapfile import open_capture
    from sensor.config import SensorConfig
    from sensor.pipeline import Pipeline

    q = _udp(1000.0, (C, 40000), (R, 53), DNS(id=7, rd=1, qd=DNSQR(qname="example.org")))
    real = _udp(1000.01, (R, 53), (C, 40000), _answer(7, "example.org", S))
    forged = _udp(1000.02, (R, 53), ("10.20.1.12", 40001), _answer(3, "chatgpt.com", S))
    path = tmp_path / "dns.pcap"
    wrpcap(str(path), [q, real, forged])
    pipe = Pipeline(SensorConfig(), [])
    pipe.run([open_capture(path)])
    assert pipe.names.unmatched == 1 and len(pipe.names) == 1
