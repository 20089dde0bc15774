"""What is left of a signature's clause once the values the classifier's memo is keyed on are
known: the parts that read only those values (`Matcher.reads` without `RAW`) are evaluated
once per distinct combination, and the rest (payload bytes, an address or byte counts quoted
in the evidence) is evaluated on each record, giving exactly the clause's own result.

`residual(m, v)` returns `DEAD` (the clause cannot match any flow with these values), the
clause's evidence (it matches whatever the rest of the flow is), or an `Evaluator` of the rest
that combines the known parts' evidence the way `all`, `any`, `not` and `weight` do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from sensor.classify.matchers.base import RAW, Evidence, Matcher
from sensor.classify.matchers.logic import (
    AllOf,
    AnyOf,
    NotOf,
    Weighted,
    best_match,
    combine_all,
)
from sensor.classify.view import FlowView

__all__ = ["DEAD", "Evaluator", "keyed_reads", "leaves", "residual", "shapes"]


class Evaluator(Protocol):
    def match(self, v: FlowView) -> Evidence | None: ...


class _Dead:
    __slots__ = ()


DEAD: Any = _Dead()
Residual = Any
"""`DEAD`, an `Evidence` tuple, or an `Evaluator`."""


def leaves(m: Matcher) -> Iterator[Matcher]:
    """The tests of a clause, under its `all`, `any`, `not` and `weight`."""
    if isinstance(m, AllOf | AnyOf):
        for p in m.parts:
            yield from leaves(p)
    elif isinstance(m, NotOf | Weighted):
        yield from leaves(m.part)
    else:
        yield m


def keyed_reads(m: Matcher) -> frozenset[str]:
    """The inputs of the clause's parts that read no `RAW` value: what a memo key needs so
    that `residual` is the same for every flow with the same key."""
    if isinstance(m, AllOf | AnyOf):
        return frozenset().union(*(keyed_reads(p) for p in m.parts))
    if isinstance(m, NotOf | Weighted):
        return keyed_reads(m.part)
    reads = m.reads()
    return frozenset() if RAW in reads else reads


KEYED, RAW_ONLY, MIXED = 1, 2, 3
"""What a clause's leaves read: only keyed values, only raw ones, or both."""


def shapes(m: Matcher, out: dict[int, int]) -> int:
    """Fill `out` with the shape of `m` and of each of its parts, by `id` (the clauses of a
    loaded signature set live as long as the classifier that holds them)."""
    if isinstance(m, AllOf | AnyOf):
        shape = 0
        for p in m.parts:
            shape |= shapes(p, out)
    elif isinstance(m, NotOf | Weighted):
        shape = shapes(m.part, out)
    else:
        shape = RAW_ONLY if RAW in m.reads() else KEYED
    out[id(m)] = shape
    return shape


def residual(m: Matcher, v: FlowView, shape: dict[int, int]) -> Residual:
    """The clause with its keyed parts evaluated on `v` (see the module's docstring);
    `shape` is what `shapes` filled in for the clause."""
    s = shape[id(m)]
    if s == KEYED:
        e = m.match(v)
        return DEAD if e is None else e
    if s == RAW_ONLY:
        return m
    if isinstance(m, AllOf):
        items = []
        for p in m.parts:
            r = residual(p, v, shape)
            if r is DEAD:
                return DEAD
            items.append(r)
        if all(isinstance(r, tuple) for r in items):
            return combine_all(items)
        left = [i for i, r in enumerate(items) if not isinstance(r, tuple)]
        if len(left) == 1:
            return _AllButOne(tuple(items), left[0])
        return _All(tuple(items))
    if isinstance(m, AnyOf):
        alive = [r for r in (residual(p, v, shape) for p in m.parts) if r is not DEAD]
        if not alive:
            return DEAD
        if all(isinstance(r, tuple) for r in alive):
            return _first_best(alive)
        if len(alive) == 1:  # `any` of one clause is that clause
            return alive[0]
        return _Any(tuple(_Const(r) if isinstance(r, tuple) else r for r in alive))
    if isinstance(m, NotOf):
        r = residual(m.part, v, shape)
        if r is DEAD:
            return ("", 1.0)
        return DEAD if isinstance(r, tuple) else _Not(r)
    if isinstance(m, Weighted):
        r = residual(m.part, v, shape)
        if r is DEAD:
            return DEAD
        return (r[0], r[1] * m.weight) if isinstance(r, tuple) else _Weight(r, m.weight)
    raise AssertionError(f"a leaf clause is keyed or raw: {m!r}")  # pragma: no cover


def _first_best(found: list[Evidence]) -> Evidence:
    """`AnyOf.match`'s choice among its matching parts, in the parts' order."""
    best = found[0]
    for e in found:
        if e[1] > best[1]:
            best = e
        if best[1] >= 1.0:
            break
    return best


class _Const:
    __slots__ = ("evidence",)

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence

    def match(self, v: FlowView) -> Evidence | None:
        return self.evidence


class _All:
    """`all` with some parts known: the others are evaluated, the evidence joined in order."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Evidence | Evaluator, ...]) -> None:
        self.items = items

    def match(self, v: FlowView) -> Evidence | None:
        found: list[Evidence] = []
        for it in self.items:
            if isinstance(it, tuple):
                found.append(it)
                continue
            e = it.match(v)
            if e is None:
                return None
            found.append(e)
        return combine_all(found)


class _AllButOne:
    """`all` with every part known but one (the usual case: a payload test after tests of
    the transport, port or protocol)."""

    __slots__ = ("at", "items", "part")

    def __init__(self, items: tuple[Evidence | Evaluator, ...], at: int) -> None:
        self.items = list(items)
        self.at = at
        self.part: Evaluator = items[at]  # type: ignore[assignment]

    def match(self, v: FlowView) -> Evidence | None:
        e = self.part.match(v)
        if e is None:
            return None
        found = self.items.copy()
        found[self.at] = e
        return combine_all(found)  # type: ignore[arg-type]


class _Any:
    """`any` without its parts that cannot match (they would never be chosen)."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Evaluator, ...]) -> None:
        self.parts = parts

    def match(self, v: FlowView) -> Evidence | None:
        return best_match(self.parts, v)


class _Not:
    __slots__ = ("part",)

    def __init__(self, part: Evaluator) -> None:
        self.part = part

    def match(self, v: FlowView) -> Evidence | None:
        return None if self.part.match(v) is not None else ("", 1.0)


class _Weight:
    __slots__ = ("part", "weight")

    def __init__(self, part: Evaluator, weight: float) -> None:
        self.part = part
        self.weight = weight

    def match(self, v: FlowView) -> Evidence | None:
        e = self.part.match(v)
        return None if e is None else (e[0], e[1] * self.weight)
