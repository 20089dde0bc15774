"""Ending field-less half-open flows in bulk. A flood's probes end by the 100,000 and carry no
field, so their verdict is `none` unless a signature for their numbers (port, version,
network, volume, protocol) could match without fields: numpy asks the classifier once per
distinct combination, only those rows go the FlowState way, and the rest reach the sinks as
columns, never as objects."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sensor.classify import Classifier
from sensor.flow.pending import EndedBatch
from sensor.flow.state import FlowState
from sensor.sinks.base import Sink
from sensor.summary import Summary

__all__ = ["bare_possible", "possible_rows", "write_bare"]

log = logging.getLogger(__name__)

_NONE = ("none", "none", "none")

_Ints = npt.NDArray[np.int64]


def _gate_numbers(batch: EndedBatch) -> tuple[_Ints, _Ints, _Ints, _Ints, _Ints]:
    """Per row, the numbers that select a record's candidates: destination port, IP version,
    destination network, volume (the binary exponent of its bytes) and protocol."""
    c, s = batch.cols, batch.sides()
    lo = c["client_is_lo"]
    pp = c["pp"]
    dport = np.where(lo, (pp >> 8) & 0xFFFF, (pp >> 24) & 0xFFFF)
    ver = pp >> 40
    d_hi, d_lo = np.where(lo, c["k2"], c["k0"]), np.where(lo, c["k3"], c["k1"])
    net = np.where(ver == 4, (d_lo & 0xFFFFFFFF) >> 16, (d_hi >> 32) & 0xFFFFFFFF)
    volume = np.frexp((s["bytes_ts"] + s["bytes_tc"]).astype(np.float64))[1].astype(np.int64)
    proto = pp & 0xFF
    return dport, ver, net, volume, proto


def bare_possible(batch: EndedBatch, clf: Classifier) -> npt.NDArray[np.bool_]:
    """Per row: could a signature match this field-less record? Asked once per distinct
    (dest_port, ver, net, volume, proto), the numbers that select its candidates."""
    dport, ver, net, volume, proto = _gate_numbers(batch)
    # one uint64 per row (16 + 1 + 7 + 8 + 32 bits) so that np.unique sorts numbers, not rows
    packed = (
        (dport.astype(np.uint64) << np.uint64(48))
        | ((ver == 6).astype(np.uint64) << np.uint64(47))
        | (volume.astype(np.uint64) << np.uint64(40))
        | (proto.astype(np.uint64) << np.uint64(32))
        | net.astype(np.uint64)
    )
    _, first, inv = np.unique(packed, return_index=True, return_inverse=True)
    ask, has_net = clf.bare_possible, bool(clf.index["net"])
    answers = np.array(
        [
            ask((a, b, n if has_net else -1, v, p))
            for a, b, n, v, p in zip(
                dport[first].tolist(), ver[first].tolist(), net[first].tolist(),
                volume[first].tolist(), proto[first].tolist(), strict=True,
            )
        ],
        dtype=np.bool_,
    )  # fmt: skip
    return answers[inv.reshape(-1)]


def possible_rows(batch: EndedBatch, clf: Classifier, summary: Summary) -> npt.NDArray[np.bool_]:
    """`bare_possible`, or every row if the classifier fails on it: a bad signature must not
    lose the records, so they are classified one by one instead (counted and logged)."""
    try:
        return bare_possible(batch, clf)
    except Exception:
        summary.sink_errors["classifier"] += 1
        log.exception("classifier failed on a batch of field-less records")
        return np.ones(len(batch), dtype=np.bool_)


def write_bare(batch: EndedBatch, clf: Classifier, sinks: Sequence[Sink], summary: Summary) -> None:
    """Count the rows as `none` verdicts and hand them to every sink as columns (a sink
    without a columnar path gets FlowStates, built once for all such sinks). One broken sink
    is counted and logged, and the others still get the rows."""
    n = len(batch)
    if not n:
        return
    summary.records += n
    clf.matched[_NONE] += n
    s = batch.sides()
    clf.matched_bytes[_NONE] += int(s["bytes_ts"].sum() + s["bytes_tc"].sum())
    states: list[FlowState] | None = None
    for sink in sinks:
        try:
            bulk = getattr(sink, "write_bare", None)
            if bulk is not None:
                bulk(batch)
                continue
            if states is None:
                states = _unclassified_states(batch)
            for flow, why in zip(states, batch.reasons, strict=True):
                sink.write_flow(flow, why)
        except Exception:
            summary.sink_errors[sink.name] += 1
            log.exception("sink %s failed on %d flow records", sink.name, n)


def _unclassified_states(batch: EndedBatch) -> list[FlowState]:
    """The rows as FlowStates with the policy action a `none` verdict gives."""
    states = batch.states()
    for flow in states:
        flow.meta["policy.action"] = "none"
    return states
