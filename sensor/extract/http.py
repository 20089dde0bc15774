"""HTTP/1.x requests and responses, including Icecast/SHOUTcast (`ICY 200 OK`, `icy-*`).

Writes `http.method`, `http.uri` (truncated), `http.host`, `http.user_agent`, `http.status`,
`http.server`, `http.content_type`, `http.icy` and `http.icy_name`/`http.icy_genre`/`http.icy_br`,
and `http.icy_metadata` when the client asked for in-stream titles (Icy-MetaData: 1).
"""

from __future__ import annotations

import re
from typing import Any

from sensor.extract.base import MAX_NAME, REPROBE, ByteBudget, set_server_name
from sensor.flow.state import FlowState

__all__ = ["HttpExtractor", "parse_head"]

METHODS = (
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"SOURCE ",
    b"TRACE ",
)
_MAX_HEAD = 16384
_MAX_URI = 256
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
"""A method is a token (RFC 9110 9.1, 5.6.2); a line that starts otherwise is not a request
(the probe only sees its first bytes: nDPI's 1kxun.pcap has binary "methods" of 105 to
1,378 characters)."""


def parse_head(head: bytes) -> tuple[list[str], dict[str, str]] | None:
    """Split a request/response head into its first line's words and lowercased headers."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    first = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name and name.strip() == name:
            headers.setdefault(name.lower(), value.strip())
    return first, headers


def _host(value: str) -> str | None:
    host = value.strip().lower()
    if host.startswith("["):  # [v6]:port
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    host = host[:MAX_NAME]
    return host if host and host.isprintable() and " " not in host else None


class HttpExtractor:
    """HTTP/1.x on any TCP port, recognised by its request or status line."""

    name = "http"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset(b"GPHDOCSTI")
    ports: frozenset[int] | None = None

    def __init__(self, budget: ByteBudget | None = None) -> None:
        self.budget = budget if budget is not None else ByteBudget(1 << 62)
        """Head bytes buffered by all flows, up to 16 KB a side (the tls_quic share, shared
        with TLS, QUIC and DNS over TCP)."""

    def release(self, scratch: dict[str, Any]) -> None:
        """The flow's head buffers are dropped: give their bytes back to the budget."""
        self.budget.release_all(scratch)

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A request line or a status line (from either side: through a reverse proxy the
        connection's responder may be the one asking)."""
        return data.startswith(METHODS) or data.startswith((b"HTTP/1.", b"ICY "))

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool | str:
        """Collect each direction's head (up to the blank line), then parse it once.

        A CONNECT answered 2xx opens a tunnel: what follows is probed again (often TLS).
        """
        key = "c" if from_client else "s"
        if scratch.get(key + "done"):
            return bool(scratch.get("cdone") and scratch.get("sdone"))
        buf = scratch.get(key, b"") + data
        end = buf.find(b"\r\n\r\n")
        if end < 0 and len(buf) < _MAX_HEAD and self.budget.keep(scratch, key, buf):
            return False  # (over budget: parse what came, as for a head too long)
        scratch[key + "done"] = True
        self.budget.drop(scratch, key)
        parsed = parse_head(buf[: end if end >= 0 else _MAX_HEAD])
        if parsed is not None:
            is_response = buf.startswith((b"HTTP/", b"ICY "))
            (self._response if is_response else self._request)(flow, *parsed)
        both = bool(scratch.get("cdone") and scratch.get("sdone"))
        m = flow.meta
        if both and m.get("http.method") == "CONNECT" and 200 <= m.get("http.status", 0) < 300:
            return REPROBE
        return both

    @staticmethod
    def _request(flow: FlowState, first: list[str], headers: dict[str, str]) -> None:
        m = flow.meta
        m["app_proto"] = "http"
        if len(first) >= 2 and _METHOD.fullmatch(first[0]):  # else not a request line
            m["http.method"] = first[0]
            m["http.uri"] = first[1][:_MAX_URI]  # whole, for signatures (tracker announces)
            m["http.path"] = first[1].split("?", 1)[0][:_MAX_URI]  # stored unless site says
        host = _host(headers.get("host", ""))
        if host:
            m["http.host"] = host
            set_server_name(flow, host, "http")
        ua = headers.get("user-agent")
        if ua:
            m["http.user_agent"] = m["user_agent"] = ua[:512]
        if headers.get("icy-metadata", "").strip() == "1":
            m["http.icy_metadata"] = True

    @staticmethod
    def _response(flow: FlowState, first: list[str], headers: dict[str, str]) -> None:
        m = flow.meta
        m["app_proto"] = "http"
        if len(first) >= 2 and len(first[1]) == 3 and first[1].isascii() and first[1].isdigit():
            m["http.status"] = int(first[1])  # RFC 9110 15: status-code = 3DIGIT
        if (first and first[0] == "ICY") or any(h.startswith("icy-") for h in headers):
            m["http.icy"] = True
        for name, field in (
            ("server", "http.server"),
            ("content-type", "http.content_type"),
            ("icy-name", "http.icy_name"),
            ("icy-genre", "http.icy_genre"),
            ("icy-br", "http.icy_br"),
        ):
            if name in headers:
                m[field] = headers[name][:256]
