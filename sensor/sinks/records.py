"""RecordBuffer: ended flows -> Arrow tables in FLOW_COLUMNS order, built column-wise.

write_flow() only copies a flow's raw numbers into a tuple; orientation, address text,
Community ID and names are computed per column at flush time with numpy and Arrow, which
costs a fraction of formatting each record on its own.
"""

from __future__ import annotations

import binascii
import hashlib
import socket
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sensor.decode.columns import TUNNELS
from sensor.flow.state import FlowState
from sensor.native import lib as native
from sensor.sinks.schema import APP_COLUMNS, PROTO_NAMES, RECORD_COLUMNS, arrow_schema

__all__ = ["Held", "RecordBuffer"]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

# text columns by table lookup: Arrow's take of an Arrow array by numpy indices costs a few
# ns a row; a numpy object array of str through pa.array costs 80 (a flood's record cost)
_HEX = pa.array([f"{i:02x}" for i in range(256)], type=pa.string())
_PROTO = pa.array([PROTO_NAMES.get(i, str(i)) for i in range(256)], type=pa.string())
_TUNNEL = pa.array([t or None for t in TUNNELS], type=pa.string())
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
_NUMS = 18
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


@dataclass(frozen=True, slots=True)
class Held:
    """Records taken out of a RecordBuffer, not yet a table (RecordBuffer.detach)."""

    nums: list[int]
    reasons: list[str]
    metas: list[dict[str, Any] | None]
    bare: list[tuple[npt.NDArray[np.int64], list[str]]]

    def __len__(self) -> int:
        return len(self.reasons) + sum(len(b[1]) for b in self.bare)


class RecordBuffer:
    """Buffered flow records of one table; `take()` returns them as an Arrow table."""

    def __init__(self, seed: int = 0, site: str = "default") -> None:
        self._site = site
        self._nums: list[int] = []
        """_NUMS numbers per record, flat: one numpy conversion at flush, no per-row tuple."""
        self._reasons: list[str] = []
        self._metas: list[dict[str, Any] | None] = []
        self._schema = arrow_schema(RECORD_COLUMNS)
        self._seed = seed
        self._v6_text: dict[tuple[int, int], str] = {}
        self._bare: list[tuple[npt.NDArray[np.int64], list[str]]] = []
        """Field-less records (verdict none) as blocks of numbers, from the pending tier."""
        self._bare_rows = 0
        self._con: duckdb.DuckDBPyConnection | None = None

    def __len__(self) -> int:
        return len(self._reasons) + self._bare_rows

    def append_bare(self, nums: npt.NDArray[np.int64], reasons: list[str]) -> None:
        """Records without fields (action none): one row of _NUMS numbers per record."""
        self._bare.append((nums, reasons))
        self._bare_rows += len(reasons)

    def append(self, f: FlowState, reason: str) -> None:
        """Copy the numbers of `f` now: the flow object goes on changing after an interim."""
        k = f.key
        self._nums += (
            f.flow_id,
            f.segment,
            f.ts_start,
            f.ts_last,
            k[0],
            k[1],
            k[2],
            k[3],
            k[4],
            f.client_is_lo,
            f.pkts_ts,
            f.pkts_tc,
            f.bytes_ts,
            f.bytes_tc,
            f.flags_ts,
            f.flags_tc,
            f.vlan,
            f.tunnel,
        )
        self._reasons.append(reason)
        # an interim record must not see fields the live flow gets later
        self._metas.append((dict(f.meta) if reason == "active" else f.meta) if f.meta else None)

    def take(self) -> pa.Table | None:
        """All buffered records as one Arrow table; the buffer is emptied."""
        held = self.detach()
        return None if held is None else self.build(held)

    def detach(self) -> Held | None:
        """The buffered records as they are (cheap); the buffer is emptied. `build` makes
        them a table, here or in the flow store's writer thread (never two at a time: the
        address text cache is shared)."""
        if not len(self):
            return None
        held = Held(self._nums, self._reasons, self._metas, self._bare)
        self._nums, self._reasons, self._metas = [], [], []
        self._bare, self._bare_rows = [], 0
        return held

    def build(self, held: Held) -> pa.Table:
        """Detached records as one Arrow table."""
        nums, reasons, metas, bare = held.nums, held.reasons, held.metas, held.bare
        tables = []
        if reasons:
            # one row per number; bool client_is_lo becomes 0/1
            tables.append(
                self._build(np.array(nums, dtype=np.int64).reshape(-1, _NUMS), reasons, metas)
            )
        if bare:
            block = np.concatenate([b[0] for b in bare]) if len(bare) > 1 else bare[0][0]
            why = [r for b in bare for r in b[1]]
            tables.append(self._build(block, why, None))
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def _build(
        self,
        rows: npt.NDArray[np.int64],
        reasons: list[str],
        metas: list[dict[str, Any] | None] | None,
    ) -> pa.Table:
        """`metas` None: every record has no field but `policy.action = none`."""
        num = np.ascontiguousarray(rows.T)
        (
            fid,
            seg,
            t0,
            t1,
            k0,
            k1,
            k2,
            k3,
            pp,
            cl,
            p_ts,
            p_tc,
            b_ts,
            b_tc,
            f_ts,
            f_tc,
            vlan,
            tun,
        ) = num
        c = cl.astype(np.bool_)
        ver, proto = pp >> 40, pp & 0xFF
        lo_port, hi_port = (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF
        sh, sl = np.where(c, k0, k2), np.where(c, k1, k3)
        dh, dl = np.where(c, k2, k0), np.where(c, k3, k1)
        sport, dport = np.where(c, lo_port, hi_port), np.where(c, hi_port, lo_port)
        ported = np.isin(proto, (6, 17, 132))
        icmp = (proto == 1) | (proto == 58)
        tcp = proto == 6
        arrays = [
            pa.array(fid),
            pa.array(seg.astype(np.int32)),
            self._community_ids(ver, proto, sh, sl, dh, dl, sport, dport),
            pa.array(t0 // 1000),
            pa.array(t1 // 1000),
            _PROTO.take(proto),
            pa.array(ver.astype(np.int8)),
            self._addr_text(ver, sh, sl),
            pa.array(sport.astype(np.int32), mask=~ported),
            self._addr_text(ver, dh, dl),
            pa.array(dport.astype(np.int32), mask=~ported),
            pa.array(sport.astype(np.int32), mask=~icmp),
            pa.array(p_ts),
            pa.array(p_tc),
            pa.array(b_ts),
            pa.array(b_tc),
            _HEX.take(pa.array(f_ts & 0xFF, mask=~tcp)),
            _HEX.take(pa.array(f_tc & 0xFF, mask=~tcp)),
            pa.array(reasons, type=pa.string()),
            pa.array(vlan.astype(np.int32), mask=vlan < 0),
            _TUNNEL.take(tun),
            *(_app_arrays(metas) if metas is not None else _bare_arrays(len(reasons))),
            _repeat(self._site, len(reasons)),
        ]
        return pa.Table.from_arrays(
            [a.cast(f.type) for a, f in zip(arrays, self._schema, strict=True)],
            schema=self._schema,
        )

    def _addr_text(self, ver: I64, hi: I64, lo: I64) -> pa.Array[Any]:
        """IPv4 text (compiled, or Arrow kernels); IPv6 (fewer, and RFC 5952 rules) through a
        cache."""
        text = _ipv4_text(lo)
        six = np.flatnonzero(ver == 6)
        if len(six) == 0:
            return text
        out = text.to_numpy(zero_copy_only=False).astype(object)
        cache = self._v6_text
        if len(cache) > 100_000:
            cache.clear()
        for i, h, l_ in zip(six.tolist(), hi[six].tolist(), lo[six].tolist(), strict=True):
            s = cache.get((h, l_))
            if s is None:
                raw = (h & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big") + (
                    l_ & 0xFFFFFFFFFFFFFFFF
                ).to_bytes(8, "big")
                s = cache[(h, l_)] = socket.inet_ntop(socket.AF_INET6, raw)
            out[i] = s
        return pa.array(out, type=pa.string())

    def _hasher(self) -> duckdb.DuckDBPyConnection | None:
        """An in-memory DuckDB of this buffer's own (one thread) for SHA-1 over a column."""
        if self._con is None:
            try:
                self._con = duckdb.connect(config={"threads": 1})
            except duckdb.Error:
                return None
        return self._con

    def _community_ids(
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


def _ipv4_text(lo: I64) -> pa.Array[Any]:
    """Dotted-quad text of the low 32 bits of each value."""
    if native is None:
        return _ipv4_text_python(lo)
    offsets, data = native.ipv4_text(np.ascontiguousarray(lo, dtype=np.int64))
    return pa.Array.from_buffers(
        pa.string(), len(lo), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _ipv4_text_python(lo: I64) -> pa.Array[Any]:
    """The reference for `_ipv4_text`: four integer-to-text casts joined by Arrow."""
    v4 = lo & 0xFFFFFFFF
    octets = [pc.cast(pa.array((v4 >> s) & 0xFF), pa.string()) for s in (24, 16, 8, 0)]
    text: pa.Array[Any] = pc.binary_join_element_wise(*octets, ".")
    return text


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


_nulls: Any = pa.nulls
"""pa.nulls (its stubs list no overload for a plain DataType)."""


def _bare_arrays(n: int) -> list[pa.Array[Any]]:
    """The APP_COLUMNS of n records whose only field is `policy.action = none`."""
    return [
        _repeat("none", n) if c.field == "policy.action" else _nulls(n, c.arrow_type)
        for c in APP_COLUMNS
    ]


def _repeat(text: str, n: int) -> pa.Array[Any]:
    """A string column of n times the same text."""
    return pa.array([text], type=pa.string()).take(np.zeros(n, dtype=np.int32))


def _app_arrays(metas: list[dict[str, Any] | None]) -> list[pa.Array[Any]]:
    """One array per APP_COLUMNS entry; unnamed fields go to the app_meta map.

    One pass over the records that have fields at all (most flows have none or few).
    """
    n = len(metas)
    named: dict[str, list[Any]] = {
        c.field: [None] * n for c in APP_COLUMNS if c.field is not None and c.field != "*"
    }
    rest: list[list[tuple[str, str]] | None] = [None] * n
    for i, m in enumerate(metas):
        if not m:
            continue
        extra = None
        for k, v in m.items():
            col = named.get(k)
            if col is not None:
                col[i] = v
            elif k[0] != "_":
                if extra is None:
                    extra = rest[i] = []
                extra.append((k, str(v)))
    return [
        pa.array(rest if c.field == "*" else named[c.field or ""], type=c.arrow_type)
        for c in APP_COLUMNS
    ]
