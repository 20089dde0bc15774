"""The compiled loops (sensor/_native.c) against their pure-Python references: same inputs,
identical outputs, on crafted edge cases, random inputs and every corpus capture."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor import native
from sensor.capture import pcapfile, pcapng
from sensor.capture.pcapfile import MAX_WIRE, _pcap_batch, _PcapFormat, _walk_pcap, open_capture
from sensor.sinks import communityid, records
from tests.conftest import corpus_pcaps
from tests.unit.flow.test_batching import _SHORT, _records

lib = native.lib
built = pytest.mark.skipif(lib is None, reason="sensor._native is not built")


def test_a_machine_with_a_compiler_runs_the_compiled_code() -> None:
    """The extension is optional at install time; where gcc and Python's headers are there
    (CI, the target machines) a silent build failure would skip every test below."""
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not (shutil.which("gcc") or shutil.which("cc")) or not headers.exists():
        pytest.skip("no C compiler or Python headers: the pure-Python code is the one in use")
    if os.environ.get("SENSOR_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("SENSOR_PURE_PYTHON is set")
    assert native.describe() == "compiled"


# -- SHA-1 / Community ID text --------------------------------------------------------------


def _reference_b64(rows: np.ndarray) -> bytes:
    return b"".join(b"1:" + base64.b64encode(hashlib.sha1(r.tobytes()).digest()) for r in rows)


@built
@pytest.mark.parametrize("accel", [True, False])
def test_sha1_of_every_length_across_block_and_padding_edges(accel: bool) -> None:
    """0..130 bytes crosses the one-block (55), two-block (56..119) and three-block cases."""
    rng = np.random.default_rng(1)
    for width in [*range(1, 131), 1000]:
        rows = rng.integers(0, 256, size=(7, width), dtype=np.uint8)
        assert lib.sha1_b64(rows.tobytes(), width, accel) == _reference_b64(rows), width


@built
@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(1, 5))
def test_sha1_rows_of_random_bytes(data: bytes, rows: int) -> None:
    msgs = np.frombuffer(data * rows, dtype=np.uint8).reshape(rows, len(data))
    for accel in (True, False):
        assert lib.sha1_b64(msgs.tobytes(), len(data), accel) == _reference_b64(msgs)
    assert (
        communityid._sha1_b64(msgs, None).tobytes() == communityid._sha1_b64_python(msgs).tobytes()
    )


@built
def test_sha1_refuses_a_width_that_does_not_divide_the_rows() -> None:
    with pytest.raises(ValueError):
        lib.sha1_b64(b"abc", 2)
    with pytest.raises(ValueError):
        lib.sha1_b64(b"abc", 0)


# -- IPv4 text -------------------------------------------------------------------------------


@built
def test_ipv4_text_of_edge_addresses() -> None:
    values = np.array(
        [0, 0xFFFFFFFF, 0x0A000001, 0x64646464, 0x09090909, 0x0A0B0C0D, -1, 1 << 40 | 0x7F000001],
        dtype=np.int64,
    )
    got = records._ipv4_text(values).to_pylist()
    assert got == records._ipv4_text_python(values).to_pylist()
    assert got[:4] == ["0.0.0.0", "255.255.255.255", "10.0.0.1", "100.100.100.100"]
    assert got[-1] == "127.0.0.1"  # only the low 32 bits count


@built
@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=200))
def test_ipv4_text_of_random_values(values: list[int]) -> None:
    arr = np.array(values, dtype=np.int64)
    assert records._ipv4_text(arr).to_pylist() == records._ipv4_text_python(arr).to_pylist()


@built
def test_ipv4_text_of_a_strided_view() -> None:
    """A column sliced out of a 2-D block is not contiguous: copied, not misread."""
    block = np.arange(40, dtype=np.int64).reshape(10, 4) + 0x0A000000
    col = block[:, 1]
    assert records._ipv4_text(col).to_pylist() == records._ipv4_text_python(col).to_pylist()


# -- pcap record walk ------------------------------------------------------------------------


def _walk_both(data: bytes, pos: int, stop: int, fmt: _PcapFormat) -> None:
    offs, end, corrupt = _walk_pcap(data, pos, stop, fmt)
    o, c, w, t, end_c, corrupt_c, bad_c = lib.pcap_walk(
        data, pos, stop, fmt.endian == ">", fmt.limit, fmt.ts_mul, MAX_WIRE
    )
    assert (end_c, corrupt_c) == (end, corrupt)
    if not offs:
        assert o == b""
        return
    ref, bad = _pcap_batch(data, offs, fmt)
    assert bad_c == bad
    for got, want in zip(
        (o, c, w, t), (ref.offsets, ref.caplens, ref.wirelens, ref.ts), strict=True
    ):
        assert np.array_equal(np.frombuffer(got, dtype=np.int64), want)


def _records_bytes(lens: list[tuple[int, int]], endian: str) -> bytes:
    out = []
    for i, (cap, wire) in enumerate(lens):
        out.append(struct.pack(endian + "IIII", 1_700_000_000 + i, 999_999, cap, wire))
        out.append(bytes([i % 256]) * min(cap, 300))
    return b"".join(out)


@built
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.sampled_from([0, 1, 60, 1500, MAX_WIRE, MAX_WIRE + 1, 0xFFFFFFFF]),
        ),
        max_size=30,
    ),
    st.sampled_from(["<", ">"]),
    st.sampled_from([1, 1000]),
    st.integers(0, 400),
    st.integers(0, 20_000),
    st.integers(0, 64),
)
def test_pcap_walk_matches_the_python_walk(
    lens: list[tuple[int, int]], endian: str, ts_mul: int, limit: int, stop: int, cut: int
) -> None:
    """Records whose captured length is over `limit` (corrupt), wire lengths past belief,
    a capture cut inside a record, `stop` anywhere: the same batch, end and flags."""
    data = _records_bytes(lens, endian)
    data = data[: max(len(data) - cut, 0)]
    _walk_both(data, 0, stop, _PcapFormat(endian, ts_mul, 1, limit))


@built
def test_pcap_walk_from_an_offset_inside_a_mapped_file(tmp_path: Path) -> None:
    data = b"\0" * 24 + _records_bytes([(60, 60)] * 50 + [(1500, 1400)] * 5, "<")
    _walk_both(data, 24, 24 + 3000, _PcapFormat("<", 1000, 1, 0x40000))
    _walk_both(data, 24, len(data), _PcapFormat("<", 1000, 1, 0x40000))


@built
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([pcapng.EPB, pcapng.EPB, pcapng.SPB, 0]),
                  st.sampled_from([0, 4, 28, 32, 36, 64, 100, 1 << 31])),
        max_size=20,
    ),
    st.sampled_from(["<", ">"]),
    st.integers(0, 40),
    st.integers(0, 40),
)  # fmt: skip
def test_epb_run_matches_the_python_walk(
    blocks: list[tuple[int, int]], endian: str, start: int, cut: int
) -> None:
    """Runs of EPBs among other blocks, zero and huge lengths, a buffer cut anywhere, a
    start inside a header: the same offsets and the same end."""
    data = b"".join(
        struct.pack(endian + "II", t, n) + bytes(max(0, min(n, 100) - 8)) for t, n in blocks
    )
    data = data[: max(len(data) - cut, 0)]
    got, end = pcapng._epb_run(data, start, endian)
    want, want_end = pcapng._epb_run_python(data, start, endian)
    assert end == want_end
    assert got.tolist() == want.tolist()


def _frames(path: Path) -> tuple[list[np.ndarray], dict[str, int]]:
    cap = open_capture(path, block_bytes=1 << 16)  # many blocks: the walk restarts often
    try:
        cols: list[list[np.ndarray]] = [[], [], [], []]
        for b in cap.batches():
            for k, a in enumerate((b.offsets, b.caplens, b.wirelens, b.ts)):
                cols[k].append(np.asarray(a))
        joined = [np.concatenate(c) if c else np.zeros(0, np.int64) for c in cols]
        return joined, dict(cap.stats.errors)
    finally:
        cap.close()


@built
@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_pcaps(), ids=lambda p: p.name)
def test_corpus_frames_and_records_are_those_of_the_python_code(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every corpus capture, compiled then pure Python: the same frames (offsets, lengths,
    times, file problems) and the same records, every column (Community ID, address text)."""
    frames, errors = _frames(path)
    got = _records(path, 1 << 30, _SHORT)
    monkeypatch.setattr(pcapfile, "native", None)
    monkeypatch.setattr(pcapng, "native", None)
    monkeypatch.setattr(records, "native", None)
    ref_frames, ref_errors = _frames(path)
    assert errors == ref_errors
    for a, b in zip(frames, ref_frames, strict=True):
        assert np.array_equal(a, b)
    assert got == _records(path, 1 << 30, _SHORT)
