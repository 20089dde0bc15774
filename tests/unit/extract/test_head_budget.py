"""HTTP heads and DNS-over-TCP messages waiting for their end are held against the shared
handshake budget (the tls_quic share): before, up to 16 KB a side per HTTP flow and 4 KB a
side per DNS flow were bounded only by the number of flows (found by review)."""

from __future__ import annotations

import struct

from sensor.extract import DnsNames, Inspector, default_extractors
from sensor.extract.base import ByteBudget
from sensor.extract.dns import DnsExtractor
from sensor.extract.http import HttpExtractor
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState


def _flow(port: int, i: int = 1) -> FlowState:
    return FlowState((0, i, 0, 2, pack_ports(40000 + i, port, 6, 4)), i, True, 6, 0, 0, 0)


def test_an_http_head_is_charged_while_it_waits_and_given_back_at_its_end() -> None:
    budget = ByteBudget(1 << 20)
    ext, flow, scratch = HttpExtractor(budget), _flow(80), {}
    part = b"GET /a HTTP/1.1\r\nHost: a.example\r\nX-Pad: " + b"p" * 1000
    assert ext.feed(flow, part, True, 0, scratch) is False
    assert budget.held == len(part) == scratch["held"]
    ext.feed(flow, b"\r\n\r\n", True, 1, scratch)
    assert budget.held == 0 and flow.meta["http.host"] == "a.example"
    ext.feed(flow, b"HTTP/1.1 200 OK\r\nServer: x" + b"y" * 500, False, 2, scratch)
    assert budget.held == len(b"HTTP/1.1 200 OK\r\nServer: x") + 500
    ext.release(scratch)  # the flow ended first
    assert budget.held == 0


def test_an_http_head_over_the_budget_is_parsed_as_far_as_it_came() -> None:
    budget = ByteBudget(2_000)
    heads = [b"GET /%d HTTP/1.1\r\nHost: h%d.example\r\nX-Pad: " % (i, i) + b"p" * 900
             for i in range(3)]  # fmt: skip
    flows = [_flow(80, i) for i in range(3)]
    scratches: list[dict[str, object]] = [{}, {}, {}]
    for f, head, s in zip(flows, heads, scratches, strict=True):
        HttpExtractor(budget).feed(f, head, True, 0, s)
    assert budget.held <= 2_000 and budget.refused == 1
    assert [f.meta.get("http.host") for f in flows] == [None, None, "h2.example"]


def test_dns_over_tcp_holds_its_partial_message_against_the_budget() -> None:
    budget = ByteBudget(1 << 20)
    names = DnsNames()
    ext, flow, scratch = DnsExtractor(names, budget), _flow(53), {}
    query = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x01a\x07example\x00\x00\x01\x00\x01"
    framed = struct.pack("!H", len(query)) + query
    ext.feed(flow, framed[:10], True, 0, scratch)
    assert budget.held == 10
    ext.feed(flow, framed[10:], True, 1, scratch)
    assert budget.held == 0 and flow.meta["dns.query"] == "a.example"
    ext.feed(flow, framed[:5], True, 2, scratch)
    ext.release(scratch)
    assert budget.held == 0


def test_the_inspector_gives_the_bytes_back_when_the_flow_ends_mid_head() -> None:
    budget = ByteBudget(1 << 20)
    names = DnsNames()
    insp = Inspector(default_extractors(names, budget), 16, names)
    flow = _flow(80)
    insp.start(flow)
    insp.feed(flow, b"GET /a HTTP/1.1\r\nHost: a.example\r\n", True, 0, 1000)
    assert budget.held > 0
    insp.release(flow)
    assert budget.held == 0
