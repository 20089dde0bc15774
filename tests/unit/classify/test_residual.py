"""residual(): a clause with its keyed parts evaluated once gives, on every flow with the same
keyed values, exactly the clause's own evidence (text and weight) or None."""

from __future__ import annotations

import random
from typing import Any

from sensor.classify.matchers import compile_clause
from sensor.classify.residual import DEAD, keyed_reads, residual, shapes
from sensor.classify.view import FlowView, Networks
from sensor.extract.inspector import HEAD_TC, HEAD_TS
from tests.unit.classify.helpers import make_flow

LEAVES: list[Any] = [
    {"field": "transport", "equals": ["tcp"]},
    {"field": "transport", "equals": ["udp"]},
    {"port": [443, 5938]},
    {"field": "port", "port": [3478]},
    {"field": "app_proto", "equals": ["tls", "ssh"]},
    {"domain": ["example.net"]},
    {"field": "http.user_agent", "regex": "(?i)^qbit"},
    {"boundary": "outbound"},
    {"payload": {"content": "|17 24|"}},
    {"payload": {"dir": "toclient", "regex": "^\\x05", "min_len": 2}},
    {"behaviour": {"min_bytes": 3000}},
    {"cidr": ["203.0.113.0/24"]},
]


def _clause(rng: random.Random, depth: int = 0) -> Any:
    if depth > 2 or rng.random() < 0.35:
        leaf = dict(rng.choice(LEAVES))
        if rng.random() < 0.2:
            leaf["weight"] = rng.choice([0.5, 0.8])
        return leaf
    op = rng.choice(["all", "any", "not"])
    if op == "not":
        return {"not": _clause(rng, depth + 1)}
    return {op: [_clause(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


def _flow(rng: random.Random, keyed: dict[str, Any]) -> FlowView:
    """A flow with the given keyed values and random raw ones (payloads, bytes, server)."""
    meta = dict(keyed["meta"])
    if rng.random() < 0.7:
        meta[HEAD_TS] = rng.choice([b"\x17\x24abc", b"\x16\x03\x01", b"\x05\x01"])
        meta[HEAD_TS + "_len"] = len(meta[HEAD_TS])
    if rng.random() < 0.5:
        meta[HEAD_TC] = rng.choice([b"\x05\x00", b"\x17\x24", b"x"])
        meta[HEAD_TC + "_len"] = len(meta[HEAD_TC])
    flow = make_flow(
        src=keyed["src"],
        dst=rng.choice(["203.0.113.9", "198.51.100.7"]),
        sport=keyed["sport"],
        dport=keyed["dport"],
        proto=keyed["proto"],
        meta=meta,
        bytes_ts=rng.choice([100, 5000]),
    )
    return FlowView(flow, Networks())


def test_residual_gives_the_clause_result_for_every_flow_with_the_same_keyed_values() -> None:
    rng = random.Random(2503)
    checked = 0
    for _ in range(400):
        m = compile_clause(_clause(rng))
        keyed = {
            "meta": rng.choice(
                [
                    {},
                    {"app_proto": "tls", "tls.sni": "a.example.net"},
                    {"app_proto": "ssh"},
                    {"http.user_agent": "qBittorrent/4", "app_proto": "http"},
                ]
            ),
            "src": rng.choice(["10.1.1.1", "192.0.2.1"]),
            "sport": rng.choice([3478, 50000]),
            "dport": rng.choice([443, 5938, 80]),
            "proto": rng.choice([6, 17]),
        }
        first = _flow(rng, keyed)
        shape: dict[int, int] = {}
        shapes(m, shape)
        r = residual(m, first, shape)
        assert "raw" not in keyed_reads(m)
        for _ in range(6):
            v = _flow(rng, keyed)
            want = m.match(v)
            if r is DEAD:
                got = None
            elif isinstance(r, tuple):
                got = r
            else:
                got = r.match(v)
            assert got == want, (m, keyed)
            checked += 1
    assert checked == 2400
