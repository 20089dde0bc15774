"""The pending tier's hash index compiled (sensor/_runs.c index_find, index_place) against
its numpy reference (PendingFlows._find_python, _place_python): the same slots found, the
same bucket of every row, the same index array, through adds, takes, sheds and rebuilds."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from sensor.config import FlowConfig, SensorConfig
from sensor.flow import group, pending
from sensor.flow.pending import PendingFlows
from sensor.flow.table import FlowTimeouts
from tests.tools.hostile import ETH, pcap, tcp
from tests.unit.flow.test_batching import _records
from tests.unit.flow.test_flood import T0, _conversations, _syns
from tests.unit.flow.test_pending import _cols

lib = pending.native
built = pytest.mark.skipif(
    lib is None, reason="sensor._runs is not built or SENSOR_PURE_PYTHON is set"
)
T = TypeVar("T")
Key = tuple[int, int, int, int, int]


def _reference(fn: Callable[[], T]) -> T:
    """fn() with the compiled index turned off."""
    saved, pending.native = pending.native, None
    try:
        return fn()
    finally:
        pending.native = saved


def _same_index(p: PendingFlows, q: PendingFlows) -> None:
    assert np.array_equal(p._index, q._index)
    live = np.flatnonzero(p._live)
    assert np.array_equal(p.col("bucket")[live], q.col("bucket")[live])
    assert p._used == q._used and len(p) == len(q)


@built
@pytest.mark.parametrize(("seed", "n_hashes"), [(1, 16), (2, 200), (3, 1 << 40)])
def test_adds_finds_and_takes_give_the_reference_index(seed: int, n_hashes: int) -> None:
    """Few distinct hashes (long probe chains, hash-equal keys that differ) to many."""
    rnd = random.Random(seed)
    p, q = PendingFlows(capacity=16), PendingFlows(capacity=16)
    universe: list[Key] = [
        (0, rnd.getrandbits(32), 0, rnd.getrandbits(32), 6 | (4 << 40)) for _ in range(3000)
    ]
    hash_of = {k: rnd.randrange(n_hashes) - n_hashes // 2 for k in universe}  # some negative
    held: dict[Key, int] = {}
    for _ in range(30):
        new = [k for k in rnd.sample(universe, rnd.randrange(1, 400)) if k not in held]
        if new:
            cols = _cols(new, [hash_of[k] for k in new])
            slots = p.add(cols)
            assert np.array_equal(slots, _reference(partial(q.add, cols)))
            held.update(zip(new, slots.tolist(), strict=True))
        _same_index(p, q)
        keys = rnd.sample(universe, 500)
        c = _cols(keys, [hash_of[k] for k in keys])
        args = (c["h"], [c["k0"], c["k1"], c["k2"], c["k3"], c["pp"]])
        got = p.find(*args)
        assert got.tolist() == p._find_python(*args).tolist()
        assert got.tolist() == [held.get(k, -1) for k in keys]
        gone = rnd.sample(sorted(held), min(len(held), rnd.randrange(0, 300)))
        if gone:
            slots_gone = np.array([held.pop(k) for k in gone], dtype=np.int64)
            p.take(slots_gone, ["x"] * len(gone))
            q.take(slots_gone, ["x"] * len(gone))
        if held and rnd.random() < 0.3:
            old = p.oldest(rnd.randrange(1, 100))
            assert np.array_equal(old, q.oldest(len(old)))
            p.take(old, ["evicted"] * len(old))
            q.take(old, ["evicted"] * len(old))
            for k in [k for k, s in held.items() if s in set(old.tolist())]:
                del held[k]
        _same_index(p, q)


@built
def test_bad_index_input_is_an_error_not_a_crash() -> None:
    index = np.full(8, -1, dtype=np.int32)
    h = np.arange(4, dtype=np.int64)
    cols = tuple(np.zeros(4, np.int64) for _ in range(6))
    with pytest.raises(ValueError):  # not a power of 2
        lib.index_find(np.full(6, -1, np.int32), cols, cols)
    with pytest.raises(IndexError):  # a bucket naming a slot past the rows
        lib.index_find(np.full(8, 9, np.int32), cols, cols)
    with pytest.raises(IndexError):
        lib.index_place(index, h, np.array([4], np.int64))
    with pytest.raises(RuntimeError):  # no free bucket left
        lib.index_place(np.zeros(2, np.int32), h, np.array([1], np.int64))
    buckets, used = lib.index_place(index, h, np.array([3, 1], np.int64))
    assert np.frombuffer(buckets, np.int64).tolist() == [3, 1] and used == 2


@built
def test_a_flood_gives_the_records_of_the_numpy_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20,000 SYNs (a quarter of them sent again, some answered), conversations among them
    and a table of 3,000 flows (the tier sheds, promotes, rebuilds its index): the compiled
    grouping and index give the numpy code's records, every column."""
    frames = [*_syns(20_000), *_conversations(4_000)]
    frames += [(t + 0.3, f) for t, f in _syns(5_000, start=7_000)]  # SYNs sent again
    frames += [
        (T0 + 0.31 + i * 1e-5, ETH + tcp(0x0A000002, 443, 0x0B000000 + i, 1024 + i, 0x12))
        for i in range(7_000, 7_500)
    ]  # answers: these pending rows become FlowStates
    path = tmp_path / "flood.pcap"
    path.write_bytes(pcap(sorted(frames, key=lambda f: f[0])))
    cfg = SensorConfig(flow=FlowConfig(timeouts=FlowTimeouts(tcp=0.2), max_flows=3_000))
    got = _records(path, 1 << 30, cfg)
    monkeypatch.setattr(group, "native", None)
    monkeypatch.setattr(pending, "native", None)
    assert got == _records(path, 1 << 30, cfg)
    assert len(got) > 20_000  # the flood was shed, timed out, answered: the tier's every path
    assert {r["end_reason"] for r in got} == {"evicted", "idle", "eof"}
    assert any(r["pkts_toclient"] for r in got) and any(r["pkts_toserver"] > 1 for r in got)
