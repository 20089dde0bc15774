"""Classifier: signatures + site policy -> the verdict fields of each flow record.

For every record the flow's server names, protocol and port select the candidate signatures
through three indexes (a signature's `gate`); only those, plus the few without a gate, are
evaluated. The strongest match wins (confidence times evidence weight, then the more specific
signature, then the lower id), and the site policy turns it into an action.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sensor.classify.feeds import Feed
from sensor.classify.matchers.base import GATE_RANK
from sensor.classify.matchers.domain import suffixes
from sensor.classify.policy import SitePolicy
from sensor.classify.provisions import Provision
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
_BARE_CACHE = 4096
_NumberGates = tuple[int, int, int, int, int]
_QUERY = re.compile(r"(http\.uri=[^?;]*)\?[^;]*")
"""The query string of a request target quoted as evidence: content, not kept by default."""


def _may_match_bare(m: Any, gates: _NumberGates) -> bool:
    """Could matcher `m` pass on a flow with no extractor field and these number gates? A
    leaf passes only on flows that show a key of one alternative of its gate (the index
    relies on the same rule), and never when it reads payload (`needs_fields`); logic
    matchers ask their parts; a negation may always pass."""
    parts = getattr(m, "parts", None)
    if parts is not None:
        if type(m).__name__ == "AllOf":
            return all(_may_match_bare(p, gates) for p in parts)
        return any(_may_match_bare(p, gates) for p in parts)
    part = getattr(m, "part", None)
    if part is not None:
        return True if type(m).__name__ == "NotOf" else _may_match_bare(part, gates)
    if getattr(m, "needs_fields", False):
        return False
    gate = m.gate()
    if gate is None:
        return True
    port, ver, net, volume, proto = gates
    shown = {"port": port, "volume": volume, "transport": TRANSPORTS.get(proto, ""),
             "net": (ver, net)}  # fmt: skip
    return any(kind in shown and shown[kind] in keys for kind, keys in gate)


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
        self._bare_ok: dict[_NumberGates, bool] = {}
        """bare_possible() answers, by the same numbers."""

    @property
    def provisions(self) -> Mapping[str, Provision]:
        return self.policy.provisions

    def candidates(self, v: FlowView) -> list[Signature]:
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

    def bare_possible(self, gates: _NumberGates) -> bool:
        """Could any candidate signature match a flow with no field at all and these number
        gates (dest_port, ver, net, volume, proto)? False lets a batch of field-less records
        skip classification: their verdict is none."""
        ok = self._bare_ok.get(gates)
        if ok is None:
            if len(self._bare_ok) >= _BARE_CACHE:
                self._bare_ok.clear()
            cands = self._bare_candidates_of(gates)
            ok = self._bare_ok[gates] = any(_may_match_bare(s.match, gates) for s in cands)
        return ok

    def _bare_candidates_of(self, gates: _NumberGates) -> list[Signature]:
        found = self._bare.get(gates)
        if found is None:
            if len(self._bare) >= _BARE_CACHE:
                self._bare.clear()
            found = self._bare[gates] = self._merge([], gates)
        return found

    def classify(self, flow: FlowState) -> Verdict | None:
        """The best matching signature and the policy's decision, or None."""
        v = FlowView(flow, self.policy.networks)
        best: tuple[float, int, int, Signature, str] | None = None
        for sig in self.candidates(v):
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
