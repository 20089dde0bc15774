"""Fixtures for tests in network namespaces: a fresh lab per test, torn down afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.netns.lab import Lab, lab_available

_count = [0]


@pytest.fixture
def lab() -> Iterator[Lab]:
    why = lab_available()
    if why:
        pytest.skip(why)
    _count[0] += 1
    subnet = (os.getpid() + _count[0]) % 200 + 20
    lab = Lab(f"sl{os.getpid() % 10000}{_count[0]}", subnet)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
