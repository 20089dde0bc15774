"""Protocols that look like RDP, SOCKS or OpenVPN in their first bytes are not taken for them,
and the real ones still are (captures from the shared corpora, published by nDPI)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sensor.capture.pcapfile import open_capture
from sensor.config import SensorConfig
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline
from tests.conftest import SHARED

pytestmark = pytest.mark.corpus


class _Protos:
    name = "protos"

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self.seen[str(flow.meta.get("app_proto"))] += 1

    def flush(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def _app_protos(rel: str) -> Counter[str]:
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"{rel} is absent")
    sink = _Protos()
    Pipeline(SensorConfig(), [sink]).run([open_capture(Path(path))])
    return sink.seen


@pytest.mark.parametrize(
    ("capture", "not_this"),
    [
        ("corpus-ndpi/pcaps/s7comm.pcap", "rdp"),  # ISO-TSAP (TPKT + COTP with TSAPs)
        ("corpus-ndpi/pcaps/s7comm-plus.pcap", "rdp"),
        ("corpus-ndpi/pcaps/iso9506-1-mms.pcap", "rdp"),
        ("corpus-ndpi/pcaps/mssql_tds.pcap", "socks"),  # TDS reply 04 01 ...
        ("corpus-ndpi/pcaps/bad-dns-traffic.pcap", "openvpn"),
        ("corpus-ndpi/pcaps/dns_exfiltration.pcap", "openvpn"),
        ("corpus-ndpi/pcaps/quic_sh.pcap", "openvpn"),
        ("corpus-ndpi/pcaps/starcraft_battle.pcap", "openvpn"),
    ],
)
def test_lookalikes_are_not_taken_for_the_protocol(capture: str, not_this: str) -> None:
    assert _app_protos(capture)[not_this] == 0


@pytest.mark.parametrize(
    ("capture", "this"),
    [
        ("corpus/pcaps/rdp.pcap", "rdp"),
        ("corpus/pcaps/rdp3.pcap", "rdp"),
        ("corpus/pcaps/socks-http-example.pcap", "socks/http"),
        ("corpus/pcaps/openvpn.pcap", "openvpn"),
        ("corpus/pcaps/openvpn-tlscrypt.pcap", "openvpn"),
        ("corpus/pcaps/openvpn_nohmac_tcp.pcapng", "openvpn"),
    ],
)
def test_the_real_protocols_are_still_recognised(capture: str, this: str) -> None:
    assert _app_protos(capture)[this] >= 1
