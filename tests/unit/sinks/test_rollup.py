"""The rollup's minute column against Arrow's calendar flooring it replaces."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

from sensor.sinks.flowstore import _minutes

_TS = pa.timestamp("us", tz="UTC")


@given(st.lists(st.integers(-(10**15), 10**17), min_size=1, max_size=50))
def test_minutes_floor_like_floor_temporal(us: list[int]) -> None:
    """Before 1970 too: floor, not truncation toward zero."""
    ts = pa.chunked_array([pa.array(us, pa.int64()).cast(_TS)])
    assert _minutes(ts).equals(pc.floor_temporal(ts, unit="minute").combine_chunks())
