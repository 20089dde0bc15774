"""The classifier's pruned and memoised path gives every record of both shared corpora the
verdict of the plain path (`Classifier(..., memo=False)`: every gated candidate evaluated),
at the moment the pipeline classifies it (payload heads still there, interim records with
their earlier verdict), under the default policy and under a site policy that fills in the
lists some signatures need (workstations, WLAN controllers, DHCP servers) and the policy's
exceptions; the second classification of a record (a memo hit) gives it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sensor.capture.pcapfile import open_capture
from sensor.classify import Classifier, build_classifier
from sensor.classify.policy import ApprovedService, NetworksConfig, PolicyConfig
from sensor.config import SensorConfig
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline
from tests.conftest import SHARED

pytestmark = pytest.mark.corpus

CORPORA = (SHARED / "corpus" / "pcaps", SHARED / "corpus-ndpi" / "pcaps")

SITE = PolicyConfig(
    networks=NetworksConfig(
        internal=("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
        workstations=("10.0.0.0/9", "192.168.0.0/17", "172.16.0.0/13"),
        servers=("10.0.0.10/32",),
    ),
    dhcp_servers=("192.168.1.1", "10.0.0.1"),
    wlan_controllers=("10.1.1.1",),
    dns_servers=("8.8.8.8",),
    exempt_hosts=("192.168.1.100",),
    approved=(ApprovedService("teams", ("2503-15",), domains=("teams.microsoft.com",)),),
    store_uri_query=True,
)


def _verdict(v: Any) -> tuple[Any, ...] | None:
    if v is None:
        return None
    s = v.signature
    return (s.id, s.rev, v.confidence, v.evidence, v.action, v.severity, v.alert, v.note)


class _Both(Classifier):
    """Classifies each record with the memo (twice) and with the plain path."""

    plain: Classifier
    seen: int
    diffs: list[tuple[str, Any, Any, Any]]

    def apply(self, flow: FlowState) -> Any:
        a = _verdict(self.classify(flow))
        b = _verdict(self.classify(flow))
        c = _verdict(self.plain.classify(flow))
        self.seen += 1
        if not a == b == c and len(self.diffs) < 20:
            self.diffs.append((str(flow.key), a, b, c))
        return super().apply(flow)


def _pcaps() -> list[Path]:
    return [p for d in CORPORA if d.is_dir() for p in sorted(d.iterdir()) if p.is_file()]


@pytest.mark.parametrize("site", [False, True], ids=["default-policy", "site-lists"])
def test_memo_gives_the_plain_verdict_on_every_corpus_record(site: bool) -> None:
    pcaps = _pcaps()
    if not pcaps:
        pytest.skip("../shared/corpus and ../shared/corpus-ndpi are absent")
    cfg = SensorConfig()
    policy = SITE if site else cfg.policy
    ref = build_classifier(cfg.signatures, policy)
    both = _Both(ref.signatures, ref.policy, ref.version, ref.feeds)
    both.plain = Classifier(ref.signatures, ref.policy, ref.version, ref.feeds, memo=False)
    both.seen, both.diffs = 0, []
    both.memo_floor = 0.0  # never bypass the memo: this test is about it
    for pcap in pcaps:  # every record through apply(): no pending tier, whose field-less
        # records skip the classifier (tests/unit/flow/test_batching.py compares those)
        Pipeline(cfg, [], both, columnar=False).run([open_capture(pcap)])
    assert both.seen > 8000
    assert both.diffs == []
    counts = both.memo_counts
    assert counts["hit"] >= both.seen // 3  # each record's second look at least
    assert counts["hit"] + counts["miss"] + counts["none"] == 3 * both.seen  # apply: a third
