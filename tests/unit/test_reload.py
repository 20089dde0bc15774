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
