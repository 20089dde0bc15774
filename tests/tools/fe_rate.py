"""How often the fully-encrypted test (signatures/optional/fully-encrypted.yaml) fires on the
shared corpora: per capture group (benign or not, as each corpus's MANIFEST.csv says), TCP
connections whose handshake was seen and whose client sent payload, and those of them whose
first payloads are random both ways. Run `python -m tests.tools.fe_rate`."""

from __future__ import annotations

import csv
from collections import Counter

from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.classify.matchers.encrypted import FullyEncryptedMatcher
from sensor.classify.view import FlowView
from sensor.config import SensorConfig
from sensor.extract.inspector import HEAD_TS
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline
from tests.conftest import SHARED


class _Keep:
    name = "keep"

    def __init__(self) -> None:
        self.flows: list[FlowState] = []

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self.flows.append(flow)

    def flush(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def main() -> int:
    cfg = SensorConfig()
    classifier = build_classifier(cfg.signatures, cfg.policy)
    ts, tc = (FullyEncryptedMatcher.parse(None, d) for d in ("toserver", "toclient"))
    seen: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    where: Counter[str] = Counter()
    for corpus in ("corpus", "corpus-ndpi"):
        with (SHARED / corpus / "MANIFEST.csv").open() as f:
            group = {r["file"]: r["category"] == "benign" for r in csv.DictReader(f)}
        for pcap in sorted((SHARED / corpus / "pcaps").iterdir()):
            keep = _Keep()
            Pipeline(cfg, [keep], classifier).run([open_capture(pcap)])
            g = f"{corpus} {'benign' if group.get(pcap.name) else 'other'}"
            for flow in keep.flows:
                if flow.proto != 6 or HEAD_TS not in flow.meta or flow.syn_seq < 0:
                    continue
                seen[g] += 1
                v = FlowView(flow, classifier.policy.networks)
                if ts.match(v) and tc.match(v):
                    fired[g] += 1
                    where[f"{corpus}/{pcap.name}"] += 1
    for g in sorted(seen):
        print(f"{g}: {fired[g]} of {seen[g]} connections ({fired[g] / seen[g]:.1%})")
    for name, n in where.most_common():
        print(f"  {n:4d} {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
