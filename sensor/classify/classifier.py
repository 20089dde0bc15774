"""Classifier: signatures + site policy -> the verdict fields of each flow record.

For every record the flow's server names, protocol and port select the candidate signatures
through three indexes (a signature's `gate`); only those, plus the few without a gate, are
evaluated. The strongest match wins (confidence times evidence weight, then the more specific
signature, then the lower id), and the site policy turns it into an action.

Two things make that cheap without changing any verdict:
- pruning (`plans.py`): a signature also says which fields a flow must carry to match at
  this site (`Matcher.requires`: a payload, an extractor field, a server name; nothing at all
  when its clause needs a site list the site left empty), and is not a candidate of flows
  without them;
- memoisation (`memo.py`): what the candidates' clauses conclude from inputs with few values
  (`Matcher.reads`: protocol and transport fields, the ports and server names their own lists
  can tell apart, the site networks each end is in) is remembered per distinct combination of
  those values;
  the parts that read something with about as many values as flows (payload bytes, an
  address or byte counts quoted in the evidence, free text such as a user agent) are
  evaluated on every record (`residual.py`), as is the site policy (time of day, exempt and
  approved hosts). The caches are bounded (`generations.py`), so hostile traffic costs
  misses, never memory; and while the memo hits too seldom to pay (a flood of ever new
  names), records take the plain path.
This module holds what is left: the classifier that ties them to the site policy, and the
verdict fields it writes on each record.
`Classifier(..., memo=False)` keeps the plain path (every gated candidate evaluated), which the
differential tests compare against.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sensor.classify.feeds import Feed
from sensor.classify.generations import MISSING as _MISSING
from sensor.classify.generations import Generations as _Generations
from sensor.classify.memo import Best, Remembered, remember
from sensor.classify.plans import NumberGates, Plan, Plans
from sensor.classify.policy import SitePolicy
from sensor.classify.provisions import Provision
from sensor.classify.residual import shapes
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


_NONE = ("none", "none", "none")
_MEMO = 8192
"""Remembered verdicts per generation (two generations). Keys hold at most a few extractor
fields, each capped by its extractor (names 253, URI 256, user agent 512, certificate
subject 4,096 characters), and together at most _MEMO_KEY_TEXT."""
_WINDOW = 2048
"""Memo lookups per judgement of whether the memo pays (see `Classifier.memo_floor`)."""
_PLAIN_WINDOWS = 7
"""Windows classified on the plain path after one where the memo did not pay."""
_QUERY = re.compile(r"(http\.uri=[^?;]*)\?[^;]*")
"""The query string of a request target quoted as evidence: content, not kept by default."""
_MEMO_KEY_TEXT = 1024
"""Characters of wire text (server names, a certificate subject, a user agent) a memo key may
hold: 16,384 keys of 4 KB subjects would hold some 80 MB outside the memory budget. A real
key holds a name or two and a short field; a longer one is computed and not kept."""


def _text_in(key: Any) -> int:
    """Characters of the strings in a memo key, nested tuples included (on a miss only)."""
    if isinstance(key, str | bytes):
        return len(key)
    if isinstance(key, tuple):
        return sum(_text_in(k) for k in key)
    return 0


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
        self.matched: Counter[tuple[str, str, str]] = Counter()
        """Records by (category, provision, action), for metrics ("none" where nothing
        matched)."""
        self.matched_bytes: Counter[tuple[str, str, str]] = Counter()
        """Bytes (both directions) of those records."""
        self._select(Plans(self.signatures, policy.networks))
        self.memo = memo
        self._init_memo()

    def _select(self, plans: Plans) -> None:
        """Take the indexes and the candidate plans of the signatures; the plans' methods are
        bound once here, so that the hot path calls them without a step through `plans`."""
        self.plans = plans
        self.index, self.ungated = plans.index, plans.ungated
        self.by_domain, self.by_proto, self.by_port = plans.by_domain, plans.by_proto, plans.by_port
        self._plan, self._bare_plan, self._gated = plans.plan, plans.bare_plan, plans.gated
        self._flow_gates, self._gates_of_numbers = plans.flow_gates, plans.gates_of_numbers

    def _init_memo(self) -> None:
        """The remembered verdicts, their counters and the judgement of whether they pay."""
        self._shape: dict[int, int] = {}
        for sig in self.signatures:
            shapes(sig.match, self._shape)
        self.memo_counts: Counter[str] = Counter()
        """Remembered verdicts used (`hit`), computed (`miss`), dropped (`evicted`), records
        with no candidate (`none`) and records classified on the plain path while the memo
        did not pay (`bypass`); for metrics."""
        self._memo = _Generations(_MEMO, self.memo_counts)
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

    def bare_possible(self, gates: NumberGates) -> bool:
        """Whether any signature could match a flow with no field at all (no payload, name
        or protocol), given its number gates (dest_port, ver, net, volume, proto) as
        `Plans.gates_of_numbers` gives them. False: such a flow's verdict is no match."""
        return bool(self._bare_plan(gates).sigs)

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
        best, rest = self._recall(plan, v)
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
        return self._decide(v, best, best[4] if quoted else self._quote(best[4]))

    def _recall(self, plan: Plan, v: FlowView) -> Remembered:
        """The memo entry of the flow's key, computed (and kept) on a miss."""
        key = (plan.serial, *[get(v) for get in plan.inputs])
        try:
            found: Remembered = self._memo.get(key)
        except TypeError:  # a field whose value cannot be a key: no memo for it
            found = key = _MISSING
        if found is _MISSING:
            self.memo_counts["miss"] += 1
            found = remember(plan.sigs, v, self._shape, self._quote)
            if key is _MISSING:
                pass
            elif _text_in(key) > _MEMO_KEY_TEXT:
                self.memo_counts["unkept"] += 1
            else:
                self._memo.put(key, found)
        else:
            self.memo_counts["hit"] += 1
            self._hits += 1
        self._looked += 1
        if self._looked >= _WINDOW:
            self._judge()
        return found

    def _judge(self) -> None:
        """At the end of a window of lookups: if the memo hit too seldom to pay, take the
        plain path for the next windows (the first window only fills the memo)."""
        if self._warm and self._hits < self.memo_floor * self._looked:
            self._plain_left = _PLAIN_WINDOWS * _WINDOW
        self._warm = True
        self._looked = self._hits = 0

    def _quote(self, evidence: str) -> str:
        """The evidence as the record keeps it: an HTTP target without its query string
        unless the site keeps them."""
        if "?" in evidence and not self.policy.cfg.store_uri_query:
            return _QUERY.sub(r"\1", evidence)
        return evidence

    def _decide(self, v: FlowView, best: Best, evidence: str) -> Verdict:
        """The verdict of the strongest match, its evidence as quoted, with the policy's
        decision."""
        sig = best[3]
        d = self.policy.decide(v, sig.id, sig.provision)
        return Verdict(sig, round(best[0], 3), evidence, d.action, d.severity, d.alert, d.note)

    def _classify_plain(self, flow: FlowState) -> Verdict | None:
        """The plain path (`memo=False`): every gated candidate evaluated on every record."""
        v = FlowView(flow, self.policy.networks)
        best: Best | None = None
        for sig in self._gated(v):
            ev = sig.match.match(v)
            if ev is None:
                continue
            score = (sig.confidence * ev[1], ev[0].count("; "), -sig.id, sig, ev[0])
            if best is None or score[:3] > best[:3]:
                best = score
        if best is None:
            return None
        return self._decide(v, best, self._quote(best[4]))

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
