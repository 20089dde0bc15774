"""Prometheus metrics: one custom collector that reads the pipeline's own counters at scrape
time, in its own registry, served over HTTP (loopback by default).

Nothing on the packet path touches Prometheus objects: the pipeline keeps plain ints and
Counters, and `collect()` copies them when Prometheus asks (a C-level dict copy under the
GIL, so the capture thread never waits). Labels are bounded: sensor, site, and the policy's
own vocabularies (category, provision, action, severity, reason, extractor, table,
structure); never
addresses, names or SNI, which belong in DuckDB.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from sensor import __version__, native
from sensor.budget import STRUCTURES, refused, used_bytes
from sensor.classify.feeds import Feed
from sensor.errors import ConfigError
from sensor.pipeline import Pipeline
from sensor.ship.shipper import ShipStats
from sensor.sinks import Sinks
from sensor.sinks.outputs import output_stats

__all__ = ["SensorCollector", "ShipCollector", "collector_for", "parse_listen", "serve"]

log = logging.getLogger(__name__)


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:9108`, `[::1]:9108`, `:9108` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"metrics.listen: expected host:port, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class SensorCollector(Collector):
    """Every sensor metric, read from live objects at scrape time."""

    def __init__(
        self,
        pipeline: Pipeline,
        stores: Sequence[tuple[str, Any]] = (),
        alerts: Any = None,
        sensor: str = "",
        site: str = "",
        capture_drops: Any = None,
    ) -> None:
        self.pipeline = pipeline
        self.stores = list(stores)
        self.alerts = alerts
        self.capture_drops = capture_drops
        self.outputs: list[Any] = []
        """Syslog, IPFIX and EVE-flow outputs (each with `name`, `stats`)."""
        """A callable giving the kernel's dropped-packet count (live capture), or None."""
        self.base = {"sensor": sensor, "site": site}
        self.started = time.time()

    def describe(self) -> Iterable[Any]:
        """The families (empty samples), so a registry knows the names before a scrape."""
        return list(self.collect())

    def collect(self) -> Iterator[Any]:
        b = self.base
        keys = list(b)
        vals = list(b.values())
        s = self.pipeline.summary
        clf = self.pipeline.classifier

        info = InfoMetricFamily(
            "sensor_build",
            "Sensor version, the Python it runs on and whether its compiled loops are in use.",
            labels=keys,
        )
        info.add_metric(
            vals,
            {
                "version": __version__,
                "python": platform.python_version(),
                "code": native.describe(),
            },
        )
        yield info
        yield _gauge("sensor_start_time_seconds", "Unix time the sensor started.", b, self.started)

        yield _counter("sensor_packets_total", "Packets read from the capture.", b, s.packets)
        yield _counter("sensor_bytes_total", "Bytes of those packets (wire length).", b, s.bytes)
        yield _by(
            "sensor_decode_errors_total",
            "Frames that could not be decoded, by reason.",
            b,
            "reason",
            s.decode_errors,
        )
        yield _by(
            "sensor_packets_not_flows_total",
            "Frames that are not IP flows (ARP, LLDP, 802.11 management, ...), by kind.",
            b,
            "reason",
            s.skipped,
        )
        yield _by(
            "sensor_capture_errors_total",
            "Damaged records in capture files, by problem.",
            b,
            "reason",
            s.capture_errors,
        )
        yield _counter(
            "sensor_capture_bytes_lost_total",
            "Bytes of damaged capture files that gave no frames (skipped or left unread).",
            b,
            s.capture_bytes_lost,
        )
        drops = self.capture_drops() if self.capture_drops is not None else 0
        yield _counter(
            "sensor_capture_kernel_drops_total",
            "Packets the kernel dropped before the sensor could read them.",
            b,
            drops,
        )

        table = self.pipeline.table
        yield _gauge("sensor_flows_active", "Flows in the flow table now.", b, len(table))
        yield _counter("sensor_flows_created_total", "Flows started.", b, table.created)
        yield _by(
            "sensor_flow_records_total",
            "Flow records written, by why (idle, fin, rst, active interim, evicted, ...).",
            b,
            "end_reason",
            table.ended,
        )
        yield _counter(
            "sensor_flows_evicted_total",
            "Flows ended early because the table was full.",
            b,
            table.ended.get("evicted", 0),
        )
        hold = self.pipeline.inspector.budget
        yield _gauge(
            "sensor_inspect_held_bytes", "Out-of-order TCP bytes held (all flows).", b, hold.held
        )
        yield _gauge(
            "sensor_inspect_hold_limit_bytes",
            "Out-of-order TCP bytes that may be held (the holds share, or inspect.hold_mb).",
            b,
            hold.limit,
        )
        yield _counter(
            "sensor_inspect_hold_refused_total",
            "Out-of-order segments not held because the budget was spent.",
            b,
            hold.refused,
        )
        yield from self._memory_metrics(keys, vals)
        yield _counter(
            "sensor_dns_unmatched_answers_total",
            "DNS answers not learnt for naming flows: no matching query from that client.",
            b,
            self.pipeline.names.unmatched,
        )
        yield _counter(
            "sensor_hello_prints_evicted_total",
            "ClientHello shapes whose fingerprints (JA3, JA4) were dropped from the bounded "
            "cache that spares rebuilding them; a high rate means many distinct hellos.",
            b,
            self.pipeline.prints.evicted,
        )
        yield _counter(
            "sensor_flows_shed_total",
            "Of those, flows nobody had answered (a flood's half-open flows go first).",
            b,
            table.shed,
        )
        yield _by(
            "sensor_extractor_errors_total",
            "Extractor failures (flow dropped by that parser).",
            b,
            "extractor",
            s.extractor_errors,
        )
        yield _by(
            "sensor_sink_errors_total",
            "Failures of a sink or the classifier on a record.",
            b,
            "sink",
            s.sink_errors,
        )

        labels3 = ("category", "provision", "action")
        yield _by3(
            "sensor_classified_records_total",
            "Flow records by policy category, provision and action ('none': no match).",
            b,
            labels3,
            clf.matched,
        )
        yield _by3(
            "sensor_classified_bytes_total",
            "Bytes of those flow records by category, provision and action.",
            b,
            labels3,
            clf.matched_bytes,
        )
        yield _by(
            "sensor_classifier_memo_total",
            "Flow records whose candidates' verdict was remembered (hit) or computed (miss),"
            " that had no candidate (none), classified without the memo while it did not pay"
            " (bypass); remembered verdicts dropped (evicted).",
            b,
            "result",
            clf.memo_counts,
        )
        yield _gauge(
            "sensor_signatures_loaded", "Signatures in the running set.", b, len(clf.signatures)
        )
        sig = InfoMetricFamily(
            "sensor_signature_set", "Version of the running signature set.", labels=keys
        )
        sig.add_metric(vals, {"version": clf.version})
        yield sig
        titles = InfoMetricFamily(
            "sensor_provision",
            "Title of each policy provision, for dashboards to join (group_left) into legends.",
            labels=[*keys, "provision"],
        )
        for pid, prov in sorted(clf.provisions.items()):
            titles.add_metric([*vals, pid], {"title": prov.title})
        yield titles
        yield _feeds(clf.feeds, b)
        yield _by(
            "sensor_reloads_total",
            "Signature and policy reloads (SIGHUP), by result.",
            b,
            "result",
            {"ok": 0, "failed": 0, **self.pipeline.reloads},
        )

        if self.alerts is not None:
            st = self.alerts.stats
            fam = CounterMetricFamily(
                "sensor_alerts",
                "Alerts raised, by provision and severity.",
                labels=[*keys, "provision", "severity"],
            )
            for (prov, sev), n in list(st.raised.items()):
                fam.add_metric([*vals, prov, sev], n)
            yield fam
            yield _counter(
                "sensor_alerts_suppressed_total",
                "Alerts suppressed as repeats of the same signature and host.",
                b,
                st.suppressed,
            )
        yield from self._store_metrics(keys, vals)
        yield from self._output_metrics(keys, vals)

    def _memory_metrics(self, keys: list[str], vals: list[str]) -> Iterator[Any]:
        """limits.memory_mb by structure (sensor/budget.py): each share, the estimated bytes
        held in it, the entry limit derived from it, and what was given up at that limit."""
        pipe = self.pipeline
        budget = pipe.budget
        flows = next((st for name, st in self.stores if name == "flows"), None)
        used = used_bytes(pipe, flows.backlog if flows is not None else 0)
        k = [*keys, "structure"]
        share = GaugeMetricFamily(
            "sensor_memory_budget_bytes",
            "Share of limits.memory_mb given to each structure (per worker).",
            labels=k,
        )
        held = GaugeMetricFamily(
            "sensor_memory_used_bytes",
            "Bytes each structure holds now: exact for holds and tls_quic, else its entries "
            "times the measured bytes of one.",
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
        gone = CounterMetricFamily(
            "sensor_memory_refused",
            "Given up because a structure was at its limit: flows evicted, segments not held, "
            "flows whose handshake was not buffered, DNS answers and access points pushed out.",
            labels=k,
        )
        for name, n in refused(pipe).items():
            gone.add_metric([*vals, name], n)
        yield from (share, held, limit, gone)

    def _output_metrics(self, keys: list[str], vals: list[str]) -> Iterator[Any]:
        msgs = CounterMetricFamily(
            "sensor_output_messages",
            "Messages of each output (syslog, ipfix, eve_flows), by result: sent, failed "
            "(collector unreachable or write error), dropped (queue full).",
            labels=[*keys, "output", "result"],
        )
        depth = GaugeMetricFamily(
            "sensor_output_queue_depth", "Messages waiting to be sent.", labels=[*keys, "output"]
        )
        for name, st, queued in output_stats(self.outputs):
            for result in ("sent", "failed", "dropped"):
                msgs.add_metric([*vals, name, result], getattr(st, result))
            depth.add_metric([*vals, name], queued)
        yield from (msgs, depth)

    def _store_metrics(self, keys: list[str], vals: list[str]) -> Iterator[Any]:
        k = [*keys, "table"]
        rows = CounterMetricFamily(
            "sensor_store_rows_written", "Rows written to segments.", labels=k
        )
        errs = CounterMetricFamily(
            "sensor_store_write_errors",
            "Segment writes that failed (rows kept for retry).",
            labels=k,
        )
        lost = CounterMetricFamily(
            "sensor_store_rows_dropped",
            "Rows dropped because they could not be written in time.",
            labels=k,
        )
        segs = CounterMetricFamily("sensor_store_segments_written", "Segments written.", labels=k)
        misdated = CounterMetricFamily(
            "sensor_store_rows_misdated",
            "Rows filed under another day's partition: their flush spanned over 64 days.",
            labels=k,
        )
        secs = CounterMetricFamily(
            "sensor_store_flush_seconds",
            "Time spent writing segments (rate / flushes = latency).",
            labels=k,
        )
        flushes = CounterMetricFamily("sensor_store_flushes", "Flushes that wrote rows.", labels=k)
        backlog = GaugeMetricFamily(
            "sensor_store_backlog_rows", "Rows waiting to be written.", labels=k
        )
        for table, store in self.stores:
            st = store.store_stats if hasattr(store, "store_stats") else store.stats
            v = [*vals, table]
            rows.add_metric(v, st.rows_written)
            errs.add_metric(v, st.write_errors)
            lost.add_metric(v, st.rows_dropped)
            segs.add_metric(v, st.segments_written)
            misdated.add_metric(v, st.rows_misdated)
            secs.add_metric(v, st.flush_seconds_total)
            flushes.add_metric(v, st.flushes)
            backlog.add_metric(v, store.backlog)
        yield from (rows, errs, lost, segs, misdated, secs, flushes, backlog)


def _counter(name: str, doc: str, base: Mapping[str, str], value: float) -> CounterMetricFamily:
    fam = CounterMetricFamily(name.removesuffix("_total"), doc, labels=list(base))
    fam.add_metric(list(base.values()), value)
    return fam


def _feeds(feeds: Iterable[Feed], base: Mapping[str, str]) -> InfoMetricFamily:
    """One sample per loaded feed (a handful of files, so the labels stay bounded): which
    copy of each list the running classifier uses, and when it was taken from its source."""
    fam = InfoMetricFamily(
        "sensor_feed",
        "Address and domain feeds in the running signature set: version and fetch date.",
        labels=[*base, "feed"],
    )
    for f in sorted(feeds, key=lambda f: f.name):
        fam.add_metric([*base.values(), f.name], {"version": f.version, "fetched": f.fetched})
    return fam


def _gauge(name: str, doc: str, base: Mapping[str, str], value: float) -> GaugeMetricFamily:
    fam = GaugeMetricFamily(name, doc, labels=list(base))
    fam.add_metric(list(base.values()), value)
    return fam


def _by(
    name: str, doc: str, base: Mapping[str, str], label: str, counts: Mapping[str, int]
) -> CounterMetricFamily:
    fam = CounterMetricFamily(name.removesuffix("_total"), doc, labels=[*base, label])
    for key, n in list(counts.items()):
        fam.add_metric([*base.values(), str(key)], n)
    return fam


def _by3(
    name: str,
    doc: str,
    base: Mapping[str, str],
    labels: tuple[str, str, str],
    counts: Mapping[tuple[str, str, str], int],
) -> CounterMetricFamily:
    fam = CounterMetricFamily(name.removesuffix("_total"), doc, labels=[*base, *labels])
    for key, n in list(counts.items()):
        fam.add_metric([*base.values(), *key], n)
    return fam


class ShipCollector(Collector):
    """Shipping to the central store (`storage.ship`): read from the shipper's ShipStats."""

    def __init__(self, stats: ShipStats, sensor: str = "", site: str = "") -> None:
        self.stats = stats
        self.base = {"sensor": sensor, "site": site}

    def collect(self) -> Iterator[Any]:
        st, b = self.stats, self.base
        yield _counter("sensor_ship_segments_total", "Segments shipped and verified.", b,
                       st.segments_shipped)  # fmt: skip
        yield _counter("sensor_ship_bytes_total", "Bytes sent to the central store.", b,
                       st.bytes_shipped)  # fmt: skip
        yield _counter("sensor_ship_resumed_total", "Transfers resumed after a cut.", b,
                       st.resumed)  # fmt: skip
        yield _counter("sensor_ship_failures_total", "Failed transfers and passes.", b,
                       st.failures)  # fmt: skip
        yield _gauge("sensor_ship_backlog_segments", "Closed segments waiting to ship.", b,
                     st.backlog_segments)  # fmt: skip
        yield _gauge("sensor_ship_backlog_bytes", "Bytes of those segments.", b,
                     st.backlog_bytes)  # fmt: skip
        yield _gauge("sensor_ship_backlog_age_seconds", "Age of the oldest waiting segment.",
                     b, st.backlog_age_seconds)  # fmt: skip


def collector_for(
    pipeline: Pipeline, sinks: Sinks, sensor: str, site: str, capture_drops: Any = None
) -> SensorCollector:
    """The collector over a pipeline and the standard sinks (every store's table)."""
    stores = [
        ("flows", sinks.flows),
        ("alerts", sinks.alerts),
        ("wireless_aps", sinks.wireless),
        ("health", sinks.health),
    ]
    c = SensorCollector(pipeline, stores, sinks.alerts, sensor, site, capture_drops)
    c.outputs = [*sinks.alerts.outputs, *sinks.flows.exports]
    return c


def serve(collector: Collector, listen: str, *more: Collector) -> tuple[CollectorRegistry, int]:
    """Serve the collectors' registry on `listen`; returns the registry and the bound port."""
    registry = CollectorRegistry(auto_describe=True)
    for c in (collector, *more):
        registry.register(c)
    host, port = parse_listen(listen)
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        raise ConfigError(f"metrics.listen: cannot listen on {listen}: {e.strerror}") from None
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return registry, bound
