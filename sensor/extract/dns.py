"""DNS over UDP and TCP, mDNS and LLMNR: query name and type, answers; feeds DnsNames."""

from __future__ import annotations

import socket
from typing import Any

from sensor.extract.base import ByteBudget
from sensor.extract.dnsparse import QTYPES, RCODES, DnsMessage, parse_dns
from sensor.extract.names import DnsNames, addr_key
from sensor.flow.key import unpack_ports
from sensor.flow.state import FlowState

__all__ = ["DnsExtractor"]

PORTS = frozenset({53, 5353, 5355})
_MAX_MESSAGES = 4
_MAX_PENDING = 8
_MAX_ANSWERS_TEXT = 1024
"""Characters kept of the answers joined (16 at most, each a name of <= 253 or an address):
real ones are a few CNAMEs and addresses, a few hundred."""


class DnsExtractor:
    """Recognised by port and header sanity; unicast answers teach DnsNames."""

    name = "dns"
    transports = frozenset({6, 17})
    first_bytes: frozenset[int] | None = None
    ports: frozenset[int] | None = PORTS

    def __init__(self, names: DnsNames, budget: ByteBudget | None = None) -> None:
        self._names = names
        self.budget = budget if budget is not None else ByteBudget(1 << 62)
        """Bytes of DNS-over-TCP messages buffered by all flows, up to 4 KB a side (the
        tls_quic share, shared with TLS, QUIC and HTTP heads)."""

    def release(self, scratch: dict[str, Any]) -> None:
        """The flow's TCP buffers are dropped: give their bytes back to the budget."""
        self.budget.release_all(scratch)

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """Port 53/5353/5355 and a plausible header (some questions or answers)."""
        lo, hi, _, _ = unpack_ports(flow.key[4])
        if lo not in PORTS and hi not in PORTS:
            return False
        msg = data[2:] if flow.proto == 6 else data
        if len(msg) < 12:
            return False
        qd, an = int.from_bytes(msg[4:6], "big"), int.from_bytes(msg[6:8], "big")
        return qd <= 64 and an <= 512 and (qd or an) > 0

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Parse each message; done after a response or a few messages."""
        flow.meta["app_proto"] = "dns"
        for raw in self._messages(flow, data, from_client, scratch):
            msg = parse_dns(raw)
            if msg is None:
                continue
            matched = self._matches(msg, from_client, scratch)
            self._record(flow, msg, ts, matched)
            scratch["n"] = scratch.get("n", 0) + 1
            if matched and self._unicast(flow):  # not before: a forged answer may come first
                return True
        return bool(scratch.get("n", 0) >= _MAX_MESSAGES)

    def _messages(
        self, flow: FlowState, data: bytes, from_client: bool, scratch: dict[str, Any]
    ) -> list[bytes]:
        if flow.proto == 17:
            return [data]
        key = "c" if from_client else "s"  # TCP: 2-byte length prefix per message
        buf = scratch.get(key, b"") + data
        out = []
        while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
            size = int.from_bytes(buf[:2], "big")
            out.append(buf[2 : 2 + size])
            buf = buf[2 + size :]
        if not self.budget.keep(scratch, key, buf[:4096]):
            self.budget.drop(scratch, key)  # over budget: the partial message is lost
        return out

    @staticmethod
    def _matches(msg: DnsMessage, from_client: bool, scratch: dict[str, Any]) -> bool:
        """Whether a response answers a query this flow's client sent (same transaction id
        and name, on this flow's addresses and ports, from the server's side). Anyone on the
        path can forge an answer "to" a host; only an answer to its own question may name
        that host's later flows, or a forged one frames it (issue 13)."""
        pending: set[tuple[int, str]] = scratch.setdefault("q", set())
        if not msg.response:
            if from_client and msg.qname and len(pending) < _MAX_PENDING:
                pending.add((msg.ident, msg.qname))
            return False
        return not from_client and (msg.ident, msg.qname or "") in pending

    def _record(self, flow: FlowState, msg: DnsMessage, ts: int, matched: bool) -> None:
        m = flow.meta
        # a query names the flow; a response only when no query was seen (one-way capture)
        if msg.qname and ("dns.query" not in m or (not msg.response and m.get("_dns_from_resp"))):
            m["dns.query"] = msg.qname
            m["dns.qtype"] = QTYPES.get(msg.qtype, str(msg.qtype))
            m["_dns_from_resp"] = msg.response
        if not msg.response:
            return
        m["dns.rcode"] = RCODES.get(msg.rcode, str(msg.rcode))
        if msg.answers:
            m["dns.answers"] = ",".join(a[3] for a in msg.answers[:16])[:_MAX_ANSWERS_TEXT]
        if msg.qname and self._unicast(flow):
            if matched:
                self._learn(flow, msg, ts)
            elif msg.answers:
                self._names.unmatched += 1

    @staticmethod
    def _unicast(flow: FlowState) -> bool:
        lo, hi, _, _ = unpack_ports(flow.key[4])
        return 53 in (lo, hi)

    def _learn(self, flow: FlowState, msg: DnsMessage, ts: int) -> None:
        k = flow.key
        client = (k[0], k[1]) if flow.client_is_lo else (k[2], k[3])
        for _owner, rtype, ttl, value in msg.answers:
            if rtype in (1, 28):
                fam = socket.AF_INET if rtype == 1 else socket.AF_INET6
                self._names.learn(
                    client, addr_key(socket.inet_pton(fam, value)), msg.qname or "", ttl, ts
                )
