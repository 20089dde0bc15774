"""`payload`: the first payload bytes of a direction (kept only while the flow lives, never
stored) start with, or contain, a byte pattern.

    {payload: {dir: toserver|toclient|any, content: "|13|BitTorrent protocol", offset: 0,
               depth: 20, regex: '^\\x05[\\x01-\\x03]', min_len: 4, max_len: 1500}}

`length_field: [offset, size, le|be, adjust]` requires the integer at that offset to equal
the payload's length minus `adjust` (a protocol's own length header).
`min_len`/`max_len` bound the length of that first payload (all of it, not only the kept
bytes). `content` uses Suricata's notation: text, with hex bytes between pipes. `offset`/`depth`
bound where it may start (default: exactly at `offset` 0 when no depth is given). `regex`
is a bytes regular expression searched in the kept bytes. All given keys must hold.
"""

from __future__ import annotations

import re
import re._constants as _c  # type: ignore[import-not-found]  # the regex parser's opcodes
import re._parser as _parser  # type: ignore[import-not-found]  # to read a pattern's first bytes
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from sensor.classify.matchers.base import RAW, Evidence, Gate, Need
from sensor.classify.view import FlowView, Networks
from sensor.extract.inspector import HEAD_BYTES, HEAD_TC, HEAD_TS

__all__ = ["PayloadMatcher", "parse_content"]

_KEYS = frozenset(
    {"dir", "content", "offset", "depth", "regex", "min_len", "max_len", "length_field"}
)


def parse_content(text: str) -> bytes:
    """`abc|0d 0a|def` -> b'abc\\r\\ndef'."""
    out = bytearray()
    parts = text.split("|")
    if len(parts) % 2 == 0:
        raise ValueError(f"content: unbalanced '|' in {text!r}")
    for i, part in enumerate(parts):
        if i % 2:
            try:
                out += bytes.fromhex(part)
            except ValueError:
                raise ValueError(f"content: bad hex {part!r} in {text!r}") from None
        else:
            out += part.encode("latin-1")
    if not out:
        raise ValueError("content: empty")
    return bytes(out)


class PayloadMatcher:
    kind: ClassVar[str] = "payload"

    __slots__ = (
        "content",
        "depth",
        "fields",
        "heads",
        "length",
        "max_len",
        "min_len",
        "offset",
        "regex",
        "text",
    )

    def __init__(self, spec: Mapping[str, Any]) -> None:
        direction = spec.get("dir", "any")
        if direction not in ("toserver", "toclient", "any"):
            raise ValueError("payload: dir must be toserver, toclient or any")
        self.fields = {
            "toserver": (HEAD_TS,),
            "toclient": (HEAD_TC,),
            "any": (HEAD_TS, HEAD_TC),
        }[direction]
        self.heads = tuple((f, f + "_len") for f in self.fields)
        """Each direction's head field and its length field, named once."""
        self.content = parse_content(str(spec["content"])) if "content" in spec else None
        self.offset = _int(spec, "offset", 0)
        self.depth = _int(spec, "depth", 0)
        self.min_len = _int(spec, "min_len", 0)
        self.max_len = _int(spec, "max_len", 1 << 30)
        if self.content is not None and self.offset + len(self.content) > HEAD_BYTES:
            raise ValueError(f"payload: content beyond the {HEAD_BYTES} bytes kept per direction")
        rx = spec.get("regex")
        try:
            self.regex = re.compile(str(rx).encode("latin-1"), re.S) if rx is not None else None
        except re.error as e:
            raise ValueError(f"payload: bad regex {rx!r}: {e}") from None
        self.length = _length_field(spec.get("length_field"))
        if (
            self.content is None
            and self.regex is None
            and self.length is None
            and ("min_len" not in spec)
        ):
            raise ValueError("payload: give content, regex, length_field or min_len")
        self.text = f"payload.{direction}"

    @classmethod
    def parse(cls, field: str | None, value: Any) -> PayloadMatcher:
        if field:
            raise ValueError("payload: takes no `field`")
        if not isinstance(value, Mapping):
            raise ValueError("payload: expected a mapping")
        bad = set(value) - _KEYS
        if bad:
            raise ValueError(f"payload: unknown {sorted(bad)} (known: {', '.join(sorted(_KEYS))})")
        return cls(value)

    def match(self, v: FlowView) -> Evidence | None:
        meta = v.meta
        for f, f_len in self.heads:
            head = meta.get(f)
            size = meta.get(f_len, 0)
            if head is None or not self.min_len <= size <= self.max_len:
                continue
            if self.length is not None:
                at, width, order, adjust = self.length
                if len(head) < at + width or (
                    int.from_bytes(head[at : at + width], order) != size - adjust
                ):
                    continue
            c = self.content
            if c is not None:
                if self.depth:
                    at = head.find(c, self.offset, self.offset + self.depth)
                    if at < 0:
                        continue
                elif head[self.offset : self.offset + len(c)] != c:
                    continue
            if self.regex is not None and not self.regex.search(head):
                continue
            return (f"{self.text}={self._describe()}", 1.0)
        return None

    def _describe(self) -> str:
        """What matched, from the signature (never the flow's own bytes)."""
        if self.content is not None:
            return repr(self.content)[2:-1][:40]
        if self.regex is not None:
            return "/" + self.regex.pattern.decode("latin-1")[:40] + "/"
        if self.length is not None:
            return f"length field at {self.length[0]}"
        return f"len>={self.min_len}"

    def gate(self) -> Gate | None:
        firsts = self._first_bytes()
        return (("first_byte", firsts),) if firsts else None

    def requires(self, nets: Networks) -> Need:
        """The first payload of one of its directions."""
        return frozenset(frozenset({f}) for f in self.fields)

    def reads(self) -> frozenset[str]:
        """The payload's bytes and length."""
        return frozenset({RAW})

    def _first_bytes(self) -> frozenset[int] | None:
        """The bytes a matching payload can start with, when the clause pins them down."""
        if self.content is not None and self.offset == 0:
            return frozenset({self.content[0]})
        if self.regex is not None and not self.regex.flags & re.IGNORECASE:
            return regex_first_bytes(self.regex.pattern)
        return None


def regex_first_bytes(pattern: bytes) -> frozenset[int] | None:
    """First bytes of an anchored (`^...`) regex's matches, or None if it cannot tell."""
    try:
        items = list(_parser.parse(pattern))
    except re.error:
        return None
    if not items or items[0] != (_c.AT, _c.AT_BEGINNING):
        return None
    return _first(items[1:])


def _first(items: list[Any]) -> frozenset[int] | None:
    if not items:
        return None
    op, arg = items[0]
    if op is _c.LITERAL:
        return frozenset({arg})
    if op is _c.IN:
        out: set[int] = set()
        for iop, iarg in arg:
            if iop is _c.LITERAL:
                out.add(iarg)
            elif iop is _c.RANGE:
                out.update(range(iarg[0], iarg[1] + 1))
            else:  # NEGATE, CATEGORY: too wide to be worth an index entry
                return None
        return frozenset(out)
    if op is _c.SUBPATTERN:
        return _first(list(arg[3]) + items[1:])
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
        low, _, sub = arg
        head = _first(list(sub))
        if head is None:
            return None
        if low > 0:
            return head
        rest = _first(items[1:])  # the repeated part may be absent
        return None if rest is None else head | rest
    if op is _c.BRANCH:
        union: set[int] = set()
        for alt in arg[1]:
            first = _first(list(alt))
            if first is None:
                return None
            union |= first
        return frozenset(union)
    return None


def _length_field(v: Any) -> tuple[int, int, Literal["little", "big"], int] | None:
    if v is None:
        return None
    if (
        not isinstance(v, list)
        or len(v) != 4
        or v[2] not in ("le", "be")
        or not all(isinstance(v[i], int) and not isinstance(v[i], bool) for i in (0, 1, 3))
        or v[1] not in (1, 2, 4)
        or v[0] < 0
        or v[0] + v[1] > HEAD_BYTES
    ):
        raise ValueError("payload: length_field: expected [offset, 1|2|4, le|be, adjust]")
    return (v[0], v[1], "little" if v[2] == "le" else "big", v[3])


def _int(spec: Mapping[str, Any], key: str, default: int) -> int:
    v = spec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"payload: {key}: expected a non-negative integer")
    return v
