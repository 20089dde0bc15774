"""PendingFlows' hash index against a plain dict: random keys added, found, taken, re-added
over many rounds (tombstones, growth, rebuilds, colliding hashes)."""

from __future__ import annotations

import random

import numpy as np

from sensor.flow.pending import PendingFlows

I64 = np.int64


def _cols(keys: list[tuple[int, int, int, int, int]], hashes: list[int]) -> dict[str, np.ndarray]:
    n = len(keys)
    cols = {f"k{j}": np.array([k[j] for k in keys], dtype=I64) for j in range(4)}
    cols["pp"] = np.array([k[4] for k in keys], dtype=I64)
    cols["h"] = np.array(hashes, dtype=I64)
    cols["ts_first"] = cols["ts_last"] = np.arange(n, dtype=I64)
    return cols


def _find(p: PendingFlows, keys: list[tuple[int, int, int, int, int]], h: list[int]) -> list[int]:
    c = _cols(keys, h)
    return p.find(c["h"], [c["k0"], c["k1"], c["k2"], c["k3"], c["pp"]]).tolist()


def test_the_index_agrees_with_a_dict_through_adds_and_takes() -> None:
    rnd = random.Random(7)
    p = PendingFlows(capacity=16)
    model: dict[tuple[int, int, int, int, int], int] = {}
    universe = [
        (0, rnd.getrandbits(32), 0, rnd.getrandbits(32), 6 | (4 << 40)) for _ in range(3000)
    ]
    # few distinct hashes: long probe chains and hash-equal keys that differ
    hash_of = {k: rnd.randrange(64) for k in universe}
    for _ in range(60):
        new = [k for k in rnd.sample(universe, 200) if k not in model]
        if new:
            slots = p.add(_cols(new, [hash_of[k] for k in new])).tolist()
            model.update(zip(new, slots, strict=True))
            assert len(p) == len(model)
        probe = rnd.sample(universe, 500)
        found = _find(p, probe, [hash_of[k] for k in probe])
        assert found == [model.get(k, -1) for k in probe]
        if model and rnd.random() < 0.3:  # shed the oldest: creation order, whatever was taken
            by_age = sorted(model, key=lambda k: int(p.col("seq")[model[k]]))
            k = rnd.randrange(1, min(len(model), 120) + 1)
            oldest = p.oldest(k)
            assert oldest.tolist() == [model[x] for x in by_age[:k]]
            p.take(oldest, ["evicted"] * k)
            for x in by_age[:k]:
                del model[x]
        gone = rnd.sample(sorted(model), min(len(model), 150))
        if gone:
            p.take(np.array([model[k] for k in gone], dtype=I64), ["x"] * len(gone))
            for k in gone:
                del model[k]
        assert len(p) == len(model)
    everything = _find(p, universe, [hash_of[k] for k in universe])
    assert sum(s >= 0 for s in everything) == len(model)
    assert all((s >= 0) == (k in model) for k, s in zip(universe, everything, strict=True))
