"""Candidate selection: which signatures a flow record can match, and the plan of each set.

A signature's `gate` names the index keys (server name suffixes, protocols, fields, first
payload bytes, numbers) that can select it; a flow's own values walk those indexes, and the
signatures it reaches are pruned to those whose needs (`Matcher.requires`) its fields meet.
Walking the indexes per record would cost more than most verdicts, so the result is a `Plan`
cached by everything that selects it: the index lists the flow's values pick (by identity,
as the indexes never change), its protocol and which fields it has. Flows that reach the
same signatures by different keys share one plan, and with it the memo entries keyed by
its serial; a plan also carries the inputs (`memo.py`) those entries are keyed by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sensor.classify.generations import MISSING, Generations
from sensor.classify.matchers.base import GATE_RANK, Need
from sensor.classify.matchers.domain import suffixes
from sensor.classify.memo import Input, input_of, listed
from sensor.classify.residual import keyed_reads
from sensor.classify.signatures import Signature
from sensor.classify.view import TRANSPORTS, FlowView, Networks
from sensor.extract.inspector import HEAD_TC, HEAD_TS
from sensor.flow.state import FlowState

__all__ = ["NumberGates", "Plan", "Plans"]

_M64 = (1 << 64) - 1
_BARE_CACHE = 4096
_PLANS = 4096
"""Candidate plans kept per generation (two generations)."""
NumberGates = tuple[int, int, int, int, int]
"""What selects signatures by a flow's numbers: (dest_port, ver, net, volume, proto)."""
Index = dict[str, dict[Any, list[Signature]]]


class Plan:
    """The candidates of every flow with the same candidate-selecting values, and the
    inputs (`Matcher.reads`) of their parts that a verdict can be remembered by."""

    __slots__ = ("inputs", "serial", "sigs")

    def __init__(self, serial: int, sigs: list[Signature], inputs: tuple[Input, ...]) -> None:
        self.serial = serial
        self.sigs = sigs
        self.inputs = inputs


def build_index(signatures: Sequence[Signature]) -> tuple[Index, list[Signature]]:
    """The signatures by gate kind (`GATE_RANK`) and key, and those without a gate."""
    index: Index = {k: {} for k in GATE_RANK}
    ungated: list[Signature] = []
    for sig in signatures:
        gate = sig.match.gate()
        if gate is None:
            ungated.append(sig)
            continue
        for kind, keys in gate:
            for key in keys:
                index[kind].setdefault(key, []).append(sig)
    return index, ungated


class Plans:
    """The indexes of a signature set and the cache of its plans (built once per set)."""

    def __init__(self, signatures: Sequence[Signature], nets: Networks) -> None:
        self.index, self.ungated = build_index(signatures)
        self.by_domain = self.index["domain"]
        self.by_proto = self.index["app_proto"]
        self.by_port = self.index["port"]
        self._by_byte = self.index["first_byte"]
        self._by_field = self.index["field"]
        self._by_net = self.index["net"]
        self._by_volume = self.index["volume"]
        self._by_transport = self.index["transport"]
        self._bare: dict[NumberGates, list[Signature]] = {}
        """Candidates of flows without any field (a flood's half-open flows), by what selects
        them: destination port, network, volume and transport."""
        self._needs: dict[int, Need] = {s.id: s.match.requires(nets) for s in signatures}
        self._reads = {s.id: keyed_reads(s.match) for s in signatures}
        self._listed = {s.id: listed(s.match) for s in signatures}
        """The domains of each signature's `domain` clauses on server names, and the ports
        and port ranges of its `port` clauses by side."""
        self._free = frozenset(i for i, need in self._needs.items() if frozenset() in need)
        """Signatures that need no field."""
        self._plans = Generations(_PLANS)
        self._shared = Generations(_PLANS)
        """Plans by their signatures' ids."""
        self._serial = 0

    def plan(self, v: FlowView) -> Plan:
        """The candidates of a flow, from a cache keyed by everything that selects them:
        protocol, which fields the flow has, and the index lists its server names, its
        payload's first bytes and its numbers pick (by identity: the indexes never change)."""
        meta = v.meta
        if not meta:
            return self.bare_plan(self.gates_of_numbers(v))
        by_byte = self._by_byte
        ts, tc = meta.get(HEAD_TS), meta.get(HEAD_TC)
        port, ver, net, volume, proto = self.gates_of_numbers(v)
        by_domain = self.by_domain
        key = (
            tuple([id(by_domain[s]) for _, n in v.names() for s in suffixes(n) if s in by_domain]),
            meta.get("app_proto"),
            tuple(meta),  # every field present (a superset of those that select)
            id(by_byte.get(ts[0], ())) if ts else 0,
            id(by_byte.get(tc[0], ())) if tc else 0,
            id(self.by_port.get(port, ())),
            id(self._by_net.get((ver, net), ())) if net >= 0 else 0,
            id(self._by_volume.get(volume, ())),
            proto,
        )
        plan: Plan | None = self._plans.get(key)
        if plan is MISSING:
            plan = self._make_plan(self.gated(v), frozenset(key[2]))
            self._plans.put(key, plan)
        return plan  # type: ignore[return-value]

    def bare_plan(self, gates: NumberGates) -> Plan:
        """The candidates of a flow with no field at all, from the same cache by its gates."""
        port, ver, net, volume, proto = gates
        key = (
            id(self.by_port.get(port, ())),
            id(self._by_net.get((ver, net), ())) if net >= 0 else 0,
            id(self._by_volume.get(volume, ())),
            proto,
        )
        plan: Plan | None = self._plans.get(key)
        if plan is MISSING:
            plan = self._make_plan(self._merge([], gates), frozenset())
            self._plans.put(key, plan)
        return plan  # type: ignore[return-value]

    def _make_plan(self, gated: list[Signature], present: frozenset[str]) -> Plan:
        """The plan of the gated signatures that can match with these fields; flows that
        reach the same signatures by different keys share one plan (and its memo entries)."""
        needs = self._needs
        sigs = [s for s in gated if s.id in self._free or any(a <= present for a in needs[s.id])]
        ids = tuple(sorted(s.id for s in sigs))
        plan: Plan | None = self._shared.get(ids)
        if plan is MISSING:
            inputs = sorted(frozenset().union(*(self._reads[s.id] for s in sigs)))
            self._serial += 1
            lists = [self._listed[s.id] for s in sigs]
            plan = Plan(self._serial, sigs, tuple(input_of(name, lists) for name in inputs))
            self._shared.put(ids, plan)
        return plan  # type: ignore[return-value]

    def gated(self, v: FlowView) -> list[Signature]:
        """Signatures whose gate the flow passes, each once, plus the ungated ones."""
        meta = v.meta
        if not meta:
            return self._bare_candidates(v)
        lists: list[Sequence[Signature]] = []
        by_domain = self.by_domain
        for _, name in v.names():
            lists += [by_domain[s] for s in suffixes(name) if s in by_domain]
        proto = meta.get("app_proto")
        if proto is not None:
            by_proto = self.by_proto
            lists += [by_proto[p] for p in str(proto).split("/") if p in by_proto]
        by_field = self._by_field
        lists += [by_field[f] for f in meta if f in by_field]
        for head in (HEAD_TS, HEAD_TC):
            b = meta.get(head)
            if b:
                lists.append(self._by_byte.get(b[0], ()))
        return self._merge(lists, self.gates_of_numbers(v))

    def flow_gates(self, flow: FlowState) -> NumberGates:
        """`gates_of_numbers` of the flow's view, without making the view."""
        k = flow.key
        pp = k[4]
        ver = pp >> 40
        if flow.client_is_lo:  # the server is the key's high end
            port = (pp >> 8) & 0xFFFF
            dest = k[3] & 0xFFFFFFFF if ver == 4 else ((k[2] & _M64) << 64) | (k[3] & _M64)
        else:
            port = (pp >> 24) & 0xFFFF
            dest = k[1] & 0xFFFFFFFF if ver == 4 else ((k[0] & _M64) << 64) | (k[1] & _M64)
        net = dest >> (16 if ver == 4 else 96) if self._by_net else -1
        return (port, ver, net, (flow.bytes_ts + flow.bytes_tc).bit_length(), pp & 0xFF)

    def gates_of_numbers(self, v: FlowView) -> NumberGates:
        """What selects signatures by a flow's numbers: port, network, volume, transport."""
        net = v.dest_ip >> (16 if v.ver == 4 else 96) if self._by_net else -1
        return (v.dest_port, v.ver, net, (v.bytes_ts + v.bytes_tc).bit_length(), v.proto)

    def _merge(self, lists: list[Sequence[Signature]], gates: NumberGates) -> list[Signature]:
        port, ver, net, volume, proto = gates
        lists.append(self.by_port.get(port, ()))
        if net >= 0:
            lists.append(self._by_net.get((ver, net), ()))
        lists.append(self._by_volume.get(volume, ()))
        lists.append(self._by_transport.get(TRANSPORTS.get(proto, ""), ()))
        lists.append(self.ungated)
        found: dict[int, Signature] = {}
        for sigs in lists:
            for sig in sigs:
                found[sig.id] = sig
        return list(found.values())

    def _bare_candidates(self, v: FlowView) -> list[Signature]:
        """Candidates of a flow with no field at all depend only on its numbers' gates, so
        a SYN flood's half-open flows share a few cached lists instead of an index walk each."""
        gates = self.gates_of_numbers(v)
        found = self._bare.get(gates)
        if found is None:
            if len(self._bare) >= _BARE_CACHE:
                self._bare.clear()
            found = self._bare[gates] = self._merge([], gates)
        return found
