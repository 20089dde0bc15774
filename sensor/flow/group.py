"""Cut a decoded batch into runs and sum each run with numpy.

A run is a maximal sequence of one flow's packets (in capture order) with no flow boundary
inside: no idle gap longer than the timeout and no new connection after FIN/RST on the same
ports. The flow table then applies each run with a handful of Python operations instead of
touching every packet.

`runs_of_batch` takes the compiled grouping (sensor/_runs.c, O(n) with a hash table) where it
is built, and `_runs_python` (numpy, sorts) otherwise; the two give identical Runs
(tests/unit/flow/test_group_native.py), and the numpy code stays the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sensor.decode.columns import PacketColumns
from sensor.flow.state import ACK, FIN, RST, SYN
from sensor.native import runs_lib as native

__all__ = ["Runs", "runs_of_batch"]

I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]
_K = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0x27D4EB2F165667C5,
        0xFF51AFD7ED558CCD,
    ],
    dtype=np.uint64,
)


_LISTS = (
    "starts", "ends", "t_first", "t_last", "first_flags", "first_fwd", "n_fwd", "n_rev",
    "b_fwd", "b_rev", "f_fwd", "f_rev", "payload", "vlan", "tunnel", "proto", "first_seq",
)  # fmt: skip


class Runs:
    """Per-run sums for one batch, in the capture order of the runs' first packets.

    `a` holds them as numpy arrays: `starts`/`ends` (positions in `order`), times, counts,
    bytes and flags per direction (`fwd`: sent from the key's lo side), `payload` (some
    packet carries payload), the first packet's flags, direction and sequence number, vlan,
    tunnel and protocol, the key's columns `k0`..`k3` and `pp`, its 64-bit hash `h`, and
    `single` (the run is its key's only run in the batch). The same names as attributes are
    Python lists for the table's loop, each made at its first use: a batch whose runs all go
    to the pending tier (a flood) never pays for them.
    """

    def __init__(self, order: I64, fwd: BoolA, a: dict[str, npt.NDArray[np.int64]]) -> None:
        self.order = order  # packet indices (into the batch) sorted by flow, capture order kept
        self.fwd = fwd  # per position in `order`: sent from the key's lo side
        self.a = a
        self._keys: list[tuple[int, int, int, int, int]] | None = None

    def __getattr__(self, name: str) -> list[Any]:
        """Called only at a list's first use: made, then kept as a plain attribute."""
        if name not in _LISTS:
            raise AttributeError(name)
        got: list[Any] = self.a[name].tolist()
        self.__dict__[name] = got
        return got

    @property
    def keys(self) -> list[tuple[int, int, int, int, int]]:
        """Each run's flow key as a tuple, made at the first use."""
        if self._keys is None:
            a = self.a
            self._keys = list(
                zip(*(a[k].tolist() for k in ("k0", "k1", "k2", "k3", "pp")), strict=True)
            )
        return self._keys


def _canonical(c: PacketColumns, sel: I64) -> tuple[list[I64], BoolA]:
    sh, sl, dh, dl = c.src_hi[sel], c.src_lo[sel], c.dst_hi[sel], c.dst_lo[sel]
    sp, dp = c.sport[sel], c.dport[sel]
    fwd = (sh < dh) | ((sh == dh) & ((sl < dl) | ((sl == dl) & (sp <= dp))))
    lo_h, lo_l = np.where(fwd, sh, dh), np.where(fwd, sl, dl)
    hi_h, hi_l = np.where(fwd, dh, sh), np.where(fwd, dl, sl)
    lo_p, hi_p = np.where(fwd, sp, dp), np.where(fwd, dp, sp)
    pp = (c.ver[sel] << 40) | (lo_p << 24) | (hi_p << 8) | c.proto[sel]
    return [lo_h, lo_l, hi_h, hi_l, pp], fwd


def _group_ids(cols: list[I64]) -> tuple[I64, I64, npt.NDArray[np.uint64]]:
    """(first index of each flow, flow number of each packet, each packet's key hash),
    exact even on hash collisions."""
    h = np.zeros(len(cols[0]), dtype=np.uint64)
    for k, col in zip(_K, cols, strict=True):
        h ^= col.view(np.uint64) * k
        h ^= h >> np.uint64(29)
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    if all(np.array_equal(col, col[first][inv]) for col in cols):
        return first, inv, h
    packed = np.ascontiguousarray(np.stack(cols, axis=1)).view(np.dtype((np.void, 40)))[:, 0]
    _, first, inv = np.unique(packed, return_index=True, return_inverse=True)
    return first, inv, h


_C_COLUMNS = (
    "ts", "wirelen", "ver", "src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "sport", "dport",
    "flags", "pl_len", "vlan", "tunnel", "seq",
)  # fmt: skip
_C_FIELDS = (
    *_LISTS, "pp", "k0", "k1", "k2", "k3", "h", "single",
)  # fmt: skip
"""The rows of sensor._runs's run table, in its order."""
_C_BOOLS = ("first_fwd", "payload", "single")


def runs_of_batch(
    c: PacketColumns, sel: I64, idle_ns: tuple[int, int, int], closed_ns: int
) -> Runs:
    """Cut the ok packets `sel` of a batch into runs and sum each per direction."""
    if native is not None and len(sel):
        cols = tuple(np.ascontiguousarray(getattr(c, k), dtype=np.int64) for k in _C_COLUMNS)
        got = native.runs(
            cols, np.ascontiguousarray(sel, dtype=np.int64), *idle_ns, closed_ns,
            FIN | RST, SYN | ACK, SYN,
        )  # fmt: skip
        if got is not None:  # None: two keys share a hash (or 2^30 packets): the reference
            order, fwd, table, n_runs = got
            m = np.frombuffer(table, dtype=np.int64).reshape(len(_C_FIELDS), n_runs)
            a = dict(zip(_C_FIELDS, m, strict=True))
            for k in _C_BOOLS:
                a[k] = a[k].astype(np.bool_)
            return Runs(np.frombuffer(order, dtype=np.int64), np.frombuffer(fwd, np.bool_), a)
    return _runs_python(c, sel, idle_ns, closed_ns)


def _runs_python(c: PacketColumns, sel: I64, idle_ns: tuple[int, int, int], closed_ns: int) -> Runs:
    """The reference: numpy sorts by key hash, then reduceat sums."""
    kcols, fwd = _canonical(c, sel)
    first, inv, hashes = _group_ids(kcols)
    order = np.argsort(inv, kind="stable")
    gs = inv[order]
    n = len(order)
    new_flow = np.empty(n, dtype=np.bool_)
    new_flow[0] = True
    np.not_equal(gs[1:], gs[:-1], out=new_flow[1:])
    idx = sel[order]
    f = fwd[order]
    ts, ln, fl, proto = c.ts[idx], c.wirelen[idx], c.flags[idx], c.proto[idx]
    starts = np.flatnonzero(new_flow | _boundaries(ts, fl, proto, new_flow, idle_ns, closed_ns))
    ends = np.append(starts[1:], n)
    nf = np.add.reduceat(f.astype(np.int64), starts)
    bt = np.add.reduceat(ln, starts)
    bf = np.add.reduceat(np.where(f, ln, 0), starts)
    first_idx = idx[starts]
    # apply runs in the order their first packets were captured, as packet by packet would:
    # flows are then created (and queued for expiry) in time order
    p = np.argsort(first_idx, kind="stable")
    st, en = starts[p], ends[p]
    fi = first_idx[p]
    runs_per_group = np.bincount(gs[starts], minlength=len(first))
    f_fwd = np.bitwise_or.reduceat(np.where(f, fl, 0), starts)[p]
    f_rev = np.bitwise_or.reduceat(np.where(f, 0, fl), starts)[p]
    a = {
        "starts": st,
        "ends": en,
        "t_first": ts[st],
        "t_last": np.maximum.reduceat(ts, starts)[p],
        "first_flags": fl[st],
        "first_fwd": f[st],
        "n_fwd": nf[p],
        "n_rev": en - st - nf[p],
        "b_fwd": bf[p],
        "b_rev": (bt - bf)[p],
        "f_fwd": f_fwd,
        "f_rev": f_rev,
        "payload": np.logical_or.reduceat(c.pl_len[idx] > 0, starts)[p],
        "vlan": c.vlan[fi],
        "tunnel": c.tunnel[fi],
        "proto": proto[st],
        "first_seq": c.seq[fi],
        "pp": kcols[4][first][gs[st]],
        "k0": kcols[0][first][gs[st]],
        "k1": kcols[1][first][gs[st]],
        "k2": kcols[2][first][gs[st]],
        "k3": kcols[3][first][gs[st]],
        "h": hashes[first][gs[st]].view(np.int64),
        "single": runs_per_group[gs[st]] == 1,
    }
    return Runs(idx, f, a)


def _boundaries(
    ts: I64, fl: I64, proto: I64, new_flow: BoolA, idle_ns: tuple[int, int, int], closed_ns: int
) -> BoolA:
    """Packets that may start a new flow on the same key: the table decides exactly."""
    gap = np.empty(len(ts), dtype=np.int64)
    gap[0] = 0
    np.subtract(ts[1:], ts[:-1], out=gap[1:])
    gap[new_flow] = 0
    idle = np.where(proto == 6, idle_ns[0], np.where(proto == 17, idle_ns[1], idle_ns[2]))
    cut = gap > idle
    ending = (fl & (FIN | RST)) != 0
    if ending.any():
        # FIN/RST earlier in the same flow: a later SYN or a long pause starts a new flow
        seen = np.cumsum(ending) - ending
        flow_start = np.flatnonzero(new_flow)
        sizes = np.diff(np.append(flow_start, len(ts)))
        before = seen - seen[flow_start].repeat(sizes)
        syn = (fl & (SYN | ACK)) == SYN
        cut |= (before > 0) & (syn | (gap > closed_ns))
    return cut & ~new_flow
