"""`fully_encrypted`: Wu et al.'s exemptions, each on a payload built to trip it."""

from __future__ import annotations

import random

import pytest

from sensor.classify.matchers import compile_clause
from sensor.extract.inspector import HEAD_TS
from tests.unit.classify.helpers import make_flow, view

RANDOM = random.Random(14).randbytes(64)


def _hit(head: bytes, syn: bool = True, **meta: object) -> bool:
    flow = make_flow(meta={HEAD_TS: head, HEAD_TS + "_len": len(head), **meta})
    flow.syn_seq = 1000 if syn else -1
    return compile_clause({"fully_encrypted": "toserver"}).match(view(flow)) is not None


def test_random_bytes_from_the_first_byte_are_fully_encrypted() -> None:
    assert _hit(RANDOM)


@pytest.mark.parametrize(
    ("why", "head", "meta"),
    [
        ("Ex1 few set bits", bytes(b & 0x31 for b in RANDOM), {}),
        ("Ex1 many set bits", bytes(b | 0xCE for b in RANDOM), {}),
        ("Ex2 printable first 6 bytes", b"GETXYZ" + RANDOM[6:], {}),
        (
            "Ex3 mostly printable",
            bytes(0x41 + b % 26 if i % 3 else b for i, b in enumerate(RANDOM)),
            {},
        ),
        ("Ex4 a run of 21 printable bytes", RANDOM[:20] + b"A" * 21 + RANDOM[41:], {}),
        ("Ex5 a recognised protocol", RANDOM, {"app_proto": "tls"}),
        ("too short to judge", RANDOM[:12], {}),
    ],
)
def test_the_exemptions(why: str, head: bytes, meta: dict[str, object]) -> None:
    assert not _hit(head, **meta), why


def test_only_connections_seen_from_their_start() -> None:
    assert not _hit(RANDOM, syn=False)


def test_bad_clause() -> None:
    with pytest.raises(ValueError, match="toserver or toclient"):
        compile_clause({"fully_encrypted": "up"})
