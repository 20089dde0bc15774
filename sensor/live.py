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
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sensor.capture.afpacket import AfPacketConfig, AfPacketSource
from sensor.classify import build_classifier
from sensor.config import SensorConfig
from sensor.errors import CaptureError, SensorError
from sensor.metrics import SensorCollector, ShipCollector, collector_for, serve
from sensor.metrics.workers import WorkerSum, snapshot
from sensor.pipeline import Pipeline, flow_heavy_gc, rebuild_classifier
from sensor.sdnotify import notify, watchdog_seconds
from sensor.ship import ShipThread, build_shipper
from sensor.sinks import catalog_for, default_sinks
from sensor.sinks.catalog import Catalog, check_catalog_path

__all__ = ["LiveOptions", "run_live"]

log = logging.getLogger(__name__)

_REPORT_SECONDS = 1.0
_Workers = list[tuple[Any, Connection]]
"""Each worker process and the read end of the pipe it reports its metrics on."""


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
    catalog = _preflight(cfg, opts)
    shipping = _ship_thread(cfg)
    workers = _start_workers(cfg, opts, catalog)
    agg = WorkerSum(len(workers))
    if cfg.metrics.listen:
        try:
            more = [] if shipping is None else [_ship_collector(cfg, shipping)]
            serve(agg, cfg.metrics.listen, *more)
        except SensorError:
            _stop(workers)
            raise
    stop = _parent_signals(workers)
    if shipping is not None:
        shipping.start()
    notify(f"READY=1\nSTATUS=capturing on {opts.interface} with {opts.workers} worker(s)")
    try:
        return _supervise(workers, agg, stop, opts)
    finally:
        notify("STOPPING=1")
        _stop(workers)
        if shipping is not None:
            shipping.stop()  # a last pass ships the segments the workers wrote on their way out


def _preflight(cfg: SensorConfig, opts: LiveOptions) -> Catalog:
    """Fail early, with the reason, before any worker starts: the interface and our right to
    capture on it (a one-block ring), the signatures and policy, the catalog (written here
    and handed to the workers, which find it written and leave it)."""
    AfPacketSource(_ring(opts, None, block_count=1)).close()
    build_classifier(cfg.signatures, cfg.policy)
    st = cfg.storage
    check_catalog_path(st.catalog, st.adopt)
    catalog = catalog_for(cfg)
    catalog.ensure()
    return catalog


def _start_workers(cfg: SensorConfig, opts: LiveOptions, catalog: Catalog) -> _Workers:
    """Fork the workers, each given the write end of its own report pipe. Several join one
    PACKET_FANOUT group whose id comes from our pid, so two sensors on a host stay apart."""
    group = os.getpid() & 0xFFFF
    ctx = mp.get_context("fork")
    workers: _Workers = []
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
    return workers


@dataclass(slots=True)
class _StopFlag:
    """Set by the parent's SIGTERM/SIGINT handler: the handler only records the request, and
    the supervising loop ends at its next poll so shutdown runs in order, outside a handler."""

    requested: bool = False

    def request(self, signum: int, frame: object) -> None:
        """The signal handler."""
        self.requested = True


def _parent_signals(workers: _Workers) -> _StopFlag:
    """SIGTERM/SIGINT ask the loop to stop; SIGHUP goes on to every worker (each reloads its
    own classifier) and systemd is told RELOADING=1."""
    stop = _StopFlag()

    def on_hup(signum: int, frame: object) -> None:
        for p, _ in workers:
            if p.pid:
                os.kill(p.pid, signal.SIGHUP)
        notify("RELOADING=1")

    signal.signal(signal.SIGTERM, stop.request)
    signal.signal(signal.SIGINT, stop.request)
    signal.signal(signal.SIGHUP, on_hup)
    return stop


def _supervise(workers: _Workers, agg: WorkerSum, stop: _StopFlag, opts: LiveOptions) -> int:
    """Gather the workers' reports until a stop is asked (0). A worker that dies ends the
    sensor (1), so systemd's Restart=on-failure starts every worker afresh."""
    beat = _Heartbeat(opts.interface, opts.workers, watchdog_seconds())
    while not stop.requested:
        _read_reports(workers, agg)
        dead = [p for p, _ in workers if not p.is_alive()]
        if dead:
            log.error("worker %s exited (status %s); stopping", dead[0].name, dead[0].exitcode)
            return 1
        beat.pulse(time.monotonic(), agg)
        time.sleep(0.2)
    return 0


def _read_reports(workers: _Workers, agg: WorkerSum) -> None:
    """Take every report waiting on the pipes; a worker's newest one replaces its last."""
    for i, (_, conn) in enumerate(workers):
        while conn.poll():
            try:
                agg.snapshots[i] = conn.recv()
            except EOFError:
                break


@dataclass(slots=True)
class _Heartbeat:
    """What the parent tells systemd while it runs: WATCHDOG=1 each watchdog interval (None:
    the unit sets no WatchdogSec), and every 5 s a STATUS line with packet rate and flows."""

    interface: str
    workers: int
    dog: float | None
    next_dog: float = field(default_factory=time.monotonic)
    last_packets: float = 0.0
    last_t: float = field(default_factory=time.monotonic)

    def pulse(self, now: float, agg: WorkerSum) -> None:
        """Send what is due at `now` (monotonic seconds)."""
        if self.dog is not None and now >= self.next_dog:
            notify("WATCHDOG=1")
            self.next_dog = now + self.dog
        if now - self.last_t >= 5:
            packets = agg.total("sensor_packets_total")
            pps = (packets - self.last_packets) / (now - self.last_t)
            flows = agg.total("sensor_flows_active")
            notify(f"STATUS={pps:,.0f} packets/s, {flows:,.0f} flows, "
                   f"{self.workers} worker(s) on {self.interface}")  # fmt: skip
            self.last_packets, self.last_t = packets, now


def _ship_thread(cfg: SensorConfig) -> ShipThread | None:
    """Background shipping when `storage.ship.destination` is set (config errors fail now)."""
    ship = cfg.storage.ship
    if not ship.destination:
        return None
    return ShipThread(build_shipper(cfg), ship.interval_seconds)


def _ship_collector(cfg: SensorConfig, shipping: ShipThread) -> ShipCollector:
    """The shipper's counters as metrics: the parent ships, so only its endpoint has them."""
    return ShipCollector(shipping.shipper.stats, cfg.sensor.name, cfg.sensor.site)


def _stop(workers: _Workers) -> None:
    """SIGTERM every worker (each writes its open flows), then wait up to 60 s each: a worker
    stuck past that is killed rather than holding the service's stop forever."""
    for p, _ in workers:
        if p.is_alive() and p.pid:
            os.kill(p.pid, signal.SIGTERM)
    for p, _ in workers:
        p.join(60)
        if p.is_alive():
            log.error("worker %s did not stop in 60 s; killing it", p.name)
            p.kill()


def _ring(opts: LiveOptions, group: int | None, block_count: int | None = None) -> AfPacketConfig:
    """One worker's AF_PACKET ring; `group` joins the workers in one fanout group, so the
    kernel hashes each flow to a single worker."""
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
    cfg = _worker_config(cfg, opts.workers, index)
    sinks = default_sinks(cfg, dict(classifier.provisions), retain=True, catalog=catalog)
    pipe = Pipeline(cfg, list(sinks), classifier)
    sinks.health.watch(pipe, lambda: src.stats.kernel_drops)
    collector = collector_for(
        pipe, sinks, cfg.sensor.name, cfg.sensor.site, lambda: src.stats.kernel_drops
    )
    _worker_signals(src, pipe, opts.config_path)
    _capture(src, pipe, conn, collector)


def _worker_config(cfg: SensorConfig, workers: int, index: int) -> SensorConfig:
    """The sensor's configuration as one of `workers` workers sees it."""
    # one memory budget for the sensor: each worker holds its share of it
    limits = replace(cfg.limits, memory_mb=max(8.0, cfg.limits.memory_mb / workers))
    cfg = replace(cfg, limits=limits)
    # each worker is its own IPFIX exporting process: its own sequence numbers, so its own
    # observation domain (RFC 7011 section 3.1), or collectors see sequence errors
    ipfix = cfg.outputs.ipfix
    ipfix = replace(ipfix, observation_domain=ipfix.observation_domain + index)
    return replace(cfg, outputs=replace(cfg.outputs, ipfix=ipfix))


def _worker_signals(src: AfPacketSource, pipe: Pipeline, config_path: Path | None) -> None:
    """SIGTERM stops the capture (the loop then writes every open flow); SIGHUP asks the
    pipeline for a new classifier, which it swaps in at its next safe point."""

    def on_term(signum: int, frame: object) -> None:
        src.stop()

    def on_hup(signum: int, frame: object) -> None:
        pipe.request_reload(lambda: rebuild_classifier(config_path))

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_hup)


def _capture(
    src: AfPacketSource, pipe: Pipeline, conn: Connection, collector: SensorCollector
) -> None:
    """Feed batches until the source stops. Each second the pipeline ticks on wall time (idle
    flows end on a quiet link too) and the metrics go to the parent; at the end every open
    flow is written with end_reason `shutdown` and a last report sent."""
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
                    _report(conn, collector)
        finally:
            src.close()
            pipe.finish("shutdown")
            _report(conn, collector)
            conn.close()


def _report(conn: Connection, collector: SensorCollector) -> None:
    """Send the parent this worker's metrics (the whole snapshot: the newest replaces all)."""
    snap = snapshot(collector)
    with contextlib.suppress(OSError):  # the parent is gone: nothing to report to
        conn.send(snap)
