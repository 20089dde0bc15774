"""Inspector: the probe candidates it decides once per flow are exactly those that the
per-payload tests (transport, first byte, ports) would pick, for every byte and port."""

from __future__ import annotations

import pytest

from sensor.extract import DnsNames, Inspector, default_extractors
from sensor.extract.base import Extractor
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState

_PORTS = [53, 67, 68, 80, 123, 443, 1900, 3478, 5353, 5355, 6881, 40000, 65535]


def _naive(exts: tuple[Extractor, ...], proto: int, a: int, b: int, byte: int) -> list[str]:
    return [
        e.name
        for e in exts
        if proto in e.transports
        and (e.first_bytes is None or byte in e.first_bytes)
        and (e.ports is None or a in e.ports or b in e.ports)
    ]


@pytest.mark.parametrize("proto", [6, 17])
def test_flow_dispatch_equals_per_payload_filter(proto: int) -> None:
    names = DnsNames()
    insp = Inspector(default_extractors(names), 16, names)
    port_bound = {e.name for e in insp.extractors if e.ports is not None}
    assert {"dns", "dhcp", "ntp"} <= port_bound  # the table is tested with ports that matter
    for a in _PORTS:
        for b in _PORTS:
            flow = FlowState((0, 1, 0, 2, pack_ports(a, b, proto, 4)), 1, True, proto, 0, 0, 0)
            insp.start(flow)
            insp.feed(flow, b"\xff", True, 0, 0)  # makes the flow's inspection state
            table = flow.ext.dispatch
            for byte in range(256):
                got = [e.name for e in table[byte]]
                assert got == _naive(insp.extractors, proto, a, b, byte), (a, b, byte)


def test_port_bound_probe_claims_only_on_its_port() -> None:
    """A DNS query is claimed on port 53 and left alone on a port DNS does not use."""
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x07example\x00\x00\x01\x00\x01"
    names = DnsNames()
    insp = Inspector(default_extractors(names), 16, names)
    found = {}
    for port in (53, 40001):
        flow = FlowState((0, 1, 0, 2, pack_ports(40000, port, 17, 4)), 1, True, 17, 0, 0, 0)
        insp.start(flow)
        insp.feed(flow, query, True, 0, 0)
        found[port] = flow.meta.get("app_proto")
    assert found == {53: "dns", 40001: None}
