"""Metric families of the sensor's resources: memory by structure, the Parquet stores, and
the outputs that send records away (syslog, IPFIX, EVE flows)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from sensor.budget import STRUCTURES, refused, used_bytes
from sensor.pipeline import Pipeline
from sensor.sinks.outputs import output_stats

__all__ = ["memory", "outputs", "stores"]

_STORE_COUNTERS = (
    ("sensor_store_rows_written", "Rows written to segments.", "rows_written"),
    (
        "sensor_store_write_errors",
        "Segment writes that failed (rows kept for retry).",
        "write_errors",
    ),
    (
        "sensor_store_rows_dropped",
        "Rows dropped because they could not be written in time.",
        "rows_dropped",
    ),
    ("sensor_store_segments_written", "Segments written.", "segments_written"),
    (
        "sensor_store_rows_misdated",
        "Rows filed under another day's partition: their flush spanned over 64 days.",
        "rows_misdated",
    ),
    (
        "sensor_store_flush_seconds",
        "Time spent writing segments (rate / flushes = latency).",
        "flush_seconds_total",
    ),
    ("sensor_store_flushes", "Flushes that wrote rows.", "flushes"),
)
"""Each store's counters: family name (without `_total`), help, and the stats attribute."""


def memory(
    pipe: Pipeline, stores: Sequence[tuple[str, Any]], base: Mapping[str, str]
) -> Iterator[Any]:
    """limits.memory_mb by structure (sensor/budget.py): each share, the estimated bytes
    held in it, the entry limit derived from it, and what was given up at that limit."""
    flows = next((st for name, st in stores if name == "flows"), None)
    used = used_bytes(pipe, flows.backlog if flows is not None else 0)
    budget = pipe.budget
    k, vals = [*base, "structure"], list(base.values())
    share = GaugeMetricFamily(
        "sensor_memory_budget_bytes",
        "Share of limits.memory_mb given to each structure (per worker).",
        labels=k,
    )
    held = GaugeMetricFamily(
        "sensor_memory_used_bytes",
        "Bytes each structure holds now: exact for holds and the TLS/QUIC buffers (tls_quic "
        "adds the hello fingerprint cache's estimate), else its entries times the measured "
        "bytes of one.",
        labels=k,
    )
    limit = GaugeMetricFamily(
        "sensor_memory_limit_entries",
        "Entries allowed by each share: flows, records per segment write, DNS answers, "
        "access points (holds and tls_quic count bytes against the share itself).",
        labels=k,
    )
    for name in STRUCTURES:
        share.add_metric([*vals, name], budget.shares[name])
        held.add_metric([*vals, name], used[name])
    for name, n in budget.limits().items():
        limit.add_metric([*vals, name], n)
    yield from (share, held, limit, _refused(pipe, k, vals))


def _refused(pipe: Pipeline, labels: list[str], vals: list[str]) -> CounterMetricFamily:
    """What each structure gave up at its limit, the counterpart of its share."""
    gone = CounterMetricFamily(
        "sensor_memory_refused",
        "Given up because a structure was at its limit: flows evicted, segments not held, "
        "flows whose handshake was not buffered, DNS answers and access points pushed out.",
        labels=labels,
    )
    for name, n in refused(pipe).items():
        gone.add_metric([*vals, name], n)
    return gone


def stores(stores: Sequence[tuple[str, Any]], base: Mapping[str, str]) -> Iterator[Any]:
    """Each table's store (`store_stats`, or `stats` for the plain ones): rows and segments
    written, what failed or was dropped, flush time, and the rows still waiting."""
    k, vals = [*base, "table"], list(base.values())
    counters = [CounterMetricFamily(name, doc, labels=k) for name, doc, _ in _STORE_COUNTERS]
    backlog = GaugeMetricFamily(
        "sensor_store_backlog_rows", "Rows waiting to be written.", labels=k
    )
    for table, store in stores:
        st = store.store_stats if hasattr(store, "store_stats") else store.stats
        v = [*vals, table]
        for fam, (_, _, attr) in zip(counters, _STORE_COUNTERS, strict=True):
            fam.add_metric(v, getattr(st, attr))
        backlog.add_metric(v, store.backlog)
    yield from (*counters, backlog)


def outputs(outs: list[Any], base: Mapping[str, str]) -> Iterator[Any]:
    """Messages each output sent, failed or dropped, and its queue: a collector that is down
    shows as failures here long before anyone misses its records."""
    msgs = CounterMetricFamily(
        "sensor_output_messages",
        "Messages of each output (syslog, ipfix, eve_flows), by result: sent, failed "
        "(collector unreachable or write error), dropped (queue full).",
        labels=[*base, "output", "result"],
    )
    depth = GaugeMetricFamily(
        "sensor_output_queue_depth", "Messages waiting to be sent.", labels=[*base, "output"]
    )
    vals = list(base.values())
    for name, st, queued in output_stats(outs):
        for result in ("sent", "failed", "dropped"):
            msgs.add_metric([*vals, name, result], getattr(st, result))
        depth.add_metric([*vals, name], queued)
    yield from (msgs, depth)
