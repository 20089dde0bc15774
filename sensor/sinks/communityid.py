"""Community ID v1 of every record of a flush batch, as one Arrow string column.

The rows are packed with numpy and hashed at once: SHA-1 compiled (sensor/_native.c), else
DuckDB's sha1 over a binary column, else hashlib (the reference the tests compare with).
"""

from __future__ import annotations

import binascii
import hashlib
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sensor.native import lib as native

__all__ = ["CommunityIds"]

I64 = npt.NDArray[np.int64]

_PAIRED_ICMP = np.array(
    [
        0,
        8,
        9,
        10,
        13,
        14,
        15,
        16,
        17,
        18,
        128,
        129,
        130,
        131,
        133,
        134,
        135,
        136,
        139,
        140,
        144,
        145,
    ]
)
_PORT_PROTOS = np.array([1, 6, 17, 58, 132])
_CID_TEXT = np.dtype("S30")
_CID4 = np.dtype(
    [
        ("seed", ">u2"),
        ("s", ">u4"),
        ("d", ">u4"),
        ("p", "u1"),
        ("z", "u1"),
        ("sp", ">u2"),
        ("dp", ">u2"),
    ]
)
_CID6 = np.dtype(
    [
        ("seed", ">u2"),
        ("sh", ">u8"),
        ("sl", ">u8"),
        ("dh", ">u8"),
        ("dl", ">u8"),
        ("p", "u1"),
        ("z", "u1"),
        ("sp", ">u2"),
        ("dp", ">u2"),
    ]
)


class CommunityIds:
    """The Community ID column of a record buffer: its seed, and the DuckDB connection it
    hashes with where the compiled SHA-1 is missing (made at first use, one per buffer:
    a buffer is built by one thread at a time)."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._con: duckdb.DuckDBPyConnection | None = None

    def _hasher(self) -> duckdb.DuckDBPyConnection | None:
        """An in-memory DuckDB of its own (one thread) for SHA-1 over a column."""
        if self._con is None:
            try:
                self._con = duckdb.connect(config={"threads": 1})
            except duckdb.Error:
                return None
        return self._con

    def column(
        self, ver: I64, proto: I64, sh: I64, sl: I64, dh: I64, dl: I64, sp: I64, dp: I64
    ) -> pa.Array[Any]:
        """Community ID v1 for every row: byte strings packed with numpy, SHA-1 per row,
        base64 for all rows at once."""
        ush, usl, udh, udl = (x.view(np.uint64) for x in (sh, sl, dh, dl))
        one_way = np.isin(proto, (1, 58)) & ~np.isin(sp, _PAIRED_ICMP)
        greater = (ush > udh) | ((ush == udh) & ((usl > udl) | ((usl == udl) & (sp > dp))))
        swap = greater & ~one_way
        s_h, s_l = np.where(swap, udh, ush), np.where(swap, udl, usl)
        d_h, d_l = np.where(swap, ush, udh), np.where(swap, usl, udl)
        s_p, d_p = np.where(swap, dp, sp), np.where(swap, sp, dp)
        out = np.zeros(len(ver), dtype=_CID_TEXT)
        for is6 in (False, True):
            rows = np.flatnonzero((ver == 6) == is6)
            if len(rows) == 0:
                continue
            rec = np.zeros(len(rows), dtype=_CID6 if is6 else _CID4)
            rec["seed"], rec["p"] = self._seed, proto[rows]
            rec["sp"], rec["dp"] = s_p[rows], d_p[rows]
            if is6:
                rec["sh"], rec["sl"], rec["dh"], rec["dl"] = (
                    s_h[rows],
                    s_l[rows],
                    d_h[rows],
                    d_l[rows],
                )
            else:
                rec["s"], rec["d"] = s_l[rows], d_l[rows]
            con = self._hasher() if native is None else None  # DuckDB only without C
            out[rows] = _hash_rows(rec, np.isin(proto[rows], _PORT_PROTOS), con)
        n = len(out)  # 30 characters each: the string column's buffers directly, no cast
        offsets = np.arange(0, 30 * n + 1, 30, dtype=np.int32)
        return pa.Array.from_buffers(
            pa.string(), n, [None, pa.py_buffer(offsets.data), pa.py_buffer(out.data)]
        )


def _hash_rows(
    rec: np.ndarray, ported: npt.NDArray[np.bool_], con: duckdb.DuckDBPyConnection | None
) -> npt.NDArray[np.void]:
    """`1:` + base64(SHA-1) of each packed row (the last 4 bytes, ports, only if `ported`):
    compiled (sensor/_native.c); without it DuckDB's sha1 over a binary column (about 3x
    faster than a Python loop of hashlib, with that loop as the fallback where sha1 is
    missing)."""
    size = rec.dtype.itemsize
    raw = rec.view(np.uint8).reshape(len(rec), size)
    out = np.empty(len(rec), dtype=_CID_TEXT)
    for sel, width in ((ported, size), (~ported, size - 4)):
        rows = np.flatnonzero(sel)
        if len(rows):
            out[rows] = _sha1_b64(np.ascontiguousarray(raw[rows, :width]), con)
    return out


def _sha1_b64(
    msgs: npt.NDArray[np.uint8], con: duckdb.DuckDBPyConnection | None
) -> npt.NDArray[np.void]:
    """`1:` + base64(SHA-1) of each row of a 2-D byte array, as 30-byte strings."""
    n, width = msgs.shape
    if native is not None:
        return np.frombuffer(native.sha1_b64(msgs, width), dtype=_CID_TEXT)
    if con is None:
        return _sha1_b64_python(msgs)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    col = pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(msgs.tobytes())]
    )
    try:  # a relation over the Arrow column: DuckDB reads it in place
        rel = con.from_arrow(pa.table({"m": col}))
        rel = rel.project("'1:' || to_base64(unhex(sha1(m))) AS c")
        # to_arrow_table in DuckDB 2 (fetch_arrow_table deprecated), only the latter in 1.x
        res = (getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table)()
    except duckdb.Error:  # an old DuckDB without sha1: the same bytes, hashed in Python
        return _sha1_b64_python(msgs)
    text = res.column(0).combine_chunks().cast(pa.binary())
    off = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + n + 1]
    if len(off) != n + 1 or (np.diff(off) != 30).any():
        return _sha1_b64_python(msgs)
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    return data[off[0] : off[0] + 30 * n].copy().view(_CID_TEXT)


def _sha1_b64_python(msgs: npt.NDArray[np.uint8]) -> npt.NDArray[np.void]:
    """The reference for `_sha1_b64` (and its fallback)."""
    sha1 = hashlib.sha1
    digests = b"".join([sha1(m).digest() for m in msgs])
    n = len(msgs)
    # 20-byte digests padded to 21 encode to 28 characters each, the pad character last
    padded = np.zeros((n, 21), dtype=np.uint8)
    padded[:, :20] = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)
    text = np.full((n, 30), ord("="), dtype=np.uint8)
    text[:, 0], text[:, 1] = ord("1"), ord(":")
    encoded = binascii.b2a_base64(padded.tobytes(), newline=False)
    text[:, 2:29] = np.frombuffer(encoded, dtype=np.uint8).reshape(-1, 28)[:, :27]
    return text.view(_CID_TEXT)[:, 0]
