"""The collectors: every sensor metric read from live objects at scrape time, and shipping's
own counters."""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import InfoMetricFamily
from prometheus_client.registry import Collector

from sensor import __version__, native
from sensor.metrics import policy, resources, traffic
from sensor.metrics.families import counter, gauge
from sensor.pipeline import Pipeline
from sensor.ship.shipper import ShipStats
from sensor.sinks import Sinks

__all__ = ["SensorCollector", "ShipCollector", "collector_for"]


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
        """A callable giving the kernel's dropped-packet count (live capture), or None."""
        self.outputs: list[Any] = []
        """Syslog, IPFIX and EVE-flow outputs (each with `name`, `stats`)."""
        self.base = {"sensor": sensor, "site": site}
        self.started = time.time()

    def describe(self) -> Iterable[Any]:
        """The families (empty samples), so a registry knows the names before a scrape."""
        return list(self.collect())

    def collect(self) -> Iterator[Any]:
        """Every family, one concern after another, in a fixed order. The summary and the
        classifier are taken once, so a reload during the scrape cannot mix two rule sets."""
        b, pipe = self.base, self.pipeline
        s, clf = pipe.summary, pipe.classifier
        yield from _identity(b, self.started)
        yield from traffic.capture(s, b, self.capture_drops)
        yield from traffic.flows(pipe.table, b)
        yield from traffic.holds(pipe.inspector.budget, b)
        yield from resources.memory(pipe, self.stores, b)
        yield from traffic.losses(pipe, s, b)
        yield from policy.verdicts(clf, b)
        yield from policy.rule_set(clf, pipe.reloads, b)
        if self.alerts is not None:
            yield from policy.alerts(self.alerts.stats, b)
        yield from resources.stores(self.stores, b)
        yield from resources.outputs(self.outputs, b)


def _identity(base: Mapping[str, str], started: float) -> Iterator[Any]:
    """Which build runs and since when: versions explain behaviour changes across a fleet,
    and a start time that moves shows a restart that counters alone would hide."""
    info = InfoMetricFamily(
        "sensor_build",
        "Sensor version, the Python it runs on and whether its compiled loops are in use.",
        labels=list(base),
    )
    info.add_metric(
        list(base.values()),
        {"version": __version__, "python": platform.python_version(), "code": native.describe()},
    )
    yield info
    yield gauge("sensor_start_time_seconds", "Unix time the sensor started.", base, started)


class ShipCollector(Collector):
    """Shipping to the central store (`storage.ship`): read from the shipper's ShipStats."""

    def __init__(self, stats: ShipStats, sensor: str = "", site: str = "") -> None:
        self.stats = stats
        self.base = {"sensor": sensor, "site": site}

    def collect(self) -> Iterator[Any]:
        """Segments and bytes shipped, resumed and failed transfers, and what still waits."""
        st, b = self.stats, self.base
        yield counter("sensor_ship_segments_total", "Segments shipped and verified.", b,
                      st.segments_shipped)  # fmt: skip
        yield counter("sensor_ship_bytes_total", "Bytes sent to the central store.", b,
                      st.bytes_shipped)  # fmt: skip
        yield counter("sensor_ship_resumed_total", "Transfers resumed after a cut.", b,
                      st.resumed)  # fmt: skip
        yield counter("sensor_ship_failures_total", "Failed transfers and passes.", b,
                      st.failures)  # fmt: skip
        yield gauge("sensor_ship_backlog_segments", "Closed segments waiting to ship.", b,
                    st.backlog_segments)  # fmt: skip
        yield gauge("sensor_ship_backlog_bytes", "Bytes of those segments.", b,
                    st.backlog_bytes)  # fmt: skip
        yield gauge("sensor_ship_backlog_age_seconds", "Age of the oldest waiting segment.",
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
