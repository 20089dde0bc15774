"""The Matcher protocol: one kind of test a signature clause can make on a flow.

A matcher kind is one file in this package and one line in `MATCHERS`. `parse` gets the
clause as plain YAML values and raises ValueError with a message for the signature author;
`match` returns evidence (what field matched which value, and how much to trust it) or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from sensor.classify.view import FlowView

__all__ = [
    "GATE_RANK",
    "VIRTUAL_FIELDS",
    "Evidence",
    "Gate",
    "Matcher",
    "as_list",
    "field_gate",
    "gate_rank",
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


def gate_rank(gate: Gate) -> int:
    """How many flows a gate lets through, roughly: lower is more selective. A gate on a
    value most flows have (TLS, port 443) is worth little whatever its kind."""
    return max(GATE_RANK[k] + (5 if keys & _COMMON else 0) for k, keys in gate)


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


def as_list(value: Any, what: str) -> list[Any]:
    """A YAML scalar or list as a non-empty list."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items or any(i is None or isinstance(i, Mapping | list) for i in items):
        raise ValueError(f"{what}: expected a value or a list of values")
    return items
