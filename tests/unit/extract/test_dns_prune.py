"""DNS names learnt from answers are forgotten once expired before every frame still to come, so
the cache holds the last TTLs of answers, not every answer of a long capture (issue 15)."""

from __future__ import annotations

from types import SimpleNamespace

from sensor.extract.names import DnsNames

NS = 1_000_000_000


def _flow(client: int, server: int, ts: float) -> SimpleNamespace:
    return SimpleNamespace(key=(0, client, 0, server, 0), client_is_lo=True,
                           ts_first=int(ts * NS), meta={}, server_name=None)  # fmt: skip


def test_expired_answers_go_live_ones_stay() -> None:
    names = DnsNames(min_seconds=60)
    names.learn((0, 1), (0, 100), "long.example", 86_400, 1_000 * NS)  # learnt first, one day
    for i in range(500):  # then 500 short-lived answers, one a second
        names.learn((0, 2), (0, 1_000 + i), f"n{i}.example", 30, (1_001 + i) * NS)
    assert len(names) == 501
    names.prune(1_000 * NS)  # nothing expired before the first answer
    assert len(names) == 501
    for _ in range(20):  # 60 s (the minimum) after the last one: all short ones expired
        names.prune((1_501 + 61) * NS)
    assert len(names) == 1
    assert names._map[(0, 1, 0, 100)][0] == "long.example"


def test_pruning_never_changes_a_name() -> None:
    """What prune removes could not have named a flow starting at `before_ns` or later."""
    a, b = DnsNames(), DnsNames()
    for i in range(2_000):
        for n in (a, b):
            n.learn((0, i % 7), (0, i % 300), f"n{i}.example", i % 200, i * NS)
        if i % 50 == 0:
            a.prune(i * NS)
    for t in range(1_990, 2_400, 5):
        for server in range(300):
            fa, fb = _flow(t % 7, server, t), _flow(t % 7, server, t)
            hit_a, hit_b = a._map.get((0, t % 7, 0, server)), b._map.get((0, t % 7, 0, server))
            ok_a = hit_a is not None and hit_a[1] <= fa.ts_first <= hit_a[2]
            ok_b = hit_b is not None and hit_b[1] <= fb.ts_first <= hit_b[2]
            assert ok_a == ok_b and (not ok_a or hit_a == hit_b)
    assert len(a) < len(b)
