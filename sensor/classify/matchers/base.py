"""The Matcher protocol: one kind of test a signature clause can make on a flow.

A matcher kind is one file in this package and one line in `MATCHERS`. `parse` gets the
clause as plain YAML values and raises ValueError with a message for the signature author;
`match` returns evidence (what field matched which value, and how much to trust it) or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from sensor.classify.view import FlowView, Networks

__all__ = [
    "ANYTHING",
    "FEW_VALUES",
    "GATE_RANK",
    "NEVER",
    "RAW",
    "VIRTUAL_FIELDS",
    "Evidence",
    "Gate",
    "Matcher",
    "Need",
    "as_list",
    "field_gate",
    "field_need",
    "field_reads",
    "gate_rank",
    "need_all",
    "need_any",
]

Evidence = tuple[str, float]
"""(`field=value` text for the analyst, weight 0..1 applied to the signature's confidence)."""

Gate = tuple[tuple[str, frozenset[Any]], ...]
"""Alternatives of (index name, keys): the classifier only tries a signature for flows that
show one of the keys of one alternative. Index names, most selective first: `domain` (name
suffixes), `net` (the server address's /16, or /32 for IPv6), `app_proto` (any layer of a
stacked `socks/tls`), `field` (the flow has that extractor field at all), `port` (server
port), `first_byte` (of either direction's first payload), `volume` (bit length of the
flow's byte count), `transport` (tcp, udp, ...)."""

GATE_RANK = {
    "domain": 0,
    "net": 1,
    "app_proto": 2,
    "field": 3,
    "port": 4,
    "first_byte": 5,
    "volume": 6,
    "transport": 7,
}

_COMMON = frozenset({"tls", "quic", "http", "dns", 80, 443, 53})
_NAMED = frozenset({"domain", "app_proto", "port"})
"""Index kinds whose keys `_COMMON` is about (a volume of 2**53 bytes is not port 53)."""


def gate_rank(gate: Gate) -> int:
    """How many flows a gate lets through, roughly: lower is more selective. A gate on a
    value most flows have (TLS, port 443) is worth little whatever its kind."""
    return max(GATE_RANK[k] + (5 if k in _NAMED and keys & _COMMON else 0) for k, keys in gate)


Need = frozenset[frozenset[str]]
"""What a flow must carry for a clause to possibly match: alternatives (any one will do), each
a set of extractor fields (`tls.sni`, `_head.toserver`, `app_proto`) that must all be present
(not None) in the flow's meta. `ANYTHING` asks for nothing; `NEVER` (no alternative) means
the clause cannot match at this site (e.g. `unlisted` while the site's list is empty)."""

ANYTHING: Need = frozenset({frozenset()})
NEVER: Need = frozenset()
_MAX_ALTERNATIVES = 64


def need_any(needs: list[Need]) -> Need:
    """One of several clauses: any alternative of any of them."""
    return _minimal(frozenset().union(*needs))


def need_all(needs: list[Need]) -> Need:
    """Every clause: one alternative of each, together. When the combinations are too many,
    the need of one clause alone (weaker, still true) stands for all."""
    out: Need = ANYTHING
    for n in needs:
        if len(out) * len(n) > _MAX_ALTERNATIVES:
            return out if out != ANYTHING else n
        out = _minimal(frozenset(a | b for a in out for b in n))
    return out


def _minimal(need: Need) -> Need:
    """Drop alternatives that ask for more than another one does."""
    return frozenset(a for a in need if not any(b < a for b in need))


def field_need(field: str) -> Need:
    """A test on a field: an extractor field must be there; a virtual one always is."""
    return ANYTHING if field in VIRTUAL_FIELDS else frozenset({frozenset({field})})


RAW = "raw"
"""An input with too many distinct values to key a verdict on (an address quoted in the
evidence, the payload's bytes, the flow's byte counts): a signature that reads one is
evaluated on every record, never remembered."""


FEW_VALUES = frozenset(
    {
        "transport",
        "app_proto",
        "tls.alpn",
        "quic.alpn",
        "http.method",
        "http.icy",
        "http.icy_br",
        "ssdp.method",
        "ssdp.st",
        "ssdp.nt",
        "dhcp.message_types",
        "server_name_source",
    }
)
"""Fields with a few values each (protocols, methods, flags): a verdict is worth keying on
them. Any other field (a name, a request target, a banner, a certificate subject, an
address or port given as a field) has about as many values as flows: a test on it is cheap
to run on each record and a verdict keyed on it would seldom be found again."""


def field_reads(field: str) -> frozenset[str]:
    """What `FlowView.get(field)` reads: the field's value (`field:NAME`) when it has few
    values (`FEW_VALUES`), else `RAW`."""
    return frozenset({f"field:{field}"}) if field in FEW_VALUES else frozenset({RAW})


VIRTUAL_FIELDS = frozenset({"transport", "dest_port", "src_port", "dest_ip", "src_ip"})
"""Fields every flow has (computed from the record, not found by an extractor)."""


def field_gate(field: str) -> Gate | None:
    """A test on an extractor field can only pass on flows that have the field."""
    return None if field in VIRTUAL_FIELDS else (("field", frozenset({field})),)


class Matcher(Protocol):
    """A compiled clause."""

    kind: ClassVar[str]

    def match(self, v: FlowView) -> Evidence | None:
        """Evidence that the flow satisfies the clause, or None."""
        ...

    def gate(self) -> Gate | None:
        """Keys one of which every matching flow must show, or None when there are none."""
        ...

    def requires(self, nets: Networks) -> Need:
        """The fields a flow must carry for the clause to match at a site with these
        networks and lists (`ANYTHING` when none; `NEVER` when it cannot match there)."""
        ...

    def reads(self) -> frozenset[str]:
        """Every input the clause's result (match or not, and its evidence) depends on:
        `names` (server names and their source), `field:NAME` (`FlowView.get`),
        `dest_port`, `src_port`, `boundary` (the sides of the site's networks and
        workstation networks each end is in), or `RAW` (anything else)."""
        ...


def as_list(value: Any, what: str) -> list[Any]:
    """A YAML scalar or list as a non-empty list."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items or any(i is None or isinstance(i, Mapping | list) for i in items):
        raise ValueError(f"{what}: expected a value or a list of values")
    return items
