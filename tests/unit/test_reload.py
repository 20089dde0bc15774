"""SIGHUP reload: a new classifier is swapped in between batches; a broken one is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sensor.capture.pcapfile import open_capture
from sensor.classify import Classifier, build_classifier
from sensor.config import SensorConfig
from sensor.errors import ConfigError
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline
from tests.test_policy_replay import WORK, _tls


class Keep:
    name = "keep"

    def __init__(self) -> None:
        self.rows: list[tuple[str | None, str]] = []

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self.rows.append((flow.meta.get("policy.category"), flow.meta.get("policy.action", "")))

    def flush(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def test_reload_swaps_rules_between_batches_and_keeps_every_flow(tmp_path: Path) -> None:
    cfg = SensorConfig()
    sink = Keep()
    pipe = Pipeline(cfg, [sink])
    first = _tls(tmp_path / "a.pcap", WORK, "chatgpt.com")
    for batch in open_capture(first).batches():
        pipe.process(batch)
    pipe.table.flush("eof")
    without_ai = replace(cfg.signatures, disabled=(1001,))
    pipe.request_reload(lambda: build_classifier(without_ai, cfg.policy))
    for batch in open_capture(_tls(tmp_path / "b.pcap", WORK + 60, "chatgpt.com")).batches():
        pipe.process(batch)
    pipe.finish("eof")
    assert sink.rows == [("ai", "violation"), (None, "none")]
    assert pipe.reloads["ok"] == 1


def test_a_failed_reload_keeps_the_old_rules(tmp_path: Path) -> None:
    pipe = Pipeline(SensorConfig(), [Keep()])
    old: Classifier = pipe.classifier

    def broken() -> Classifier:
        raise ConfigError("site.yaml:3: signature 7: provision: unknown '2503-99'")

    pipe.request_reload(broken)
    for batch in open_capture(_tls(tmp_path / "a.pcap", WORK, "chatgpt.com")).batches():
        pipe.process(batch)
    assert pipe.classifier is old and pipe.reloads["failed"] == 1


def test_a_reload_waits_for_neither_a_whole_batch_nor_a_whole_sweep(tmp_path: Path) -> None:
    """A flood's batch is cut into SUB_BATCH frames and a reload is also taken between two
    batches of flow records, so a SIGHUP is not held up by 100,000s of frames or expiring
    flows."""
    from sensor.capture.pcapfile import open_capture as opened
    from sensor.pipeline import SUB_BATCH
    from tests.tools.synflood import pcap_header, syn_flood

    n = 4 * SUB_BATCH
    pcap = tmp_path / "flood.pcap"
    mac = b"\x02\x00\x00\x00\x0f\x02"  # 6.5 s of SYNs, 1 s timeout: flows end all along
    pcap.write_bytes(pcap_header() + syn_flood(n, "10.231.7.0", "10.231.7.1", t0=WORK,
                                               pps=10_000, dmac=mac))  # fmt: skip
    cfg = SensorConfig()
    cfg = replace(cfg, flow=replace(cfg.flow, timeouts=replace(cfg.flow.timeouts, tcp=1.0)))
    seen: list[tuple[int, Classifier]] = []
    asked_at: list[int] = []

    class Watch(Keep):
        def write_flow(self, flow: FlowState, reason: str) -> None:
            seen.append((pipe.summary.packets, pipe.classifier))
            if len(seen) == 1:
                pipe.request_reload(build)

    def build() -> Classifier:
        asked_at.append(len(seen))
        return build_classifier(cfg.signatures, cfg.policy)

    pipe = Pipeline(cfg, [Watch()])
    batches = list(opened(pcap).batches())
    assert len(batches) == 1 and len(batches[0]) == n  # one block: the sweep is inside it
    first = pipe.classifier
    pipe.process(batches[0])
    # half-open flows end as columns, a sweep's worth at once: the reload is taken before
    # the next such batch (or the next record), never after the whole block of frames
    assert len(asked_at) == 1 and pipe.reloads["ok"] == 1
    k = asked_at[0]
    assert 1 <= k <= SUB_BATCH < len(seen)
    assert all(c is first for _, c in seen[:k]) and all(c is not first for _, c in seen[k:])
    # records came between sub-batches: the batch was cut (packets counted per sub-batch)
    assert sorted({p for p, _ in seen}) == list(range(0, n, SUB_BATCH))
