"""Stores the report tests read: the demo, and a two-site, three-week fleet built by
replaying captures with shifted times (tests/tools/shifted_store.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.cli import main
from tests.tools.shifted_store import build_store


@pytest.fixture(scope="session")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    assert main(["replay", "-q", "--db", str(db), "--sensor-name", "hq"]) == 0
    return db
