"""RecordBuffer: ended flows -> Arrow tables in FLOW_COLUMNS order, built column-wise.

write_flow() only copies a flow's raw numbers into a tuple; orientation, address text,
Community ID and names are computed per column at flush time with numpy and Arrow, which
costs a fraction of formatting each record on its own.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sensor.decode.columns import TUNNELS
from sensor.flow.state import FlowState
from sensor.native import lib as native
from sensor.sinks.communityid import CommunityIds
from sensor.sinks.schema import APP_COLUMNS, PROTO_NAMES, RECORD_COLUMNS, arrow_schema

log = logging.getLogger(__name__)

__all__ = ["Held", "RecordBuffer"]

I64 = npt.NDArray[np.int64]

# text columns by table lookup: Arrow's take of an Arrow array by numpy indices costs a few
# ns a row; a numpy object array of str through pa.array costs 80 (a flood's record cost)
_HEX = pa.array([f"{i:02x}" for i in range(256)], type=pa.string())
_PROTO = pa.array([PROTO_NAMES.get(i, str(i)) for i in range(256)], type=pa.string())
_TUNNEL = pa.array([t or None for t in TUNNELS], type=pa.string())
_NUMS = 18


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
        self._community_ids = CommunityIds(seed)
        self._v6_text: dict[tuple[int, int], str] = {}
        self._bare: list[tuple[npt.NDArray[np.int64], list[str]]] = []
        """Field-less records (verdict none) as blocks of numbers, from the pending tier."""
        self._bare_rows = 0
        self.extra_bytes = 0
        """The buffered records' fields beyond what a record's measured size includes
        (their flows' `_extra`, charged by the inspector): the flow store counts them
        against the rows it waits for."""

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
        meta = f.meta
        if meta:
            self.extra_bytes += meta.get("_extra", 0)
            # an interim record must not see fields the live flow gets later
            self._metas.append(dict(meta) if reason == "active" else meta)
        else:
            self._metas.append(None)

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
        self.extra_bytes = 0
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
        n = len(reasons)
        arrays = [
            pa.array(num[0]),
            pa.array(num[1].astype(np.int32)),
            *self._flow_arrays(num),
            *_count_arrays(num, reasons),
            *(_app_arrays(metas) if metas is not None else _bare_arrays(n)),
            _repeat(self._site, n),
        ]
        return pa.Table.from_arrays(
            [a.cast(f.type) for a, f in zip(arrays, self._schema, strict=True)],
            schema=self._schema,
        )

    def _flow_arrays(self, num: I64) -> list[pa.Array[Any]]:
        """Community ID, times, protocol and both ends, client first: the canonical key
        holds the lower address first, and `client_is_lo` says whether that is the client."""
        t0, t1, k0, k1, k2, k3, pp, cl = num[2:10]
        c = cl.astype(np.bool_)
        ver, proto = pp >> 40, pp & 0xFF
        lo_port, hi_port = (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF
        sh, sl = np.where(c, k0, k2), np.where(c, k1, k3)
        dh, dl = np.where(c, k2, k0), np.where(c, k3, k1)
        sport, dport = np.where(c, lo_port, hi_port), np.where(c, hi_port, lo_port)
        ported = np.isin(proto, (6, 17, 132))
        icmp = (proto == 1) | (proto == 58)
        return [
            self._community_ids.column(ver, proto, sh, sl, dh, dl, sport, dport),
            pa.array(t0 // 1000),
            pa.array(t1 // 1000),
            _PROTO.take(proto),
            pa.array(ver.astype(np.int8)),
            self._addr_text(ver, sh, sl),
            pa.array(sport.astype(np.int32), mask=~ported),
            self._addr_text(ver, dh, dl),
            pa.array(dport.astype(np.int32), mask=~ported),
            pa.array(sport.astype(np.int32), mask=~icmp),
        ]

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


def _count_arrays(num: I64, reasons: list[str]) -> list[pa.Array[Any]]:
    """Packets and bytes each way, TCP flags as hex (TCP only), end reason, VLAN, tunnel."""
    pp, _, p_ts, p_tc, b_ts, b_tc, f_ts, f_tc, vlan, tun = num[8:]
    tcp = (pp & 0xFF) == 6
    return [
        pa.array(p_ts),
        pa.array(p_tc),
        pa.array(b_ts),
        pa.array(b_tc),
        _HEX.take(pa.array(f_ts & 0xFF, mask=~tcp)),
        _HEX.take(pa.array(f_tc & 0xFF, mask=~tcp)),
        pa.array(reasons, type=pa.string()),
        pa.array(vlan.astype(np.int32), mask=vlan < 0),
        _TUNNEL.take(tun),
    ]


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
        _column(rest if c.field == "*" else named[c.field or ""], c.arrow_type, c.name)
        for c in APP_COLUMNS
    ]


def _column(values: list[Any], kind: pa.DataType, name: str) -> pa.Array[Any]:
    """The column of one field. A value its type cannot hold (an HTTP status of 11 digits
    in an int32, a forged field of another type) becomes NULL with a warning: one such value
    must never cost the batch it came in, every other record of which is good."""
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        pass
    kept: list[Any] = []
    for v in values:
        try:
            pa.array([v], type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            v = None
        kept.append(v)
    dropped = sum(1 for a, b in zip(values, kept, strict=True) if a is not None and b is None)
    log.warning("records: %d value(s) of %s did not fit its type; stored as NULL", dropped, name)
    return pa.array(kept, type=kind)
