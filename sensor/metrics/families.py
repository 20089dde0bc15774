"""Metric family constructors: one labelled sample per call, the sensor's labels first.

Every family carries the `sensor` and `site` labels (`base`) before its own, so the
constructors take them once instead of each caller spelling out `[*keys, ...]`. Counter
names are given with their `_total` suffix, as they are exposed and grepped for; the family
itself is named without it (prometheus_client adds it back).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

__all__ = ["counter", "counter_by", "counter_by3", "gauge"]


def counter(name: str, doc: str, base: Mapping[str, str], value: float) -> CounterMetricFamily:
    """A counter with one sample: the sensor's own labels only."""
    fam = CounterMetricFamily(name.removesuffix("_total"), doc, labels=list(base))
    fam.add_metric(list(base.values()), value)
    return fam


def gauge(name: str, doc: str, base: Mapping[str, str], value: float) -> GaugeMetricFamily:
    """A gauge with one sample: the sensor's own labels only."""
    fam = GaugeMetricFamily(name, doc, labels=list(base))
    fam.add_metric(list(base.values()), value)
    return fam


def counter_by(
    name: str, doc: str, base: Mapping[str, str], label: str, counts: Mapping[str, int]
) -> CounterMetricFamily:
    """A counter with one sample per key of `counts`. `list()` copies the dict in one C-level
    step under the GIL, so the capture thread may go on counting while we scrape."""
    fam = CounterMetricFamily(name.removesuffix("_total"), doc, labels=[*base, label])
    for key, n in list(counts.items()):
        fam.add_metric([*base.values(), str(key)], n)
    return fam


def counter_by3(
    name: str,
    doc: str,
    base: Mapping[str, str],
    labels: tuple[str, str, str],
    counts: Mapping[tuple[str, str, str], int],
) -> CounterMetricFamily:
    """A counter with one sample per three-part key (category, provision, action)."""
    fam = CounterMetricFamily(name.removesuffix("_total"), doc, labels=[*base, *labels])
    for key, n in list(counts.items()):
        fam.add_metric([*base.values(), *key], n)
    return fam
