"""Shared fixtures: the shared corpus (skipped cleanly when absent) and a replay helper."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.config import SensorConfig
from sensor.pipeline import Pipeline, Summary
from sensor.sinks import default_sinks

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SENSOR_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"


def corpus_pcaps() -> list[Path]:
    """Every capture of the shared corpus (empty when ../shared is absent)."""
    d = CORPUS / "pcaps"
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


@pytest.fixture
def corpus_dir() -> Path:
    """The corpus folder; the test is skipped when ../shared is not there."""
    if not (CORPUS / "pcaps").is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS


Replay = Callable[..., tuple[duckdb.DuckDBPyConnection, Summary]]


@pytest.fixture
def replay(tmp_path: Path) -> Replay:
    """Replay captures through the real pipeline into a fresh store; return (db, summary).

    The connection is an analyst's read-only view of the catalog after the run.
    """

    def run(
        pcaps: Sequence[Path | str], cfg: SensorConfig | None = None, name: str = "test"
    ) -> tuple[duckdb.DuckDBPyConnection, Summary]:
        cfg = cfg or SensorConfig()
        catalog = tmp_path / f"{name}.duckdb"
        cfg = replace(
            cfg,
            storage=replace(cfg.storage, catalog=catalog, data_dir=None),
            sensor=replace(cfg.sensor, name="test"),
        )
        classifier = build_classifier(cfg.signatures, cfg.policy)
        sinks = default_sinks(cfg, dict(classifier.provisions))
        pipe = Pipeline(cfg, sinks, classifier)
        sinks.health.watch(pipe)
        summary = pipe.run([open_capture(p) for p in pcaps])
        return duckdb.connect(str(catalog), read_only=True), summary

    return run
