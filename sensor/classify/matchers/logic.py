"""Combinators: `all` (every clause), `any` (the first clause that matches), `not`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Protocol

from sensor.classify.matchers.base import (
    ANYTHING,
    Evidence,
    Gate,
    Matcher,
    Need,
    gate_rank,
    need_all,
    need_any,
)
from sensor.classify.view import FlowView, Networks

__all__ = ["AllOf", "AnyOf", "NotOf", "Weighted", "best_match", "combine_all"]


_COST = {"behaviour": 0, "port": 1, "equals": 2, "payload": 3, "domain": 4, "cidr": 5}


class _Matches(Protocol):
    def match(self, v: FlowView) -> Evidence | None: ...


def combine_all(found: list[Evidence]) -> Evidence:
    """`all`'s evidence from its parts' evidence, in the parts' order (also used by the
    classifier's residual evaluators, classify/residual.py, which must give the same)."""
    return ("; ".join([t for t, _ in found if t]), min([w for _, w in found], default=1.0))


def best_match(parts: Iterable[_Matches], v: FlowView) -> Evidence | None:
    """`any`'s choice: the strongest matching part, the first of equals; a full-weight match
    ends the search."""
    best: Evidence | None = None
    for p in parts:
        e = p.match(v)
        if e is not None and (best is None or e[1] > best[1]):
            best = e
            if e[1] >= 1.0:
                break
    return best


class AllOf:
    kind: ClassVar[str] = "all"

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Matcher, ...]) -> None:
        # cheap and selective tests first: numbers, then fields, then text and addresses
        self.parts = tuple(sorted(parts, key=lambda p: _COST.get(p.kind, 9)))

    def match(self, v: FlowView) -> Evidence | None:
        # most flows fail an early part: collect first, build the evidence only on success
        found = []
        for p in self.parts:
            e = p.match(v)
            if e is None:
                return None
            found.append(e)
        return combine_all(found)

    def gate(self) -> Gate | None:
        """The most selective part's gate (every part must hold, so any one gate will do)."""
        gates = [g for g in (p.gate() for p in self.parts) if g is not None]
        if not gates:
            return None
        return min(gates, key=gate_rank)

    def requires(self, nets: Networks) -> Need:
        """What every part needs, together."""
        return need_all([p.requires(nets) for p in self.parts])

    def reads(self) -> frozenset[str]:
        return frozenset().union(*(p.reads() for p in self.parts))


class AnyOf:
    kind: ClassVar[str] = "any"

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Matcher, ...]) -> None:
        self.parts = parts

    def match(self, v: FlowView) -> Evidence | None:
        return best_match(self.parts, v)

    def gate(self) -> Gate | None:
        """Every alternative's gates: a flow that fails all of them fails every part."""
        merged: dict[str, frozenset[object]] = {}
        for p in self.parts:
            g = p.gate()
            if g is None:
                return None
            for kind, keys in g:
                merged[kind] = merged.get(kind, frozenset()) | keys
        return tuple(merged.items()) or None

    def requires(self, nets: Networks) -> Need:
        """What one of the parts needs."""
        return need_any([p.requires(nets) for p in self.parts])

    def reads(self) -> frozenset[str]:
        return frozenset().union(*(p.reads() for p in self.parts))


class NotOf:
    kind: ClassVar[str] = "not"

    __slots__ = ("part",)

    def __init__(self, part: Matcher) -> None:
        self.part = part

    def match(self, v: FlowView) -> Evidence | None:
        return None if self.part.match(v) is not None else ("", 1.0)

    def gate(self) -> Gate | None:
        return None

    def requires(self, nets: Networks) -> Need:
        """A flow without what the part needs passes `not`."""
        return ANYTHING

    def reads(self) -> frozenset[str]:
        return self.part.reads()


class Weighted:
    """A clause with its own `weight` (how far it alone can be trusted)."""

    kind: ClassVar[str] = "weight"

    __slots__ = ("part", "weight")

    def __init__(self, part: Matcher, weight: float) -> None:
        self.part = part
        self.weight = weight

    def match(self, v: FlowView) -> Evidence | None:
        e = self.part.match(v)
        return None if e is None else (e[0], e[1] * self.weight)

    def gate(self) -> Gate | None:
        return self.part.gate()

    def requires(self, nets: Networks) -> Need:
        return self.part.requires(nets)

    def reads(self) -> frozenset[str]:
        return self.part.reads()
