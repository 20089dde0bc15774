"""Classifier: signatures + site policy -> the verdict fields of each flow record.

For every record the flow's server names, protocol and port select the candidate signatures
through three indexes (a signature's `gate`); only those, plus the few without a gate, are
evaluated. The strongest match wins (confidence times evidence weight, then the more specific
signature, then the lower id), and the site policy turns it into an action.

Two things make that cheap without changing any verdict:
- pruning: a signature also says which fields a flow must carry to match at this site
  (`Matcher.requires`: a payload, an extractor field, a server name; nothing at all when its
  clause needs a site list the site left empty), and is not a candidate of flows without them;
- memoisation: what the candidates' clauses conclude from inputs with few values (`Matcher.reads`:
  protocol and transport fields, the ports and server names their own lists can tell apart,
  the site networks each end is in) is remembered per distinct combination of those values;
  the parts that read something with about as many values as flows (payload bytes, an
  address or byte counts quoted in the evidence, free text such as a user agent) are
  evaluated on every record (`residual.py`), as is the site policy (time of day, exempt and
  approved hosts). The caches are bounded: two generations each, the older dropped whole
  when the newer fills, so hostile traffic costs misses, never memory; and while the memo
  hits too seldom to pay (a flood of ever new names), records take the plain path.
`Classifier(..., memo=False)` keeps the plain path (every gated candidate evaluated), which the
differential tests compare against.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sensor.classify.feeds import Feed
from sensor.classify.matchers.base import GATE_RANK, Matcher, Need
from sensor.classify.matchers.domain import DomainMatcher, suffixes
from sensor.classify.matchers.port import PortMatcher
from sensor.classify.policy import SitePolicy
from sensor.classify.provisions import Provision
from sensor.classify.residual import DEAD, Evaluator, keyed_reads, leaves, residual, shapes
from sensor.classify.signatures import Signature
from sensor.classify.view import TRANSPORTS, FlowView
from sensor.extract.inspector import HEAD_TC, HEAD_TS
from sensor.flow.state import FlowState

__all__ = ["VERDICT_FIELDS", "Classifier", "Verdict"]

VERDICT_FIELDS = (
    "policy.category",
    "policy.provision",
    "policy.action",
    "policy.severity",
    "policy.signature_id",
    "policy.signature_rev",
    "policy.signature",
    "policy.service",
    "policy.confidence",
    "policy.evidence",
)
"""The flow.meta fields the classifier writes; each is a column of the flow record."""


_NONE = ("none", "none", "none")
_M64 = (1 << 64) - 1
_BARE_CACHE = 4096
_PLANS = 4096
"""Candidate plans kept per generation (two generations)."""
_MEMO = 8192
"""Remembered verdicts per generation (two generations). Keys hold at most a few extractor
fields, each capped by its extractor (names 253, URI 256, user agent 512 characters)."""
_WINDOW = 2048
"""Memo lookups per judgement of whether the memo pays (see `Classifier.memo_floor`)."""
_PLAIN_WINDOWS = 7
"""Windows classified on the plain path after one where the memo did not pay."""
_NumberGates = tuple[int, int, int, int, int]
_Best = tuple[float, int, int, Signature, str]
"""(confidence times weight, parts of the evidence, -id, signature, evidence)."""
_QUERY = re.compile(r"(http\.uri=[^?;]*)\?[^;]*")
"""The query string of a request target quoted as evidence: content, not kept by default."""


class _Plan:
    """The candidates of every flow with the same candidate-selecting values, and the
    inputs (`Matcher.reads`) of their parts that a verdict can be remembered by."""

    __slots__ = ("inputs", "serial", "sigs")

    def __init__(
        self, serial: int, sigs: list[Signature], inputs: tuple[Callable[[FlowView], Any], ...]
    ) -> None:
        self.serial = serial
        self.sigs = sigs
        self.inputs = inputs


class _Generations:
    """A bounded map: lookups try the newer generation, then the older (moving a hit up);
    when the newer is full the older is dropped whole. O(1), at most 2 x `size` entries."""

    __slots__ = ("counts", "new", "old", "size")

    def __init__(self, size: int, counts: Counter[str] | None = None) -> None:
        self.size = size
        self.new: dict[Any, Any] = {}
        self.old: dict[Any, Any] = {}
        self.counts = counts

    def get(self, key: Any) -> Any:
        found = self.new.get(key, _MISSING)
        if found is _MISSING:
            found = self.old.get(key, _MISSING)
            if found is not _MISSING:
                self.put(key, found)
        return found

    def put(self, key: Any, value: Any) -> None:
        if len(self.new) >= self.size:
            if self.counts is not None:
                self.counts["evicted"] += len(self.old)
            self.old = self.new
            self.new = {}
        self.new[key] = value


_MISSING: Any = object()


def _names_input(domains: frozenset[str]) -> Callable[[FlowView], Any]:
    """What `domain` clauses on server names read, when `domains` are all the domains of
    those clauses: the names that end with one of them (a name that ends with none can only
    fail them all), in order, and, if any, where `server_name` came from."""

    def get(v: FlowView) -> Any:
        kept = tuple([(f, n) for f, n in v.names() if any(s in domains for s in suffixes(n))])
        return (kept, v.meta.get("server_name_source")) if kept else ()

    return get


def _field_input(name: str) -> Callable[[FlowView], Any]:
    def get(v: FlowView) -> Any:
        return v.get(name)

    return get


@functools.cache
def _input(name: str) -> Callable[[FlowView], Any]:
    """The function that reads one input (`Matcher.reads`) of a flow, made once per name."""
    return _INPUTS.get(name) or _field_input(name.removeprefix("field:"))


def _boundary_input(v: FlowView) -> Any:
    """Everything `boundary` looks at: the side each end is on and the workstation network
    each is in (the raw addresses are not quoted)."""
    nets, ver = v.nets, v.ver
    ws = nets.workstations
    wsets = (ws.match(ver, v.dest_ip), ws.match(ver, v.src_ip)) if ws else None
    return (nets.side(ver, v.src_ip), nets.side(ver, v.dest_ip), wsets)


_INPUTS: dict[str, Callable[[FlowView], Any]] = {
    "boundary": _boundary_input,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one flow record is, which provision it touches and what the policy says."""

    signature: Signature
    confidence: float
    evidence: str
    action: str
    severity: str
    alert: bool
    note: str = ""


class Classifier:
    """Immutable once built: a reload builds a new one and swaps it in."""

    def __init__(
        self,
        signatures: Sequence[Signature],
        policy: SitePolicy,
        version: str = "",
        feeds: Sequence[Feed] = (),
        memo: bool = True,
    ) -> None:
        self.signatures = list(signatures)
        self.policy = policy
        self.version = version
        self.feeds = tuple(feeds)
        """The feeds loaded with the signatures (their versions are exported as metrics)."""
        self.index: dict[str, dict[Any, list[Signature]]] = {k: {} for k in GATE_RANK}
        self.ungated: list[Signature] = []
        for sig in self.signatures:
            gate = sig.match.gate()
            if gate is None:
                self.ungated.append(sig)
                continue
            for kind, keys in gate:
                for key in keys:
                    self.index[kind].setdefault(key, []).append(sig)
        self.by_domain = self.index["domain"]
        self.by_proto = self.index["app_proto"]
        self.by_port = self.index["port"]
        self._by_byte = self.index["first_byte"]
        self._by_field = self.index["field"]
        self._by_net = self.index["net"]
        self._by_volume = self.index["volume"]
        self._by_transport = self.index["transport"]
        self.matched: Counter[tuple[str, str, str]] = Counter()
        """Records by (category, provision, action), for metrics ("none" where nothing
        matched)."""
        self.matched_bytes: Counter[tuple[str, str, str]] = Counter()
        """Bytes (both directions) of those records."""
        self._bare: dict[_NumberGates, list[Signature]] = {}
        """Candidates of flows without any field (a flood's half-open flows), by what selects
        them: destination port, network, volume and transport."""
        self.memo = memo
        nets = policy.networks
        self._needs: dict[int, Need] = {s.id: s.match.requires(nets) for s in self.signatures}
        self._reads = {s.id: keyed_reads(s.match) for s in self.signatures}
        self._listed = {s.id: _listed(s.match) for s in self.signatures}
        """The domains of each signature's `domain` clauses on server names, and the ports
        and port ranges of its `port` clauses by side."""
        self._shape: dict[int, int] = {}
        for sig in self.signatures:
            shapes(sig.match, self._shape)
        self.memo_counts: Counter[str] = Counter()
        """Remembered verdicts used (`hit`), computed (`miss`), dropped (`evicted`), records
        with no candidate (`none`) and records classified on the plain path while the memo
        did not pay (`bypass`); for metrics."""
        self._plans = _Generations(_PLANS)
        self._shared = _Generations(_PLANS)
        """Plans by their signatures' ids."""
        self._free = frozenset(i for i, need in self._needs.items() if frozenset() in need)
        """Signatures that need no field."""
        self._memo = _Generations(_MEMO, self.memo_counts)
        self._serial = 0
        self.memo_floor = 0.75
        """The share of memo hits under which remembering costs more than it saves (a miss
        costs about 1.5-2.3 plain classifications, a hit about 0.65): below it over a window
        of lookups (traffic with ever new names, e.g. a flood of random server names), the
        next `_PLAIN_WINDOWS` windows take the plain path, then the memo is tried again."""
        self._looked = self._hits = self._plain_left = 0
        self._warm = False
        """The first window only fills the memo: it is not judged."""

    def keep_counts(self, old: Classifier) -> None:
        """Carry the counters of the classifier this one replaces (a reload), so the
        metrics stay monotonic."""
        self.matched, self.matched_bytes = old.matched, old.matched_bytes
        self.memo_counts = self._memo.counts = old.memo_counts

    @property
    def provisions(self) -> Mapping[str, Provision]:
        return self.policy.provisions

    def candidates(self, v: FlowView) -> list[Signature]:
        """Signatures whose gate the flow passes and whose needs it has, each once."""
        return self._plan(v).sigs

    def bare_possible(self, gates: _NumberGates) -> bool:
        """Whether any signature could match a flow with no field at all (no payload, name
        or protocol), given its number gates (dest_port, ver, net, volume, proto) as
        `_gates_of_numbers` gives them. False: such a flow's verdict is no match."""
        return bool(self._bare_plan(gates).sigs)

    def _plan(self, v: FlowView) -> _Plan:
        """The candidates of a flow, from a cache keyed by everything that selects them:
        protocol, which fields the flow has, and the index lists its server names, its
        payload's first bytes and its numbers pick (by identity: the indexes never change)."""
        meta = v.meta
        if not meta:
            return self._bare_plan(self._gates_of_numbers(v))
        by_byte = self._by_byte
        ts, tc = meta.get(HEAD_TS), meta.get(HEAD_TC)
        port, ver, net, volume, proto = self._gates_of_numbers(v)
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
        plan: _Plan | None = self._plans.get(key)
        if plan is _MISSING:
            plan = self._make_plan(self._gated(v), frozenset(key[2]))
            self._plans.put(key, plan)
        return plan  # type: ignore[return-value]

    def _bare_plan(self, gates: _NumberGates) -> _Plan:
        port, ver, net, volume, proto = gates
        key = (
            id(self.by_port.get(port, ())),
            id(self._by_net.get((ver, net), ())) if net >= 0 else 0,
            id(self._by_volume.get(volume, ())),
            proto,
        )
        plan: _Plan | None = self._plans.get(key)
        if plan is _MISSING:
            plan = self._make_plan(self._merge([], gates), frozenset())
            self._plans.put(key, plan)
        return plan  # type: ignore[return-value]

    def _make_plan(self, gated: list[Signature], present: frozenset[str]) -> _Plan:
        """The plan of the gated signatures that can match with these fields; flows that
        reach the same signatures by different keys share one plan (and its memo entries)."""
        needs = self._needs
        sigs = [s for s in gated if s.id in self._free or any(a <= present for a in needs[s.id])]
        ids = tuple(sorted(s.id for s in sigs))
        plan: _Plan | None = self._shared.get(ids)
        if plan is _MISSING:
            inputs = sorted(frozenset().union(*(self._reads[s.id] for s in sigs)))
            self._serial += 1
            getters = tuple(self._input_of(name, sigs) for name in inputs)
            plan = _Plan(self._serial, sigs, getters)
            self._shared.put(ids, plan)
        return plan  # type: ignore[return-value]

    def _input_of(self, name: str, sigs: list[Signature]) -> Callable[[FlowView], Any]:
        """The function that reads one input of these signatures from a flow: server names
        and ports only as far as their tests can tell them apart."""
        if name not in ("names", "dest_port", "src_port"):
            return _input(name)
        found: list[Any] = [self._listed[sig.id][name] for sig in sigs]
        if name == "names":
            return _names_input(frozenset().union(*found))
        ports = frozenset().union(*(p for p, _ in found))
        return _port_input(name, ports, tuple(r for _, rs in found for r in rs))

    def _gated(self, v: FlowView) -> list[Signature]:
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
        return self._merge(lists, self._gates_of_numbers(v))

    def _flow_gates(self, flow: FlowState) -> _NumberGates:
        """`_gates_of_numbers` of the flow's view, without making the view."""
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

    def _gates_of_numbers(self, v: FlowView) -> _NumberGates:
        """What selects signatures by a flow's numbers: port, network, volume, transport."""
        net = v.dest_ip >> (16 if v.ver == 4 else 96) if self._by_net else -1
        return (v.dest_port, v.ver, net, (v.bytes_ts + v.bytes_tc).bit_length(), v.proto)

    def _merge(self, lists: list[Sequence[Signature]], gates: _NumberGates) -> list[Signature]:
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
        gates = self._gates_of_numbers(v)
        found = self._bare.get(gates)
        if found is None:
            if len(self._bare) >= _BARE_CACHE:
                self._bare.clear()
            found = self._bare[gates] = self._merge([], gates)
        return found

    def classify(self, flow: FlowState) -> Verdict | None:
        """The best matching signature and the policy's decision, or None."""
        if not self.memo:
            return self._classify_plain(flow)
        if not flow.meta and not self._bare_plan(self._flow_gates(flow)).sigs:
            self.memo_counts["none"] += 1  # a flood's half-open flow: no view needed
            return None
        if self._plain_left:
            self._plain_left -= 1
            self.memo_counts["bypass"] += 1
            return self._classify_plain(flow)
        v = FlowView(flow, self.policy.networks)
        plan = self._plan(v)
        if not plan.sigs:
            self.memo_counts["none"] += 1
            return None
        key = (plan.serial, *[get(v) for get in plan.inputs])
        try:
            found = self._memo.get(key)
        except TypeError:  # a field whose value cannot be a key: no memo for it
            found = key = _MISSING
        if found is _MISSING:
            self.memo_counts["miss"] += 1
            found = _remember(plan.sigs, v, self._shape, self._quote)
            if key is not _MISSING:
                self._memo.put(key, found)
        else:
            self.memo_counts["hit"] += 1
            self._hits += 1
        self._looked += 1
        if self._looked >= _WINDOW:
            if self._warm and self._hits < self.memo_floor * self._looked:
                self._plain_left = _PLAIN_WINDOWS * _WINDOW
            self._warm = True
            self._looked = self._hits = 0
        best, rest = found
        quoted = True  # the remembered evidence is already as the record quotes it
        for sig, rule in rest:
            ev = rule.match(v)
            if ev is None:
                continue
            score = (sig.confidence * ev[1], ev[0].count("; "), -sig.id, sig, ev[0])
            if best is None or score[:3] > best[:3]:
                best, quoted = score, False
        if best is None:
            return None
        conf, _, _, sig, evidence = best
        if not quoted:
            evidence = self._quote(evidence)
        d = self.policy.decide(v, sig.id, sig.provision)
        return Verdict(sig, round(conf, 3), evidence, d.action, d.severity, d.alert, d.note)

    def _quote(self, evidence: str) -> str:
        """The evidence as the record keeps it: an HTTP target without its query string
        unless the site keeps them."""
        if "?" in evidence and not self.policy.cfg.store_uri_query:
            return _QUERY.sub(r"\1", evidence)
        return evidence

    def _classify_plain(self, flow: FlowState) -> Verdict | None:
        """The plain path (`memo=False`): every gated candidate evaluated on every record."""
        v = FlowView(flow, self.policy.networks)
        best: tuple[float, int, int, Signature, str] | None = None
        for sig in self._gated(v):
            ev = sig.match.match(v)
            if ev is None:
                continue
            score = (sig.confidence * ev[1], ev[0].count("; "), -sig.id, sig, ev[0])
            if best is None or score[:3] > best[:3]:
                best = score
        if best is None:
            return None
        conf, _, _, sig, evidence = best
        if not self.policy.cfg.store_uri_query:
            evidence = _QUERY.sub(r"\1", evidence)
        d = self.policy.decide(v, sig.id, sig.provision)
        return Verdict(sig, round(conf, 3), evidence, d.action, d.severity, d.alert, d.note)

    def apply(self, flow: FlowState) -> Verdict | None:
        """Classify and write the verdict into the flow's fields (every record gets an action)."""
        verdict = self.classify(flow)
        meta = flow.meta
        if self.policy.cfg.store_uri_query and "http.uri" in meta:
            meta["http.path"] = meta["http.uri"]
        if verdict is None:
            self.matched[_NONE] += 1
            self.matched_bytes[_NONE] += flow.bytes_ts + flow.bytes_tc
            meta["policy.action"] = "none"
            if len(meta) > 1:  # fields of an earlier verdict (an interim record) go
                meta.pop("_verdict", None)
                for f in VERDICT_FIELDS:
                    if f != "policy.action":
                        meta.pop(f, None)
            return None
        sig = verdict.signature
        meta["policy.category"] = sig.category
        meta["policy.provision"] = sig.provision
        meta["policy.action"] = verdict.action
        meta["policy.severity"] = verdict.severity
        meta["policy.signature_id"] = sig.id
        meta["policy.signature_rev"] = sig.rev
        meta["policy.signature"] = sig.name
        meta["policy.service"] = sig.service
        meta["policy.confidence"] = verdict.confidence
        meta["_verdict"] = verdict
        meta["policy.evidence"] = (
            f"{verdict.evidence}; {verdict.note}" if verdict.note else verdict.evidence
        )
        labels = (sig.category, sig.provision, verdict.action)
        self.matched[labels] += 1
        self.matched_bytes[labels] += flow.bytes_ts + flow.bytes_tc
        return verdict


def _listed(m: Matcher) -> dict[str, Any]:
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


def _port_input(
    side: str, listed: frozenset[int], wide: tuple[tuple[int, int], ...]
) -> Callable[[FlowView], Any]:
    """What `port` clauses read of one side's port: the port if one of those clauses lists
    it (it is quoted in the evidence), else -1 (every one of them fails on that side)."""

    def get(v: FlowView) -> int:
        p: int = getattr(v, side)
        return p if p in listed or any(a <= p <= b for a, b in wide) else -1

    return get


def _remember(
    sigs: list[Signature], v: FlowView, shape: dict[int, int], quote: Callable[[str], str]
) -> tuple[_Best | None, tuple[tuple[Signature, Evaluator], ...]]:
    """What holds for every flow with `v`'s memo key: the strongest of the signatures that
    match on those values alone (its evidence quoted as the record keeps it), and what is
    left to evaluate of the others."""
    best: _Best | None = None
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
