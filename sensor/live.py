"""`sensor run`: live capture with N worker processes joined by PACKET_FANOUT.

The parent checks the interface and permissions, starts the workers, serves the metrics they
report (summed), speaks the systemd notify protocol and forwards signals: SIGTERM/SIGINT end
every worker cleanly (every open flow is written with end_reason `shutdown`), SIGHUP makes
each reload signatures and policy. Each worker has its own socket, ring, flow table and
sinks; the kernel's flow hash sends both directions of a flow to the same worker, and the
segment files they write never collide (names carry the process id).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from sensor.capture.afpacket import AfPacketConfig, AfPacketSource
from sensor.classify import build_classifier
from sensor.config import SensorConfig
from sensor.errors import CaptureError, SensorError
from sensor.metrics import SensorCollector, ShipCollector, collector_for, serve
from sensor.pipeline import Pipeline, flow_heavy_gc, rebuild_classifier
from sensor.sdnotify import notify, watchdog_seconds
from sensor.ship import ShipThread, build_shipper
from sensor.sinks import catalog_for, default_sinks
from sensor.sinks.catalog import Catalog, check_catalog_path

__all__ = ["LiveOptions", "run_live"]

log = logging.getLogger(__name__)

_REPORT_SECONDS = 1.0
_MAX_SAMPLES = frozenset(
    {"sensor_start_time_seconds", "sensor_build_info", "sensor_signature_set_info",
     "sensor_signatures_loaded"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """What `sensor run` was asked for."""

    interface: str
    config_path: Path | None
    workers: int = 1
    bpf: str = ""
    snaplen: int = 65535
    promiscuous: bool = True
    block_count: int = 64


def run_live(cfg: SensorConfig, opts: LiveOptions) -> int:
    """Run until SIGTERM/SIGINT; the exit status."""
    # fail early, with the reason, before any worker starts
    AfPacketSource(_ring(opts, None, block_count=1)).close()
    build_classifier(cfg.signatures, cfg.policy)
    st = cfg.storage
    check_catalog_path(st.catalog, st.adopt)
    catalog = catalog_for(cfg)
    catalog.ensure()  # the workers are forked with it: they find it written
    shipping = _ship_thread(cfg)
    group = os.getpid() & 0xFFFF
    ctx = mp.get_context("fork")
    workers: list[tuple[Any, Connection]] = []
    for i in range(opts.workers):
        parent_end, child_end = ctx.Pipe(duplex=False)
        p = ctx.Process(
            target=_worker,
            args=(cfg, opts, i, group if opts.workers > 1 else None, child_end, catalog),
            name=f"sensor-worker-{i}",
        )
        p.start()
        child_end.close()
        workers.append((p, parent_end))
    agg = _Aggregate(len(workers))
    if cfg.metrics.listen:
        try:
            more = [] if shipping is None else [_ship_collector(cfg, shipping)]
            serve(agg, cfg.metrics.listen, *more)
        except SensorError:
            _stop(workers)
            raise
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    def on_hup(signum: int, frame: object) -> None:
        for p, _ in workers:
            if p.pid:
                os.kill(p.pid, signal.SIGHUP)
        notify("RELOADING=1")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    if shipping is not None:
        shipping.start()
    notify(f"READY=1\nSTATUS=capturing on {opts.interface} with {opts.workers} worker(s)")
    dog = watchdog_seconds()
    next_dog = time.monotonic()
    last_packets, last_t = 0.0, time.monotonic()
    try:
        while not stopping:
            for i, (_, conn) in enumerate(workers):
                while conn.poll():
                    try:
                        agg.snapshots[i] = conn.recv()
                    except EOFError:
                        break
            dead = [p for p, _ in workers if not p.is_alive()]
            if dead:
                log.error("worker %s exited (status %s); stopping", dead[0].name, dead[0].exitcode)
                return 1
            now = time.monotonic()
            if dog is not None and now >= next_dog:
                notify("WATCHDOG=1")
                next_dog = now + dog
            if now - last_t >= 5:
                packets = agg.total("sensor_packets_total")
                pps = (packets - last_packets) / (now - last_t)
                flows = agg.total("sensor_flows_active")
                notify(f"STATUS={pps:,.0f} packets/s, {flows:,.0f} flows, "
                       f"{opts.workers} worker(s) on {opts.interface}")  # fmt: skip
                last_packets, last_t = packets, now
            time.sleep(0.2)
    finally:
        notify("STOPPING=1")
        _stop(workers)
        if shipping is not None:
            shipping.stop()  # a last pass ships the segments the workers wrote on their way out
    return 0


def _ship_thread(cfg: SensorConfig) -> ShipThread | None:
    """Background shipping when `storage.ship.destination` is set (config errors fail now)."""
    ship = cfg.storage.ship
    if not ship.destination:
        return None
    return ShipThread(build_shipper(cfg), ship.interval_seconds)


def _ship_collector(cfg: SensorConfig, shipping: ShipThread) -> ShipCollector:
    return ShipCollector(shipping.shipper.stats, cfg.sensor.name, cfg.sensor.site)


def _stop(workers: list[tuple[Any, Connection]]) -> None:
    for p, _ in workers:
        if p.is_alive() and p.pid:
            os.kill(p.pid, signal.SIGTERM)
    for p, _ in workers:
        p.join(60)
        if p.is_alive():
            log.error("worker %s did not stop in 60 s; killing it", p.name)
            p.kill()


def _ring(opts: LiveOptions, group: int | None, block_count: int | None = None) -> AfPacketConfig:
    return AfPacketConfig(
        interface=opts.interface,
        snaplen=opts.snaplen,
        bpf=opts.bpf,
        promiscuous=opts.promiscuous,
        block_count=block_count or opts.block_count,
        fanout_group=group,
    )


def _worker(
    cfg: SensorConfig,
    opts: LiveOptions,
    index: int,
    group: int | None,
    conn: Connection,
    catalog: Catalog,
) -> None:
    """One capture worker: its own socket, ring, pipeline and sinks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM stops us
    try:
        src = AfPacketSource(_ring(opts, group))
    except CaptureError as e:
        log.error("worker %d: %s", index, e)
        raise SystemExit(2) from None
    classifier = build_classifier(cfg.signatures, cfg.policy)
    # one memory budget for the sensor: each worker holds its share of it
    limits = replace(cfg.limits, memory_mb=max(8.0, cfg.limits.memory_mb / opts.workers))
    cfg = replace(cfg, limits=limits)
    # each worker is its own IPFIX exporting process: its own sequence numbers, so its own
    # observation domain (RFC 7011 section 3.1), or collectors see sequence errors
    ipfix = cfg.outputs.ipfix
    ipfix = replace(ipfix, observation_domain=ipfix.observation_domain + index)
    cfg = replace(cfg, outputs=replace(cfg.outputs, ipfix=ipfix))
    sinks = default_sinks(cfg, dict(classifier.provisions), retain=True, catalog=catalog)
    pipe = Pipeline(cfg, list(sinks), classifier)
    sinks.health.watch(pipe, lambda: src.stats.kernel_drops)
    collector = collector_for(
        pipe, sinks, cfg.sensor.name, cfg.sensor.site, lambda: src.stats.kernel_drops
    )

    def on_term(signum: int, frame: object) -> None:
        src.stop()

    def on_hup(signum: int, frame: object) -> None:
        path = opts.config_path
        pipe.request_reload(lambda: rebuild_classifier(path))

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    next_report = time.monotonic()
    with flow_heavy_gc():
        try:
            for batch in src.batches():
                pipe.guarded(batch)
                now = time.monotonic()
                if now >= next_report:
                    next_report = now + _REPORT_SECONDS
                    pipe.tick(time.time_ns())
                    src.kernel_counts()
                    pipe.summary.capture_errors.update()
                    _report(conn, collector)
        finally:
            src.close()
            pipe.finish("shutdown")
            _report(conn, collector)
            conn.close()


def _report(conn: Connection, collector: SensorCollector) -> None:
    snap = [
        (m.name, m.type, m.documentation, [(s.name, dict(s.labels), s.value) for s in m.samples])
        for m in collector.collect()
    ]
    with contextlib.suppress(OSError):  # the parent is gone: nothing to report to
        conn.send(snap)


class _Aggregate(Collector):
    """The workers' last reports, summed per sample (a few, like versions, take the max)."""

    def __init__(self, n: int) -> None:
        self.snapshots: list[list[Any] | None] = [None] * n

    def collect(self) -> Iterator[Metric]:
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
        return float(
            sum(
                v
                for snap in self.snapshots
                for _, _, _, samples in snap or []
                for s, _, v in samples
                if s == sample
            )
        )
