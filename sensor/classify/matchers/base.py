"""The Matcher protocol: one kind of test a signature clause can make on a flow.

A matcher kind is one file in this package and one line in `MATCHERS`. `parse` gets the
clause as plain YAML values and raises ValueError with a message for the signature author;
`match` returns evidence (what field matched which value, and how much to trust it) or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from sensor.classify.view import FlowView

__all__ = ["Evidence", "Gate", "Matcher", "as_list"]

Evidence = tuple[str, float]
"""(`field=value` text for the analyst, weight 0..1 applied to the signature's confidence)."""

Gate = tuple[str, frozenset[Any]]
"""(index name, keys): the classifier only tries a signature for flows showing one of the keys.
Index names: `domain` (name suffixes), `app_proto`, `port` (server port)."""


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
