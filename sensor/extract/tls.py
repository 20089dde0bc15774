"""TLS over TCP: ClientHello (reassembled across segments), ServerHello, clear certificates.

Writes `tls.sni`, `tls.alpn`, `tls.version`, `tls.ech`, `ja3`, `ja4`, `tls.alpn_selected`,
and for TLS <= 1.2 the server certificate's `tls.cert_subject`, `tls.cert_issuer`,
`tls.cert_san`.
"""

from __future__ import annotations

from typing import Any, cast

from sensor.extract.base import MAX_NAME, ByteBudget, set_server_name
from sensor.extract.certs import Certificates
from sensor.extract.sizedcache import SizedCache
from sensor.extract.tlsparse import (
    VERSION_NAMES,
    ClientHello,
    ServerHello,
    ja4,
    parse_client_hello,
    parse_server_hello,
)
from sensor.flow.state import FlowState

__all__ = ["HelloPrints", "TlsExtractor", "record_client_hello"]

_MAX_BUFFER = 1 << 16  # a ClientHello with a post-quantum key share is ~1.8 KB; 64 KB is ample
HANDSHAKE = 22
_CHANGE_CIPHER_SPEC = 20


class _Side:
    """Record-layer reassembly of one direction: handshake bytes out of whole records."""

    __slots__ = ("ccs", "hs", "raw")

    def __init__(self) -> None:
        self.raw = b""
        self.hs = b""
        self.ccs = False
        """A ChangeCipherSpec record was seen: what this side sends after it is encrypted
        (RFC 5246 7.1), so no clear handshake message follows (a resumed TLS 1.2 session's
        server never shows a certificate)."""

    def push(self, data: bytes) -> bool:
        """Add stream bytes; move whole handshake records into `hs`. False: not TLS."""
        self.raw += data
        while len(self.raw) >= 5:
            ctype, major, size = self.raw[0], self.raw[1], int.from_bytes(self.raw[3:5], "big")
            if major != 3 or size > 18432:
                return False
            if len(self.raw) < 5 + size:
                break
            if ctype == _CHANGE_CIPHER_SPEC:
                self.ccs = True
            elif ctype == HANDSHAKE and not self.ccs:
                self.hs += self.raw[5 : 5 + size]
            self.raw = self.raw[5 + size :]
        return len(self.raw) + len(self.hs) <= _MAX_BUFFER

    def message(self, kind: int) -> bytes | None:
        """The first handshake message of `kind` once it is complete, else None."""
        p = 0
        while p + 4 <= len(self.hs):
            size = int.from_bytes(self.hs[p + 1 : p + 4], "big")
            if p + 4 + size > len(self.hs):
                return None
            if self.hs[p] == kind:
                return self.hs[p : p + 4 + size]
            p += 4 + size
        return None


class _FlowTls:
    __slots__ = ("client", "client_done", "held", "hello", "server", "server_done")

    def __init__(self) -> None:
        self.client, self.server = _Side(), _Side()
        self.client_done = self.server_done = False
        self.hello: ServerHello | None = None
        """The ServerHello once parsed: TLS <= 1.2 waits for the certificate, often a few
        segments later, and the hello (the same bytes) was parsed again at each of them."""
        self.held = 0
        """Bytes of both sides' buffers taken from the extractor's ByteBudget."""

    def size(self) -> int:
        c, s = self.client, self.server
        return len(c.raw) + len(c.hs) + len(s.raw) + len(s.hs)


Prints = tuple[str, str, str, str | None]
"""(ja3, ja4, version name, alpn list) of a ClientHello."""


class HelloPrints(SizedCache[tuple[object, ...], Prints]):
    """Fingerprint strings by ClientHello shape: clients repeat the same few shapes, so
    JA3, JA4 and the rest are built once per shape (the server name is not part of it).

    One per pipeline, shared by the extractors that read a ClientHello (TLS, QUIC, DTLS),
    never process-wide: each pipeline (a worker, a test) has its own. Bounded in shapes and
    in bytes (`SizedCache`): a hello of 64 KB lists ~30,000 cipher and extension numbers,
    so 8,192 hostile shapes kept by count alone would hold ~7 GB; a browser's shape is
    counted as ~2.8 KB."""

    __slots__ = ()

    def __init__(self, limit: int = 8192, max_bytes: int = 8 << 20) -> None:
        super().__init__(limit, max_bytes)

    def of(self, ch: ClientHello, transport: str) -> Prints:
        """(ja3, ja4, version name, alpn list) of a hello over `transport` ("t" or "q")."""
        key = (ch.legacy_version, ch.ciphers, ch.extensions, ch.groups, ch.point_formats,
               ch.sigalgs, ch.alpn, ch.versions, transport)  # fmt: skip
        hit = self.get(key)
        if hit is None:
            v = ch.version
            hit = (
                ch.ja3(), ja4(ch, transport), VERSION_NAMES.get(v, f"0x{v:04x}"),
                ",".join(ch.alpn)[:MAX_NAME] if ch.alpn else None,  # a forged list: 64 KB
            )  # fmt: skip
            self.put(key, hit, _shape_bytes(key, hit))
        return hit


_SHAPE_OVERHEAD = 1024
"""Bytes of a kept shape beside its numbers and strings: the dict slot, the key tuple and its
nine members' headers, the value tuple and its strings' headers (a browser's whole shape:
1,796 B by tracemalloc, 2,762 estimated; the test holds every kind above)."""
_NUMBER_BYTES = 40
"""Bytes per number in a shape: its tuple slot and, above 256, its own int object."""
_STR_BYTES = 56
"""Bytes of a short string object beside its characters (an ALPN name in the key)."""


def _shape_bytes(key: tuple[object, ...], prints: Prints) -> int:
    """What keeping a shape costs, an estimate from above (tests/unit/extract/test_tls.py
    holds it to tracemalloc's figure)."""
    numbers = sum(len(part) for part in key if isinstance(part, tuple))
    text = sum(len(x) for x in prints if x is not None)
    alpn = cast("tuple[str, ...]", key[6])  # its strings are kept in the key as well
    return _SHAPE_OVERHEAD + _NUMBER_BYTES * numbers + text + sum(_STR_BYTES + len(a) for a in alpn)


def record_client_hello(
    flow: FlowState, ch: ClientHello, transport: str, prints: HelloPrints
) -> None:
    """Store what a ClientHello says (shared by TLS, QUIC and DTLS)."""
    m = flow.meta
    prefix = "tls" if transport == "t" else "quic"
    if ch.sni:
        sni = ch.sni[:MAX_NAME]
        m[f"{prefix}.sni"] = sni
        set_server_name(flow, sni, prefix)
    ja3, ja4_, version, alpn = prints.of(ch, transport)
    if alpn:
        m["tls.alpn"] = alpn
    m["tls.version"] = version
    m["tls.ech"] = ch.ech
    m["ja4"] = ja4_
    m["ja3"] = ja3


class TlsExtractor:
    """TLS on any TCP port (recognised by its record header, not by port 443)."""

    name = "tls"
    transports = frozenset({6})
    first_bytes: frozenset[int] | None = frozenset({0x16})
    ports: frozenset[int] | None = None

    def __init__(
        self,
        budget: ByteBudget | None = None,
        prints: HelloPrints | None = None,
        certs: Certificates | None = None,
    ):
        self.budget = budget if budget is not None else ByteBudget(1 << 62)
        """Handshake bytes buffered by all flows (the tls_quic share, shared with QUIC)."""
        self.prints = prints if prints is not None else HelloPrints()
        """Fingerprints by hello shape (shared with QUIC and DTLS)."""
        self.certs = certs if certs is not None else Certificates()
        """Server certificates' fields by certificate (bounded, evictions counted)."""

    def probe(self, flow: FlowState, data: bytes, from_client: bool) -> bool:
        """A handshake record carrying a ClientHello (client) or ServerHello (server)."""
        return (
            len(data) >= 6
            and data[0] == HANDSHAKE
            and data[1] == 3
            and data[2] <= 4
            and data[5] == (1 if from_client else 2)
        )

    def feed(
        self, flow: FlowState, data: bytes, from_client: bool, ts: int, scratch: dict[str, Any]
    ) -> bool:
        """Parse handshake messages until both hellos (and a clear certificate) are seen.

        A side that is done is buffered no more and its bytes go back to the budget: what
        it sends while the other side is awaited (the client's Finished and application
        data while a resumed TLS 1.2 server never shows a certificate, a one-sided capture)
        is neither kept nor cut into records, so it cannot spend the budget and give the
        flow up before the other side's fields are read."""
        st = scratch.get("tls")
        if st is None:
            st = scratch["tls"] = _FlowTls()
            flow.meta["app_proto"] = "tls"
        if st.client_done if from_client else st.server_done:
            return st.client_done and st.server_done
        side = st.client if from_client else st.server
        ok = side.push(data)
        grown = st.size() - st.held
        if grown > 0 and not self.budget.take(grown):  # over budget: give this flow up
            self.release(scratch)
            return True
        st.held += grown
        if grown < 0:
            self.budget.give(-grown)
        if not ok:  # not TLS (any more): this side has nothing for us
            done = True
        else:
            done = (
                self._client(flow, side, self.prints)
                if from_client
                else self._server(flow, st, self.certs)
            )
        if done:
            self._finish(st, side, from_client)
        return st.client_done and st.server_done

    def _finish(self, st: _FlowTls, side: _Side, from_client: bool) -> None:
        """`side` is done: drop its buffer and give its bytes back to the budget."""
        freed = len(side.raw) + len(side.hs)
        side.raw = side.hs = b""
        st.held -= freed
        self.budget.give(freed)
        if from_client:
            st.client_done = True
        else:
            st.server_done = True

    def release(self, scratch: dict[str, Any]) -> None:
        """The flow's buffers are dropped: give their bytes back to the budget."""
        st = scratch.get("tls")
        if st is not None:
            self.budget.give(st.held)
            st.held = 0
            st.client, st.server = _Side(), _Side()
            st.client_done = st.server_done = True

    @staticmethod
    def _client(flow: FlowState, side: _Side, prints: HelloPrints) -> bool:
        msg = side.message(1)
        if msg is None:
            return False
        ch = parse_client_hello(msg)
        if ch is not None:
            record_client_hello(flow, ch, "t", prints)
        return True

    @staticmethod
    def _server(flow: FlowState, st: _FlowTls, certs: Certificates) -> bool:
        side, sh = st.server, st.hello
        if sh is None:
            msg = side.message(2)
            if msg is None:
                return side.ccs  # after a ChangeCipherSpec no hello comes in clear
            sh = st.hello = parse_server_hello(msg)
            if sh is None:
                return True
        flow.meta["tls.version"] = VERSION_NAMES.get(sh.version, f"0x{sh.version:04x}")
        if sh.alpn:
            flow.meta["tls.alpn_selected"] = sh.alpn
        if sh.version >= 0x0304:
            return True  # the certificate is encrypted from here on
        cert = side.message(11)
        if cert is None:
            return side.ccs  # a resumed session: the server went encrypted without one
        flow.meta.update(certs.describe(cert))
        return True
