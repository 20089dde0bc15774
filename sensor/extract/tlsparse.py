"""Pure TLS handshake parsers: ClientHello (SNI, ALPN, versions, ECH, JA3, JA4), ServerHello
and the clear-text certificate of TLS <= 1.2.

Input is handshake bytes (record layer already stripped and reassembled); every function
returns None for anything that is not a well-formed message, never raises.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

__all__ = [
    "ClientHello",
    "ServerHello",
    "is_grease",
    "ja4",
    "parse_client_hello",
    "parse_server_hello",
]

_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0200: "s2",
    0x0100: "s1",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
VERSION_NAMES = {
    0x0304: "TLS 1.3",
    0x0303: "TLS 1.2",
    0x0302: "TLS 1.1",
    0x0301: "TLS 1.0",
    0x0300: "SSL 3.0",
}
EXT_SNI, EXT_GROUPS, EXT_POINTS, EXT_SIGALGS, EXT_ALPN = 0, 10, 11, 13, 16
EXT_VERSIONS, EXT_QUIC_PARAMS, EXT_ECH = 43, 57, 0xFE0D


def is_grease(v: int) -> bool:
    """RFC 8701 GREASE values: 0x0a0a, 0x1a1a, ... 0xfafa."""
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What a ClientHello says about the client and where it goes."""

    legacy_version: int
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    sni: str | None
    alpn: tuple[str, ...]
    versions: tuple[int, ...]
    groups: tuple[int, ...]
    point_formats: tuple[int, ...]
    sigalgs: tuple[int, ...]
    ech: bool

    @property
    def version(self) -> int:
        """Highest offered version (supported_versions wins over the legacy field)."""
        real = [v for v in self.versions if not is_grease(v)]
        return max(real) if real else self.legacy_version

    def ja3_string(self) -> str:
        """JA3 input: version, ciphers, extensions, groups, point formats (GREASE removed)."""

        def j(xs: tuple[int, ...]) -> str:
            return "-".join(str(x) for x in xs if not is_grease(x))

        return ",".join(
            (
                str(self.legacy_version),
                j(self.ciphers),
                j(self.extensions),
                j(self.groups),
                j(self.point_formats),
            )
        )

    def ja3(self) -> str:
        """JA3 fingerprint (MD5 of ja3_string), as tshark's tls.handshake.ja3."""
        return hashlib.md5(self.ja3_string().encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class ServerHello:
    """The server's choices; `version` is the negotiated one."""

    version: int
    cipher: int
    alpn: str | None


_EXT_HEAD = struct.Struct("!HH")
_INTERESTING = frozenset(
    {EXT_SNI, EXT_GROUPS, EXT_POINTS, EXT_SIGALGS, EXT_ALPN, EXT_VERSIONS, EXT_ECH}
)


def _u16(b: bytes, i: int) -> int:
    return int(b[i]) << 8 | b[i + 1]


_U16S = tuple(struct.Struct(f"!{n}H") for n in range(64))
"""Compiled formats for the usual list lengths: building the format string and finding it
in struct's cache cost more than the unpacking (four lists per ClientHello)."""


def _u16_list(b: bytes, start: int, end: int) -> tuple[int, ...]:
    n = (end - start) // 2
    if n <= 0:
        return ()
    if n < 64:
        return _U16S[n].unpack_from(b, start)
    return struct.unpack_from(f"!{n}H", b, start)


def _name(raw: bytes) -> str | None:
    """A host name as analysts want it: lowercase, no trailing dot, printable ASCII only."""
    try:
        s = raw.decode("ascii").strip().rstrip(".").lower()
    except UnicodeDecodeError:
        return None
    return s if s and s.isprintable() and " " not in s else None


def parse_client_hello(hs: bytes) -> ClientHello | None:
    """Parse a handshake message that should be a ClientHello (type 1)."""
    try:
        return _client_hello(hs)
    except (IndexError, struct.error, ValueError):
        return None


def _client_hello(hs: bytes) -> ClientHello | None:
    if len(hs) < 42 or hs[0] != 1:
        return None
    end = 4 + int.from_bytes(hs[1:4], "big")
    if end > len(hs):
        return None
    legacy = _u16(hs, 4)
    p = 6 + 32
    p += 1 + hs[p]  # session id
    n = _u16(hs, p)
    if n % 2 or p + 2 + n > end:
        return None
    ciphers = _u16_list(hs, p + 2, p + 2 + n)
    p += 2 + n
    p += 1 + hs[p]  # compression methods
    if p + 2 > end:  # no extensions: an old client
        return ClientHello(legacy, ciphers, (), None, (), (), (), (), (), False)
    ext_end = p + 2 + _u16(hs, p)
    if ext_end > end:
        return None
    p += 2
    f = _Fields()
    head = _EXT_HEAD.unpack_from
    types = f.types
    interesting = _INTERESTING
    while p + 4 <= ext_end:
        kind, size = head(hs, p)
        body = p + 4
        if body + size > ext_end:
            return None
        types.append(kind)
        if kind in interesting:
            f.take(kind, hs, body, body + size)
        p = body + size
    return ClientHello(
        legacy,
        ciphers,
        tuple(f.types),
        f.sni,
        f.alpn,
        f.versions,
        f.groups,
        f.points,
        f.sigalgs,
        f.ech,
    )


class _Fields:
    """Extension values collected while walking a ClientHello."""

    __slots__ = ("alpn", "ech", "groups", "points", "sigalgs", "sni", "types", "versions")

    def __init__(self) -> None:
        self.types: list[int] = []
        self.sni: str | None = None
        self.alpn: tuple[str, ...] = ()
        self.versions: tuple[int, ...] = ()
        self.groups: tuple[int, ...] = ()
        self.points: tuple[int, ...] = ()
        self.sigalgs: tuple[int, ...] = ()
        self.ech = False

    def take(self, kind: int, b: bytes, s: int, e: int) -> None:
        if kind == EXT_SNI and e - s >= 5 and b[s + 2] == 0:
            n = _u16(b, s + 3)
            self.sni = _name(b[s + 5 : min(s + 5 + n, e)])
        elif kind == EXT_ALPN and e - s >= 2:
            self.alpn = _alpn_list(b, s + 2, min(s + 2 + _u16(b, s), e))
        elif kind == EXT_VERSIONS and e - s >= 1:
            self.versions = _u16_list(b, s + 1, min(s + 1 + b[s], e))
        elif kind == EXT_GROUPS and e - s >= 2:
            self.groups = _u16_list(b, s + 2, min(s + 2 + _u16(b, s), e))
        elif kind == EXT_POINTS and e - s >= 1:
            self.points = tuple(b[s + 1 : min(s + 1 + b[s], e)])
        elif kind == EXT_SIGALGS and e - s >= 2:
            self.sigalgs = _u16_list(b, s + 2, min(s + 2 + _u16(b, s), e))
        elif kind == EXT_ECH:
            self.ech = True


def _alpn_list(b: bytes, s: int, e: int) -> tuple[str, ...]:
    out = []
    while s < e:
        n = b[s]
        out.append(b[s + 1 : s + 1 + n].decode("latin-1"))
        s += 1 + n
    return tuple(out)


def parse_server_hello(hs: bytes) -> ServerHello | None:
    """Parse a ServerHello (type 2): negotiated version, cipher and ALPN."""
    try:
        if len(hs) < 42 or hs[0] != 2:
            return None
        end = min(4 + int.from_bytes(hs[1:4], "big"), len(hs))
        version = _u16(hs, 4)
        p = 6 + 32
        p += 1 + hs[p]
        cipher = _u16(hs, p)
        p += 3
        alpn = None
        if p + 2 <= end:
            ext_end = min(p + 2 + _u16(hs, p), end)
            p += 2
            while p + 4 <= ext_end:
                kind, size = _u16(hs, p), _u16(hs, p + 2)
                if kind == EXT_VERSIONS and size == 2:
                    version = _u16(hs, p + 4)
                elif kind == EXT_ALPN and size >= 3:
                    names = _alpn_list(hs, p + 6, p + 4 + size)
                    alpn = names[0] if names else None
                p += 4 + size
        return ServerHello(version, cipher, alpn)
    except (IndexError, struct.error, ValueError):
        return None


def _alpn_chars(alpn: tuple[str, ...]) -> str:
    if not alpn or not alpn[0]:
        return "00"
    v = alpn[0]
    first, last = v[0], v[-1]
    if first.isascii() and first.isalnum() and last.isascii() and last.isalnum():
        return first + last
    raw = v.encode("latin-1").hex()  # non-alphanumeric: first and last hex digits
    return raw[0] + raw[-1]


def _h12(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"


def ja4(ch: ClientHello, transport: str = "t") -> str:
    """JA4 (FoxIO spec): `t` for TCP, `q` for QUIC, `d` for DTLS."""
    ciphers = [c for c in ch.ciphers if not is_grease(c)]
    exts = [e for e in ch.extensions if not is_grease(e)]
    a = (
        f"{transport}{_VERSIONS.get(ch.version, '00')}{'d' if EXT_SNI in ch.extensions else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{_alpn_chars(ch.alpn)}"
    )
    b = _h12(",".join(f"{c:04x}" for c in sorted(ciphers)))
    ext_list = ",".join(f"{e:04x}" for e in sorted(exts) if e not in (EXT_SNI, EXT_ALPN))
    sig = ",".join(f"{s:04x}" for s in ch.sigalgs if not is_grease(s))
    c = _h12(f"{ext_list}_{sig}" if sig else ext_list)
    return f"{a}_{b}_{c}"
