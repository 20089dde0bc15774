"""Matcher kinds by their YAML key, and the compiler from a signature's `match` to a tree.

Clause grammar (see signatures/README.md):
  {field: F, <kind>: value}        one test: domain, equals, regex, cidr, port
  {field: F, cidr|domain: {feed: NAME}}  the same test on a feed's entries (signatures/feeds/)
  {boundary: ...} / {behaviour: ...}  tests without a field
  {any: [clauses]} / {all: [clauses]} / {not: clause}; a list means all
  optional `weight: 0..1` on any clause
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sensor.classify.matchers.base import Evidence, Gate, Matcher
from sensor.classify.matchers.behaviour import BehaviourMatcher
from sensor.classify.matchers.boundary import BoundaryMatcher
from sensor.classify.matchers.cidr import CidrMatcher
from sensor.classify.matchers.domain import DomainMatcher
from sensor.classify.matchers.encrypted import FullyEncryptedMatcher
from sensor.classify.matchers.equals import EqualsMatcher
from sensor.classify.matchers.logic import AllOf, AnyOf, NotOf, Weighted
from sensor.classify.matchers.payload import PayloadMatcher
from sensor.classify.matchers.port import PortMatcher
from sensor.classify.matchers.regex import RegexMatcher
from sensor.classify.matchers.unlisted import UnlistedMatcher

if TYPE_CHECKING:
    from sensor.classify.feeds import Feed

__all__ = ["MATCHERS", "Evidence", "Gate", "Matcher", "compile_clause"]


class _Kind(Protocol):
    def parse(self, field: str | None, value: Any) -> Matcher: ...


MATCHERS: dict[str, _Kind] = {
    "domain": DomainMatcher,
    "equals": EqualsMatcher,
    "regex": RegexMatcher,
    "cidr": CidrMatcher,
    "port": PortMatcher,
    "boundary": BoundaryMatcher,
    "behaviour": BehaviourMatcher,
    "payload": PayloadMatcher,
    "unlisted": UnlistedMatcher,
    "fully_encrypted": FullyEncryptedMatcher,
}
"""Every matcher kind; a new kind is a new module and one entry here."""

_LOGIC = ("any", "all", "not")

_FEED_KINDS: dict[str, type[CidrMatcher] | type[DomainMatcher]] = {
    "cidr": CidrMatcher,
    "domain": DomainMatcher,
}
"""Kinds whose value may be `{feed: NAME}` instead of a list."""

_NO_FEEDS: Mapping[str, Feed] = {}


def compile_clause(
    spec: Any, path: str = "match", feeds: Mapping[str, Feed] = _NO_FEEDS
) -> Matcher:
    """Compile one clause; ValueError messages start with the clause's path (`match.any[1]`).
    `feeds` resolves `{feed: NAME}` values now, so a missing feed fails the load."""
    if isinstance(spec, list):
        return _weighted(AllOf(_parts(spec, path, feeds)), None, path)
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"{path}: expected a mapping or a list of clauses")
    keys = set(spec) - {"field", "weight"}
    logic = keys & set(_LOGIC)
    kinds = keys & set(MATCHERS)
    unknown = keys - set(_LOGIC) - set(MATCHERS)
    if unknown:
        known = ", ".join([*_LOGIC, *MATCHERS])
        raise ValueError(f"{path}: unknown key {sorted(unknown)[0]!r} (known: {known})")
    if len(logic) + len(kinds) != 1:
        raise ValueError(f"{path}: a clause has exactly one of {', '.join([*_LOGIC, *MATCHERS])}")
    field = spec.get("field")
    if field is not None and not isinstance(field, str):
        raise ValueError(f"{path}.field: expected a field name")
    if logic:
        if field is not None:
            raise ValueError(f"{path}: `field` belongs on the inner clauses")
        op = logic.pop()
        value = spec[op]
        if op == "not":
            m: Matcher = NotOf(compile_clause(value, f"{path}.not", feeds))
        elif not isinstance(value, list) or not value:
            raise ValueError(f"{path}.{op}: expected a non-empty list of clauses")
        else:
            parts = _parts(value, f"{path}.{op}", feeds)
            m = AnyOf(parts) if op == "any" else AllOf(parts)
    else:
        kind = kinds.pop()
        try:
            m = _leaf(kind, field, spec[kind], feeds)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    return _weighted(m, spec.get("weight") if isinstance(spec, Mapping) else None, path)


def _parts(items: list[Any], path: str, feeds: Mapping[str, Feed]) -> tuple[Matcher, ...]:
    return tuple(compile_clause(c, f"{path}[{i}]", feeds) for i, c in enumerate(items))


def _leaf(kind: str, field: str | None, value: Any, feeds: Mapping[str, Feed]) -> Matcher:
    """One test; a `{feed: NAME}` value takes the entries of that feed."""
    if kind not in _FEED_KINDS or not isinstance(value, Mapping):
        return MATCHERS[kind].parse(field, value)
    if set(value) != {"feed"}:
        raise ValueError(f"{kind}: expected a list or {{feed: NAME}}")
    feed = feeds.get(str(value["feed"]))
    if feed is None:
        known = ", ".join(sorted(feeds)) or "none loaded"
        raise ValueError(f"{kind}: unknown feed {value['feed']!r} (known: {known})")
    if feed.format != kind:
        raise ValueError(f"{kind}: feed {feed.name} holds {feed.format} entries")
    return _FEED_KINDS[kind].from_feed(field, list(feed.entries), feed.label)


def _weighted(m: Matcher, weight: Any, path: str) -> Matcher:
    if weight is None:
        return m
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1:
        raise ValueError(f"{path}.weight: expected a number in (0, 1], got {weight!r}")
    return Weighted(m, float(weight))
