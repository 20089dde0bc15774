"""The provision registry: ids as the policy numbers them, quotes verbatim from the policy."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO, SHARED

REGISTRY = REPO / "signatures" / "provisions.yaml"
POLICY = SHARED / "policy" / "personnel-policy-2503.md"
EXPECTED = {
    "2503-ai",
    "2503-7m",
    "2503-9b",
    "2503-9d",
    "2503-9e",
    "2503-9f",
    "2503-13",
    "2503-15",
    "2503-16",
    "2503-21",
    "2503-22",
}


def _provisions() -> dict[str, dict[str, object]]:
    data = yaml.safe_load(REGISTRY.read_text())
    assert data["schema"] == 1
    return data["provisions"]  # type: ignore[no-any-return]


def test_every_provision_the_sensor_enforces_is_registered() -> None:
    provs = _provisions()
    assert set(provs) == EXPECTED
    for pid, p in provs.items():
        assert re.fullmatch(r"2503-(ai|\d+[a-z]?)", pid)
        assert {"section", "title", "category", "quote", "personal_use"} <= set(p), pid
        assert isinstance(p["personal_use"], bool)
    assert len({p["category"] for p in provs.values()}) == len(provs)


def test_quotes_are_verbatim_from_the_policy() -> None:
    if not POLICY.exists():
        pytest.skip("../shared/policy is absent")
    text = " ".join(POLICY.read_text().replace("**", "").split())
    for pid, p in _provisions().items():
        assert " ".join(str(p["quote"]).split()) in text, pid
