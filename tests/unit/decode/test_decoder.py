"""The vectorised fast path must decode exactly like the scalar reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensor.capture.pcapfile import open_capture
from sensor.decode.columns import INT_COLUMNS
from sensor.decode.decoder import Decoder
from tests.conftest import corpus_pcaps

_COLUMNS = ("ok", *INT_COLUMNS)


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_pcaps(), ids=lambda p: p.name)
def test_vector_path_equals_scalar_reference(path: Path) -> None:
    fast, ref = Decoder(), Decoder()
    frames = 0
    for batch in open_capture(path).batches():
        a, b = fast.decode(batch), ref.decode(batch, vector=False)
        frames += len(batch)
        for name in _COLUMNS:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert fast.errors == ref.errors
    assert sum(fast.skipped.values()) == sum(ref.skipped.values())
    assert frames > 0
