"""Classifier: signatures + site policy -> the verdict fields of each flow record.

For every record the flow's server names, protocol and port select the candidate signatures
through three indexes (a signature's `gate`); only those, plus the few without a gate, are
evaluated. The strongest match wins (confidence times evidence weight, then the more specific
signature, then the lower id), and the site policy turns it into an action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sensor.classify.matchers.domain import suffixes
from sensor.classify.policy import SitePolicy
from sensor.classify.provisions import Provision
from sensor.classify.signatures import Signature
from sensor.classify.view import FlowView
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
    ) -> None:
        self.signatures = list(signatures)
        self.policy = policy
        self.version = version
        self.by_domain: dict[str, list[Signature]] = {}
        self.by_proto: dict[str, list[Signature]] = {}
        self.by_port: dict[int, list[Signature]] = {}
        self.ungated: list[Signature] = []
        for sig in self.signatures:
            gate = sig.match.gate()
            if gate is None:
                self.ungated.append(sig)
                continue
            index: dict[object, list[Signature]] = {
                "domain": self.by_domain,
                "app_proto": self.by_proto,
                "port": self.by_port,
            }[gate[0]]  # type: ignore[assignment]
            for key in gate[1]:
                index.setdefault(key, []).append(sig)
        self.matched: Counter[tuple[str, str, str]] = Counter()
        """Records by (category, provision, action), for metrics."""

    @property
    def provisions(self) -> Mapping[str, Provision]:
        return self.policy.provisions

    def candidates(self, v: FlowView) -> list[Signature]:
        """Signatures whose gate the flow passes, each once, plus the ungated ones."""
        found: dict[int, Signature] = {}
        for _, name in v.names():
            for s in suffixes(name):
                for sig in self.by_domain.get(s, ()):
                    found[sig.id] = sig
        proto = v.meta.get("app_proto")
        if proto is not None:
            for sig in self.by_proto.get(str(proto), ()):
                found[sig.id] = sig
        for sig in self.by_port.get(v.dest_port, ()):
            found[sig.id] = sig
        for sig in self.ungated:
            found[sig.id] = sig
        return list(found.values())

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
        d = self.policy.decide(v, sig.id, sig.provision)
        return Verdict(sig, round(conf, 3), evidence, d.action, d.severity, d.alert, d.note)

    def apply(self, flow: FlowState) -> Verdict | None:
        """Classify and write the verdict into the flow's fields (every record gets an action)."""
        verdict = self.classify(flow)
        meta = flow.meta
        if verdict is None:
            meta["policy.action"] = "none"
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
        self.matched[(sig.category, sig.provision, verdict.action)] += 1
        return verdict
