"""The compiled run grouping (sensor/_runs.c) against the numpy reference
(sensor.flow.group._runs_python): every array of Runs identical, on random batches, on keys
crafted to share a 64-bit hash, and in the records of every corpus capture."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor import native
from sensor.decode.columns import PacketColumns
from sensor.flow import group, pending
from sensor.flow.group import Runs, _runs_python, runs_of_batch
from sensor.flow.state import ACK, FIN, RST, SYN
from tests.conftest import corpus_pcaps
from tests.unit.flow.test_batching import _SHORT, _records

lib = group.native
built = pytest.mark.skipif(
    lib is None, reason="sensor._runs is not built or SENSOR_PURE_PYTHON is set"
)

IDLE = (100, 50, 30)  # ns: TCP, UDP, other
CLOSED = 20
_M64 = (1 << 64) - 1


def test_a_machine_with_a_compiler_builds_the_grouping() -> None:
    """sensor._runs is optional at install time; where gcc and Python's headers are there (CI,
    the target machines) a silent build failure would skip every test below."""
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not (shutil.which("gcc") or shutil.which("cc")) or not headers.exists():
        pytest.skip("no C compiler or Python headers: the numpy code is the one in use")
    if os.environ.get("SENSOR_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("SENSOR_PURE_PYTHON is set")
    assert native.runs_lib is not None and group.native is native.runs_lib
    assert pending.native is native.runs_lib


def _same(got: Runs, want: Runs) -> None:
    assert np.array_equal(got.order, want.order) and got.order.dtype == want.order.dtype
    assert np.array_equal(got.fwd, want.fwd) and got.fwd.dtype == want.fwd.dtype
    assert list(got.a) == list(want.a)
    for k, v in want.a.items():
        assert got.a[k].dtype == v.dtype, k
        assert np.array_equal(got.a[k], v), k
    assert got.keys == want.keys


def _compiled(c: PacketColumns, sel: np.ndarray) -> tuple[bytes, bytes, bytes, int] | None:
    assert lib is not None
    cols = tuple(getattr(c, k) for k in group._C_COLUMNS)
    return lib.runs(cols, sel, *IDLE, CLOSED, FIN | RST, SYN | ACK, SYN)


def _columns(rows: list[dict[str, int]], ok: list[bool]) -> PacketColumns:
    n = len(rows)
    c = PacketColumns.empty(
        b"",
        np.array([r["ts"] for r in rows], dtype=np.int64),
        np.array([r["wirelen"] for r in rows], dtype=np.int64),
    )
    for name in ("ver", "src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "sport", "dport"):
        setattr(c, name, np.array([r[name] for r in rows], dtype=np.int64))
    for name in ("flags", "pl_len", "vlan", "tunnel", "seq"):
        setattr(c, name, np.array([r[name] for r in rows], dtype=np.int64))
    c.ok = np.array(ok, dtype=np.bool_) if n else np.zeros(0, np.bool_)
    return c


# endpoints: IPv4 (high half 0) and IPv6, the same host with several ports, equal addresses
_HOSTS = [(0, 0x0A000001), (0, 0x0A000002), (0x20010DB8 << 32, 1), (0x20010DB8 << 32, 2), (0, 0)]
_PORTS = [0, 53, 80, 443, 1024, 50000, 65535]
_FLAGS = [0, SYN, SYN | ACK, ACK, FIN | ACK, RST, RST | ACK, FIN, SYN | FIN, 0x18]
_GAPS = [0, 0, 1, 5, CLOSED, CLOSED + 1, 30, 31, 50, 51, 100, 101, 10_000, -3]


@st.composite
def _batches(draw: st.DrawFn) -> tuple[PacketColumns, list[bool]]:
    """A few flows (many repeats), both directions, gaps around every timeout."""
    flows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(_HOSTS), st.sampled_from(_HOSTS), st.sampled_from(_PORTS),
                st.sampled_from(_PORTS), st.sampled_from([6, 17, 1, 47]),
            ),
            min_size=1, max_size=6,
        )
    )  # fmt: skip
    n = draw(st.integers(1, 120))
    ts, rows, ok = 1_000_000, [], []
    for _ in range(n):
        (a, b, sp, dp, proto) = flows[draw(st.integers(0, len(flows) - 1))]
        if draw(st.booleans()):
            a, b, sp, dp = b, a, dp, sp
        ts += draw(st.sampled_from(_GAPS))
        rows.append(
            {
                "ts": ts, "wirelen": draw(st.sampled_from([0, 60, 1514, 1 << 40])),
                "ver": 6 if a[0] or b[0] else 4, "src_hi": a[0], "src_lo": a[1],
                "dst_hi": b[0], "dst_lo": b[1], "proto": proto, "sport": sp, "dport": dp,
                "flags": draw(st.sampled_from(_FLAGS)) if proto == 6 else 0,
                "pl_len": draw(st.sampled_from([0, 0, 1, 100])),
                "vlan": draw(st.sampled_from([-1, 10])), "tunnel": draw(st.sampled_from([0, 3])),
                "seq": draw(st.integers(0, (1 << 32) - 1)) if proto == 6 else 0,
            }
        )  # fmt: skip
        ok.append(draw(st.integers(0, 9)) > 0)
    return _columns(rows, ok), ok


@built
@settings(max_examples=120, deadline=None)
@given(_batches())
def test_random_batches_give_the_runs_of_the_numpy_code(
    batch: tuple[PacketColumns, list[bool]],
) -> None:
    c, _ = batch
    sel = np.flatnonzero(c.ok)
    if not len(sel):
        return
    got = runs_of_batch(c, sel, IDLE, CLOSED)
    assert _compiled(c, sel) is not None  # the compiled code answered: no silent fallback
    _same(got, _runs_python(c, sel, IDLE, CLOSED))


def _hash(k: list[int]) -> int:
    h = 0
    for key, col in zip(group._K.tolist(), k, strict=True):
        h ^= (col & _M64) * key & _M64
        h ^= h >> 29
    return h


def _colliding_dst_lo(a: list[int], b_prefix: list[int]) -> int:
    """dst_lo (k3) that gives key b_prefix + [k3, pp] the hash of key a: each step of the
    hash is invertible (odd multipliers, an xorshift by 29)."""
    k = group._K.tolist()

    def state(cols: list[int]) -> int:
        h = 0
        for key, col in zip(k, cols, strict=False):
            h ^= (col & _M64) * key & _M64
            h ^= h >> 29
        return h

    target = state(a[:4])  # the state after k3 is what k4 then mixes
    pre = target ^ (target >> 29) ^ (target >> 58)  # undo the xorshift
    k3 = ((pre ^ state(b_prefix)) * pow(k[3], -1, 1 << 64)) & _M64
    return k3 - (1 << 64) if k3 >> 63 else k3


def _collision_batch() -> tuple[PacketColumns, np.ndarray]:
    a = [0, 0x0A000001, 1, 0x0A000002, (4 << 40) | (1234 << 24) | (80 << 8) | 6]
    k3 = _colliding_dst_lo(a, [0, 0x0A000003, 1])
    b = [0, 0x0A000003, 1, k3, a[4]]
    assert a != b and _hash(a) == _hash(b)
    rows = []
    for i, (key, fwd) in enumerate([(a, True), (b, True), (a, False), (b, False), (a, True)]):
        sh, sl, dh, dl = key[:4] if fwd else key[2:4] + key[:2]
        sp, dp = (1234, 80) if fwd else (80, 1234)
        rows.append(
            {
                "ts": 1000 + i, "wirelen": 60 + i, "ver": 4, "src_hi": sh, "src_lo": sl,
                "dst_hi": dh, "dst_lo": dl, "proto": 6, "sport": sp, "dport": dp,
                "flags": ACK, "pl_len": 0, "vlan": -1, "tunnel": 0, "seq": i,
            }
        )  # fmt: skip
    c = _columns(rows, [True] * len(rows))
    return c, np.flatnonzero(c.ok)


@built
def test_keys_that_share_a_hash_fall_back_to_the_exact_reference() -> None:
    """Two different keys, one 64-bit hash: the compiled code says so (None) rather than
    choosing an order, and runs_of_batch gives the reference's runs, one per key."""
    c, sel = _collision_batch()
    assert _compiled(c, sel) is None
    got = runs_of_batch(c, sel, IDLE, CLOSED)
    _same(got, _runs_python(c, sel, IDLE, CLOSED))
    assert len(got.starts) == 2 and len(set(got.keys)) == 2
    assert got.n_fwd == [2, 1] and got.n_rev == [1, 1]
    assert got.a["h"][0] == got.a["h"][1]


@built
def test_a_selection_outside_the_batch_is_an_error_not_a_read() -> None:
    c, sel = _collision_batch()
    cols = tuple(getattr(c, k) for k in group._C_COLUMNS)
    with pytest.raises(IndexError):
        lib.runs(cols, np.array([0, 5], np.int64), *IDLE, CLOSED, FIN | RST, SYN | ACK, SYN)
    with pytest.raises(ValueError):
        lib.runs(cols[:-1], sel, *IDLE, CLOSED, FIN | RST, SYN | ACK, SYN)
    with pytest.raises(ValueError):
        lib.runs((*cols[:-1], cols[-1][:3]), sel, *IDLE, CLOSED, FIN | RST, SYN | ACK, SYN)


@built
def test_a_large_batch_of_many_flows() -> None:
    """A flood-shaped batch (60 k packets, 20 k keys, a third of them seen thrice): the hash
    table grows past its first size and the radix sort orders every byte of the hashes."""
    rng = np.random.default_rng(7)
    n = 60_000
    keys = rng.integers(0, 20_000, n)
    rows = {
        "ts": np.cumsum(rng.integers(0, 40, n)), "wirelen": rng.integers(40, 1500, n),
        "ver": np.full(n, 4), "src_hi": np.zeros(n, np.int64), "src_lo": 0x0A000000 + keys,
        "dst_hi": np.zeros(n, np.int64), "dst_lo": np.full(n, 0x0A0000FF),
        "proto": np.full(n, 6), "sport": 1024 + keys % 7, "dport": np.full(n, 80),
        "flags": rng.choice([SYN, ACK, FIN | ACK, RST], n), "pl_len": rng.integers(0, 2, n),
        "vlan": np.full(n, -1), "tunnel": np.zeros(n, np.int64), "seq": rng.integers(0, 1 << 32, n),
    }  # fmt: skip
    c = PacketColumns.empty(b"", rows["ts"].astype(np.int64), rows["wirelen"].astype(np.int64))
    for k, v in rows.items():
        setattr(c, k, np.ascontiguousarray(v, dtype=np.int64))
    c.ok = rng.random(n) < 0.95
    sel = np.flatnonzero(c.ok)
    _same(runs_of_batch(c, sel, IDLE, CLOSED), _runs_python(c, sel, IDLE, CLOSED))


@built
@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_pcaps(), ids=lambda p: p.name)
def test_corpus_records_are_those_of_the_numpy_code(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every corpus capture with short timeouts (idle splits, interim records): the compiled
    run grouping and pending-tier index (sensor/_runs.c) and their numpy references give
    identical records, every column."""
    got = _records(path, 1 << 30, _SHORT)
    monkeypatch.setattr(group, "native", None)
    monkeypatch.setattr(pending, "native", None)
    assert got == _records(path, 1 << 30, _SHORT)
