"""The Extractor protocol: app-layer parsers that see the first payload of a flow.

An extractor `probe`s a flow's first payload to claim it, then gets the flow's in-order
payload per direction through `feed` until it says it is done or the inspection budget runs
out. It writes what it saw into `flow.meta` under dotted field names (`tls.sni`,
`http.host`, ...), which become columns of the flow record and what signatures match on.
"""

from __future__ import annotations

from typing import Any, Protocol

from sensor.flow.state import FlowState

__all__ = ["HANDOFF", "MAX_NAME", "REPROBE", "ByteBudget", "Extractor", "set_server_name"]

MAX_NAME = 255
"""Longest host name kept (DNS names are at most 253 characters): a 60 k "SNI" is payload,
not a name, and is cut like URIs and User-Agents are."""

REPROBE = "reprobe"
"""What `feed` returns when a tunnel opened (HTTP CONNECT, SOCKS): the flow's next payload
is a protocol of its own and goes through the probes again."""

HANDOFF = "handoff"
"""What `feed` returns when this very payload is already the next protocol (WebRTC's DTLS
after its STUN checks, on the same UDP flow): the probes get it again."""

# Where `server_name` may come from, strongest first: a name the client sent in this flow
# beats one learnt from an earlier DNS answer.
NAME_SOURCES = ("tls", "quic", "http", "sip", "dns")


FIELDS_INCLUDED = 3072
"""Bytes of fields (by `fields_bytes`) that a flow's and a record's measured size in the
memory budget already include (sensor/budget.py: FLOW_BYTES and RECORD_BYTES were measured
with a TLS flow's fields, which `fields_bytes` puts at 2,998). A flow whose fields pass it
is charged the rest: every field is capped, but a sender can fill every cap at once (a
certificate's subject, issuer and names alone may reach 20 KB)."""


def fields_bytes(meta: dict[str, Any]) -> int:
    """What a flow's fields hold, an estimate from above (tracemalloc, CPython 3.11): per
    field its dict slot and name, and its value's object and characters (four bytes a
    character for text that is not ASCII)."""
    n = 232  # the dict itself
    for k, v in meta.items():
        n += 104 + len(k)
        if isinstance(v, str):
            n += 80 + (len(v) if v.isascii() else 4 * len(v))
        elif isinstance(v, bytes):
            n += 40 + len(v)
        else:
            n += 32
    return n


class ByteBudget:
    """Bytes that all flows hold in one kind of buffer, against one limit (a share of
    limits.memory_mb): `take` before holding, `give` when the bytes are dropped."""

    __slots__ = ("held", "limit", "peak", "refused")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self.refused = 0
        """Requests turned down because the budget was spent."""

    def take(self, n: int) -> bool:
        """Hold `n` more bytes if the limit allows (else count a refusal and say no)."""
        if self.held + n > self.limit:
            self.refused += 1
            return False
        self.held += n
        if self.held > self.peak:
            self.peak = self.held
        return True

    def give(self, n: int) -> None:
        """`n` bytes taken earlier are no longer held."""
        self.held -= n

    def keep(self, scratch: dict[str, Any], key: str, buf: bytes) -> bool:
        """Hold `buf` as `scratch[key]` in place of what it held, charging the difference
        and counting it in `scratch["held"]` (what `drop` and `release_all` give back);
        False, and nothing changed, if the budget cannot hold it."""
        grown = len(buf) - len(scratch.get(key, b""))
        if grown > 0 and not self.take(grown):
            return False
        if grown < 0:
            self.give(-grown)
        scratch[key] = buf
        scratch["held"] = scratch.get("held", 0) + grown
        return True

    def drop(self, scratch: dict[str, Any], key: str) -> bytes:
        """Stop holding `scratch[key]`: its bytes go back; returns them (b"" if none)."""
        buf: bytes = scratch.pop(key, b"")
        if buf:
            self.give(len(buf))
            scratch["held"] -= len(buf)
        return buf

    def release_all(self, scratch: dict[str, Any]) -> None:
        """The flow's scratch is dropped: give back everything `keep` charged to it."""
        self.give(scratch.pop("held", 0))


class Extractor(Protocol):
    """One application protocol. Stateless itself: per-flow state lives in `flow.ext`."""

    name: str
    """Short protocol name; also the `app_proto` value it sets."""
    transports: frozenset[int]
    """IP protocols it can parse (6 TCP, 17 UDP)."""
    first_bytes: frozenset[int] | None
    """Every first payload byte its probe can accept (None: any); the Inspector only calls
    the probes that can match, which matters when a flow is probed by every extractor."""
    ports: frozenset[int] | None
    """Ports one side must use for its probe to be tried (None: any port)."""

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """True if `data`, the first payload seen in one direction, looks like this protocol."""
        ...

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool | str:
        """Parse the next in-order payload; return True when nothing more is needed,
        REPROBE when what follows is another protocol, or HANDOFF when this payload is.

        `scratch` is this extractor's private state for this flow (empty at first).
        An extractor that buffers bytes against a ByteBudget also has `release(scratch)`,
        which the Inspector calls when it drops that scratch (done, flow ended, tunnel).
        """
        ...


def set_server_name(flow: FlowState, name: str, source: str) -> None:
    """Record the flow's server name unless a stronger source already gave one. A name with
    a control character or a space is no host name, whatever its source (TLS and HTTP check
    their own; a DNS label or a SIP URI let ESC, NUL and newlines through): it names
    nothing, so it can neither match a domain signature nor reach an output unescaped."""
    if not name.isprintable() or " " in name:
        return
    meta = flow.meta
    old = meta.get("server_name_source")
    if old is None or NAME_SOURCES.index(source) < NAME_SOURCES.index(old):
        meta["server_name"] = name[:MAX_NAME]  # each source caps its own too
        meta["server_name_source"] = source
