"""What a remembered verdict is keyed by, and what it holds.

The classifier remembers what a plan's clauses conclude per distinct combination of the
inputs they read (`Matcher.reads`). A key is only as good as it is coarse: the inputs here
read a flow's server names and ports only as far as the plan's own lists can tell them apart
(a name none of its domains ends, a port none of its clauses lists, all read alike), and its
ends' addresses only as the site networks they are in, so that flows differing in nothing a
clause looks at share one entry. `remember` computes an entry on a miss: the strongest match
settled by those inputs alone, and the parts (`residual.py`) left to evaluate per record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sensor.classify.matchers.base import Matcher
from sensor.classify.matchers.domain import DomainMatcher, suffixes
from sensor.classify.matchers.port import PortMatcher
from sensor.classify.residual import DEAD, Evaluator, leaves, residual
from sensor.classify.signatures import Signature
from sensor.classify.view import FlowView

__all__ = ["Best", "Input", "Remembered", "input_of", "listed", "remember"]

Input = Callable[[FlowView], Any]
"""Reads one input of a flow, as part of a memo key."""
Best = tuple[float, int, int, Signature, str]
"""(confidence times weight, parts of the evidence, -id, signature, evidence)."""
Remembered = tuple[Best | None, tuple[tuple[Signature, Evaluator], ...]]
"""A memo entry: the strongest match settled by the key, and what is left per signature."""


def input_of(name: str, listed_by_sig: Sequence[dict[str, Any]]) -> Input:
    """The function that reads one input of the signatures whose `listed` are given from a
    flow: server names and ports only as far as their tests can tell them apart."""
    if name not in ("names", "dest_port", "src_port"):
        return _input(name)
    found: list[Any] = [lists[name] for lists in listed_by_sig]
    if name == "names":
        return _names_input(frozenset().union(*found))
    ports = frozenset().union(*(p for p, _ in found))
    return _port_input(name, ports, tuple(r for _, rs in found for r in rs))


def _names_input(domains: frozenset[str]) -> Input:
    """What `domain` clauses on server names read, when `domains` are all the domains of
    those clauses: the names that end with one of them (a name that ends with none can only
    fail them all), in order, and, if any, where `server_name` came from."""

    def get(v: FlowView) -> Any:
        kept = tuple([(f, n) for f, n in v.names() if any(s in domains for s in suffixes(n))])
        return (kept, v.meta.get("server_name_source")) if kept else ()

    return get


def _port_input(side: str, listed: frozenset[int], wide: tuple[tuple[int, int], ...]) -> Input:
    """What `port` clauses read of one side's port: the port if one of those clauses lists
    it (it is quoted in the evidence), else -1 (every one of them fails on that side)."""

    def get(v: FlowView) -> int:
        p: int = getattr(v, side)
        return p if p in listed or any(a <= p <= b for a, b in wide) else -1

    return get


def _field_input(name: str) -> Input:
    def get(v: FlowView) -> Any:
        return v.get(name)

    return get


@functools.cache
def _input(name: str) -> Input:
    """The function that reads one input (`Matcher.reads`) of a flow, made once per name."""
    return _INPUTS.get(name) or _field_input(name.removeprefix("field:"))


def _boundary_input(v: FlowView) -> Any:
    """Everything `boundary` looks at: the side each end is on and the workstation network
    each is in (the raw addresses are not quoted)."""
    nets, ver = v.nets, v.ver
    ws = nets.workstations
    wsets = (ws.match(ver, v.dest_ip), ws.match(ver, v.src_ip)) if ws else None
    return (nets.side(ver, v.src_ip), nets.side(ver, v.dest_ip), wsets)


_INPUTS: dict[str, Input] = {
    "boundary": _boundary_input,
}


def listed(m: Matcher) -> dict[str, Any]:
    """What a clause's `domain` tests on server names and its `port` tests list."""
    domains: set[str] = set()
    ports: dict[str, tuple[set[int], list[tuple[int, int]]]] = {
        "dest_port": (set(), []),
        "src_port": (set(), []),
    }
    for leaf in leaves(m):
        if isinstance(leaf, DomainMatcher) and leaf.field == "names":
            domains |= leaf.domains
        elif isinstance(leaf, PortMatcher):
            for side in ("dest_port", "src_port"):
                if leaf.field in (side, "port"):
                    ports[side][0].update(leaf.ports)
                    ports[side][1].extend(leaf.ranges)
    return {
        "names": frozenset(domains),
        **{k: (frozenset(p), tuple(r)) for k, (p, r) in ports.items()},
    }


def remember(
    sigs: list[Signature], v: FlowView, shape: dict[int, int], quote: Callable[[str], str]
) -> Remembered:
    """What holds for every flow with `v`'s memo key: the strongest of the signatures that
    match on those values alone (its evidence quoted as the record keeps it), and what is
    left to evaluate of the others."""
    best: Best | None = None
    rest: list[tuple[Signature, Evaluator]] = []
    for sig in sigs:
        r = residual(sig.match, v, shape)
        if r is DEAD:
            continue
        if not isinstance(r, tuple):
            rest.append((sig, r))
            continue
        score = (sig.confidence * r[1], r[0].count("; "), -sig.id, sig, r[0])
        if best is None or score[:3] > best[:3]:
            best = score
    if best is not None:
        best = (*best[:4], quote(best[4]))
    return best, tuple(rest)
