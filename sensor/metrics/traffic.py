"""Metric families of the traffic itself: what was captured, which flows it made, what the
inspector held back, and what was given up or failed on the way."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sensor.extract import ByteBudget
from sensor.flow.table import FlowTable
from sensor.metrics.families import counter, counter_by, gauge
from sensor.pipeline import Pipeline, Summary

__all__ = ["capture", "flows", "holds", "losses"]


def capture(
    summary: Summary, base: Mapping[str, str], kernel_drops: Callable[[], int] | None
) -> Iterator[Any]:
    """Packets and bytes read, and why frames gave no flow: the first place to look when the
    flow counts look low. `kernel_drops` is live capture's count (None for files: 0)."""
    s, b = summary, base
    yield counter("sensor_packets_total", "Packets read from the capture.", b, s.packets)
    yield counter("sensor_bytes_total", "Bytes of those packets (wire length).", b, s.bytes)
    yield counter_by(
        "sensor_decode_errors_total",
        "Frames that could not be decoded, by reason.",
        b,
        "reason",
        s.decode_errors,
    )
    yield counter_by(
        "sensor_packets_not_flows_total",
        "Frames that are not IP flows (ARP, LLDP, 802.11 management, ...), by kind.",
        b,
        "reason",
        s.skipped,
    )
    yield from _unread(s, b, kernel_drops)


def _unread(
    s: Summary, b: Mapping[str, str], kernel_drops: Callable[[], int] | None
) -> Iterator[Any]:
    """What never reached the decoder: damaged file records, their bytes, and packets the
    kernel dropped. Counted apart from decode errors, as they need another remedy."""
    yield counter_by(
        "sensor_capture_errors_total",
        "Damaged records in capture files, by problem.",
        b,
        "reason",
        s.capture_errors,
    )
    yield counter(
        "sensor_capture_bytes_lost_total",
        "Bytes of damaged capture files that gave no frames (skipped or left unread).",
        b,
        s.capture_bytes_lost,
    )
    drops = kernel_drops() if kernel_drops is not None else 0
    yield counter(
        "sensor_capture_kernel_drops_total",
        "Packets the kernel dropped before the sensor could read them.",
        b,
        drops,
    )


def flows(table: FlowTable, base: Mapping[str, str]) -> Iterator[Any]:
    """The flow table's size and turnover, and the records it wrote by end reason: how busy
    the link is and whether the table is large enough for it."""
    b = base
    yield gauge("sensor_flows_active", "Flows in the flow table now.", b, len(table))
    yield counter("sensor_flows_created_total", "Flows started.", b, table.created)
    yield counter_by(
        "sensor_flow_records_total",
        "Flow records written, by why (idle, fin, rst, active interim, evicted, ...).",
        b,
        "end_reason",
        table.ended,
    )
    yield counter(
        "sensor_flows_evicted_total",
        "Flows ended early because the table was full.",
        b,
        table.ended.get("evicted", 0),
    )


def holds(hold: ByteBudget, base: Mapping[str, str]) -> Iterator[Any]:
    """The inspector's out-of-order TCP hold (`Inspector.budget`): bytes held against their
    limit, and segments refused once it was spent (their flows may go unnamed)."""
    b = base
    yield gauge(
        "sensor_inspect_held_bytes", "Out-of-order TCP bytes held (all flows).", b, hold.held
    )
    yield gauge(
        "sensor_inspect_hold_limit_bytes",
        "Out-of-order TCP bytes that may be held (the holds share, or inspect.hold_mb).",
        b,
        hold.limit,
    )
    yield counter(
        "sensor_inspect_hold_refused_total",
        "Out-of-order segments not held because the budget was spent.",
        b,
        hold.refused,
    )


def losses(pipe: Pipeline, summary: Summary, base: Mapping[str, str]) -> Iterator[Any]:
    """What was given up or failed after capture: DNS answers not learnt, hello
    fingerprints and certificates evicted, flows shed from a full table, and extractors or
    sinks that raised (each counted, never fatal)."""
    b, s = base, summary
    yield counter(
        "sensor_dns_unmatched_answers_total",
        "DNS answers not learnt for naming flows: no matching query from that client.",
        b,
        pipe.names.unmatched,
    )
    yield counter(
        "sensor_hello_prints_evicted_total",
        "ClientHello shapes whose fingerprints (JA3, JA4) were dropped from, or too large "
        "to enter, the cache bounded in shapes and bytes that spares rebuilding them; a "
        "high rate means many distinct hellos.",
        b,
        pipe.prints.evicted,
    )
    yield counter(
        "sensor_certificates_evicted_total",
        "Server certificates whose fields were dropped from the bounded cache that spares "
        "parsing them again (TLS 1.2 and older); a high rate means many distinct ones.",
        b,
        pipe.certs.evicted,
    )
    yield counter(
        "sensor_flows_shed_total",
        "Of those, flows nobody had answered (a flood's half-open flows go first).",
        b,
        pipe.table.shed,
    )
    yield counter_by(
        "sensor_extractor_errors_total",
        "Extractor failures (flow dropped by that parser).",
        b,
        "extractor",
        s.extractor_errors,
    )
    yield counter_by(
        "sensor_sink_errors_total",
        "Failures of a sink or the classifier on a record.",
        b,
        "sink",
        s.sink_errors,
    )
