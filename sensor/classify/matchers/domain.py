"""`domain`: label-boundary suffix match on server names (`openai.com` matches
`api.openai.com`, not `notopenai.com`), case-folded, trailing dot ignored."""

from __future__ import annotations

from typing import Any, ClassVar

from sensor.classify.matchers.base import (
    Evidence,
    Gate,
    Need,
    as_list,
    field_gate,
    field_need,
    field_reads,
)
from sensor.classify.view import NAME_FIELDS, FlowView, Networks

__all__ = ["DomainMatcher", "suffixes"]

DNS_NAME_WEIGHT = 0.8
"""A name learnt from an earlier DNS answer, not sent in this flow, is weaker evidence."""


def suffixes(name: str) -> list[str]:
    """`a.b.c` -> [`a.b.c`, `b.c`, `c`]."""
    out = [name]
    i = name.find(".")
    while i >= 0:
        name = name[i + 1 :]
        out.append(name)
        i = name.find(".")
    return out


def normalise(domain: str) -> str:
    d = str(domain).strip().lower().rstrip(".")
    if d.startswith("*."):
        d = d[2:]
    if not d or " " in d or "/" in d or ".." in d or "*" in d:
        raise ValueError(f"domain: not a domain name: {domain!r}")
    return d


class DomainMatcher:
    kind: ClassVar[str] = "domain"

    __slots__ = ("domains", "feed", "field")

    def __init__(self, field: str, domains: frozenset[str], feed: str = "") -> None:
        self.field = field
        self.domains = domains
        self.feed = f" (feed {feed})" if feed else ""
        """Said after the evidence when the domains come from a feed (`name@version`)."""

    @classmethod
    def parse(cls, field: str | None, value: Any) -> DomainMatcher:
        return cls(field or "names", frozenset(normalise(d) for d in as_list(value, "domain")))

    @classmethod
    def from_feed(cls, field: str | None, entries: list[str], label: str) -> DomainMatcher:
        """The feed's domains, its `name@version` quoted in the evidence."""
        m = cls.parse(field, entries)
        return cls(m.field, m.domains, label)

    def match(self, v: FlowView) -> Evidence | None:
        if self.field == "names":
            pairs = v.names()
        else:
            raw = v.get(self.field)
            pairs = [(self.field, str(raw).lower().rstrip("."))] if raw else []
        doms = self.domains
        for f, name in pairs:
            for s in suffixes(name):
                if s in doms:
                    weak = f == "server_name" and v.meta.get("server_name_source") == "dns"
                    return (
                        f"{f}{'(dns)' if weak else ''}={name}{self.feed}",
                        DNS_NAME_WEIGHT if weak else 1,
                    )
        return None

    def gate(self) -> Gate | None:
        if self.field == "names" or self.field in NAME_FIELDS:
            return (("domain", self.domains),)
        return field_gate(self.field)

    def requires(self, nets: Networks) -> Need:
        if self.field == "names":
            return frozenset(frozenset({f}) for f in NAME_FIELDS)
        return field_need(self.field)

    def reads(self) -> frozenset[str]:
        """`names` is every server name and where `server_name` came from (DNS is weaker)."""
        if self.field == "names":
            return frozenset({"names"})
        if self.field == "server_name":
            return field_reads("server_name") | field_reads("server_name_source")
        return field_reads(self.field)
