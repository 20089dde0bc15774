"""Community IDs of a record batch: DuckDB's sha1 over a binary column (the fast path) gives
the bytes of hashlib row by row (the reference), and both give the key module's community_id."""

from __future__ import annotations

import duckdb
import numpy as np

from sensor.flow.key import community_id, key_addresses
from sensor.flow.state import FlowState
from sensor.sinks.communityid import _sha1_b64, _sha1_b64_python
from sensor.sinks.records import RecordBuffer


def test_duckdb_sha1_equals_hashlib_row_by_row() -> None:
    rng = np.random.default_rng(5)
    con = duckdb.connect(config={"threads": 1})
    for width in (13, 36, 40):
        msgs = rng.integers(0, 256, (5000, width), dtype=np.uint8)
        fast = _sha1_b64(msgs, con)
        assert fast.tolist() == _sha1_b64_python(msgs).tolist()
        assert _sha1_b64(msgs, None).tolist() == fast.tolist()


def _flow(key: tuple[int, int, int, int, int], lo_is_client: bool) -> FlowState:
    return FlowState(key, 1, lo_is_client, key[4] & 0xFF, 0, 0, 0)


def test_record_community_ids_equal_the_reference_function() -> None:
    rng = np.random.default_rng(9)
    flows = []
    for i in range(3000):
        ver, proto = (
            (4, 6) if i % 4 == 0 else (6, 17) if i % 4 == 1 else (4, 1) if i % 4 == 2 else (6, 47)
        )
        lo_p, hi_p = (
            (8, 0) if proto == 1 else (int(rng.integers(0, 65536)), int(rng.integers(0, 65536)))
        )
        if ver == 4:
            key = (0, int(rng.integers(0, 2**32)), 0, int(rng.integers(0, 2**32)))
        else:
            key = tuple(int(x) for x in rng.integers(-(2**63), 2**63 - 1, 4))
        pp = (ver << 40) | (lo_p << 24) | (hi_p << 8) | proto
        flows.append(_flow((*key, pp), bool(i % 3)))  # type: ignore[arg-type]
    buf = RecordBuffer()
    for f in flows:
        buf.append(f, "eof")
    table = buf.take()
    assert table is not None
    got = table.column("community_id").to_pylist()
    for f, cid in zip(flows, got, strict=True):
        a, ap, b, bp, proto, _ = key_addresses(f.key)
        src, sp, dst, dp = (a, ap, b, bp) if f.client_is_lo else (b, bp, a, ap)
        assert cid == community_id(proto, src, dst, sp, dp)
