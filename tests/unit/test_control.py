"""Stop and reload requests on their own: what a signal handler sets and what is swapped."""

from __future__ import annotations

import pytest

from sensor.classify import Classifier, build_classifier
from sensor.config import SensorConfig
from sensor.control import Control, ReadInterrupted
from sensor.errors import ConfigError


def _classifier() -> Classifier:
    cfg = SensorConfig()
    return build_classifier(cfg.signatures, cfg.policy)


def test_no_request_keeps_the_classifier() -> None:
    old = _classifier()
    assert Control().swap(old) is old


def test_a_reload_carries_the_counters_and_is_taken_once() -> None:
    old, new = _classifier(), _classifier()
    old.matched[("x", "y", "z")] += 3
    control = Control()
    control.build = lambda: new
    assert control.swap(old) is new
    assert new.matched[("x", "y", "z")] == 3 and control.reloads == {"ok": 1}
    assert control.swap(new) is new and control.build is None


def test_a_broken_reload_keeps_the_old_rules(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Classifier:
        raise ConfigError("site.yaml:3: signature 7: provision: unknown '2503-99'")

    old = _classifier()
    control = Control()
    control.build = broken
    assert control.swap(old) is old and control.reloads == {"failed": 1}
    assert "reload failed, keeping signature set" in caplog.text


def test_a_stop_interrupts_only_a_read_in_progress() -> None:
    control = Control()
    control.stop()
    assert control.stopping
    control.reading = True
    with pytest.raises(ReadInterrupted):
        control.stop()
