"""SIP over UDP or TCP: method, From/To domains, User-Agent/Server (RFC 3261)."""

from __future__ import annotations

import re
from typing import Any

from sensor.extract.base import MAX_NAME, set_server_name
from sensor.extract.http import parse_head
from sensor.flow.state import FlowState

__all__ = ["SipExtractor"]

METHODS = (
    b"INVITE ",
    b"REGISTER ",
    b"OPTIONS ",
    b"ACK ",
    b"BYE ",
    b"CANCEL ",
    b"SUBSCRIBE ",
    b"NOTIFY ",
    b"MESSAGE ",
    b"INFO ",
    b"PRACK ",
    b"UPDATE ",
    b"REFER ",
    b"PUBLISH ",
)
_DOMAIN = re.compile(r"sips?:(?:[^@;>\s]*@)?([^;>:\s]+)", re.I)
_MAX_MESSAGES = 4
_MAX_HEAD = 4096
"""Bytes of a message's head parsed: a real one is under 2 KB; the domain pattern is
quadratic on a forged 60 KB header (1.15 s)."""


def _domain(header: str | None) -> str | None:
    m = _DOMAIN.search(header or "")
    return m.group(1).lower().rstrip(".")[:MAX_NAME] if m else None


class SipExtractor:
    """Requests (`INVITE sip:...`) and responses (`SIP/2.0 200 OK`)."""

    name = "sip"
    transports = frozenset({6, 17})
    first_bytes: frozenset[int] | None = frozenset(b"IROABCSNMPU")
    ports: frozenset[int] | None = None

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A SIP request line or status line."""
        if data.startswith(b"SIP/2.0 "):
            return True
        return data.startswith(METHODS) and b" sip" in data[:64].lower()

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Parse a few messages; the first request names the call."""
        end = data.find(b"\r\n\r\n")
        parsed = parse_head(data[: end if 0 <= end <= _MAX_HEAD else _MAX_HEAD])
        scratch["n"] = scratch.get("n", 0) + 1
        if parsed is None:
            return True
        first, headers = parsed
        m = flow.meta
        m["app_proto"] = "sip"
        if first and first[0] != "SIP/2.0" and "sip.method" not in m:
            m["sip.method"] = first[0][:32]
            for name, field in (("from", "sip.from_domain"), ("to", "sip.to_domain")):
                dom = _domain(headers.get(name) or headers.get(name[0]))
                if dom:
                    m[field] = dom
            if "sip.to_domain" in m:
                set_server_name(flow, m["sip.to_domain"], "sip")
        agent = headers.get("user-agent")
        if agent and from_client:
            m["user_agent"] = m["sip.user_agent"] = agent[:256]
        if headers.get("server"):
            m["sip.server"] = headers["server"][:256]
        return bool(scratch["n"] >= _MAX_MESSAGES)
