"""Metrics across worker processes (`sensor run --workers N`): each worker sends a picklable
snapshot of its collector, and the parent serves their sum.

Prometheus objects do not cross a pipe, so a snapshot is plain tuples; the two ends live here
together because the sum reads exactly what the snapshot writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

__all__ = ["WorkerSum", "snapshot"]

_MAX_SAMPLES = frozenset(
    {"sensor_start_time_seconds", "sensor_build_info", "sensor_signature_set_info",
     "sensor_signatures_loaded"}
)  # fmt: skip
"""Samples every worker has once (versions, start time, rule count): the max, not the sum."""


def snapshot(collector: Collector) -> list[Any]:
    """Every family of `collector` as (name, type, help, [(sample, labels, value)])."""
    return [
        (m.name, m.type, m.documentation, [(s.name, dict(s.labels), s.value) for s in m.samples])
        for m in collector.collect()
    ]


class WorkerSum(Collector):
    """The workers' last reports, summed per sample (a few, like versions, take the max)."""

    def __init__(self, n: int) -> None:
        self.snapshots: list[list[Any] | None] = [None] * n
        """Each worker's newest snapshot, by worker index (None: none received yet)."""

    def collect(self) -> Iterator[Metric]:
        """The families in the order the workers first reported them, samples summed."""
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for snap in self.snapshots:
            for name, typ, doc, samples in snap or []:
                if name not in families:
                    families[name] = Metric(name, doc, typ)
                    values[name] = {}
                acc = values[name]
                for sname, labels, value in samples:
                    key = (sname, tuple(sorted(labels.items())))
                    if sname in _MAX_SAMPLES:
                        acc[key] = max(acc.get(key, value), value)
                    else:
                        acc[key] = acc.get(key, 0.0) + value
        for name, fam in families.items():
            for (sname, labels), value in values[name].items():
                fam.add_sample(sname, dict(labels), value)
            yield fam

    def total(self, sample: str) -> float:
        """One sample's sum over every label set and worker (for the STATUS line)."""
        return float(
            sum(
                v
                for snap in self.snapshots
                for _, _, _, samples in snap or []
                for s, _, v in samples
                if s == sample
            )
        )
