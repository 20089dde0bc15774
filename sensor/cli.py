"""Command-line interface: `sensor replay`, `sensor run`, `sensor ship`, `sensor catalog`,
`sensor query`, `sensor report`, `sensor signatures check|test|coverage|update`."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

from sensor.budget import memory_budget, summary_line
from sensor.capture.base import PacketSource
from sensor.capture.pcapfile import open_capture
from sensor.classify import Classifier, build_classifier, feed_dirs, shipped_dir
from sensor.cli_parser import build_parser
from sensor.config import IpfixConfig, SensorConfig, ShipConfig, SyslogConfig, load_config
from sensor.errors import CaptureError, ConfigError, SensorError, StorageError, UsageError
from sensor.logfmt import SafeFormatter
from sensor.pipeline import Pipeline, Summary, rebuild_classifier
from sensor.sinks import AlertSink, Sinks, default_sinks, store_config
from sensor.sinks.captures import CaptureLedger, file_sha256
from sensor.text import escape_text

__all__ = ["main"]

log = logging.getLogger("sensor")


def demo_capture() -> Path:
    """The capture bundled with the package, replayed when `sensor replay` gets no file."""
    return Path(str(resources.files("sensor") / "data" / "demo.pcapng"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sensor` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="sensor: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # wire strings reach log lines: escape them
        handler.setFormatter(SafeFormatter("sensor: %(levelname)s: %(message)s"))
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "signatures":
            return _signatures(args)
        if args.command == "run":
            return _run(args)
        if args.command == "ship":
            from sensor.ship.commands import ship_command

            return ship_command(_config(args), args.to, args.every, _linger)
        if args.command == "catalog":
            from sensor.ship.commands import catalog_command

            return catalog_command(args.root, args.db)
        if args.command == "query":
            from sensor.analyst import query

            cfg = _config(args)
            return query(cfg.storage.catalog, args.sql, args.format, args.output)
        if args.command == "report":
            from sensor.report import report

            cfg = _config(args)
            return report(
                cfg.storage.catalog,
                sys.stdout,
                since=args.since,
                until=args.until,
                site=args.site,
                tz=cfg.policy.schedule.timezone,
                detail=args.detail,
                html_out=args.html,
                signatures=cfg.signatures,
            )
    except (ConfigError, UsageError) as e:
        _error(e)
        return 2
    except (CaptureError, StorageError) as e:
        _error(e)
        return 3
    except SensorError as e:
        _error(e)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `sensor query ... | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:  # an output that cannot be written: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        _error(f"{where}{e.strerror or e}")
        return 3
    return 2


def _error(e: object) -> None:
    print(f"sensor: error: {escape_text(str(e))}", file=sys.stderr)


def _config(args: argparse.Namespace) -> SensorConfig:
    cfg = load_config(args.config)
    if args.db is not None and args.db != cfg.storage.catalog:
        cfg = _own_outputs(cfg, args.db)
    if getattr(args, "sensor_name", None):
        cfg = replace(cfg, sensor=replace(cfg.sensor, name=args.sensor_name))
    if getattr(args, "force", False):
        cfg = replace(cfg, storage=replace(cfg.storage, adopt=True))
    return cfg


def _own_outputs(cfg: SensorConfig, db: Path) -> SensorConfig:
    """Another store than the config's own (a test replay with the site config): every
    file output goes beside that store, and what would reach the site's systems (syslog,
    IPFIX, shipping to the central store) is off, never fed from a test."""
    alerts = replace(cfg.policy.alerts, jsonl="" if cfg.policy.alerts.jsonl == "" else None)
    out = cfg.outputs
    flows = str(db.with_suffix(".eve-flows.jsonl")) if out.eve_flows else ""
    off = [name for name, on in (("syslog", out.syslog.address), ("IPFIX", out.ipfix.address),
                                 ("shipping", cfg.storage.ship.destination)) if on]  # fmt: skip
    if off:
        print(f"sensor: --db is not the config's store: {', '.join(off)} off for this run",
              file=sys.stderr)  # fmt: skip
    outputs = replace(out, eve_flows=flows, syslog=SyslogConfig(), ipfix=IpfixConfig())
    storage = replace(cfg.storage, catalog=db, data_dir=None, ship=ShipConfig())
    return replace(cfg, storage=storage, policy=replace(cfg.policy, alerts=alerts),
                   outputs=outputs)  # fmt: skip


def _replay(args: argparse.Namespace) -> int:
    cfg = _config(args)
    paths = args.pcaps or [demo_capture()]
    block = memory_budget(cfg).block_bytes
    sources: list[PacketSource] = [open_capture(p, block) for p in paths]  # fail before work
    classifier = build_classifier(cfg.signatures, cfg.policy)
    sinks = default_sinks(cfg, dict(classifier.provisions))
    ledger = CaptureLedger(store_config(cfg))
    todo = _not_yet_stored(sources, ledger, args.again)
    pipe = Pipeline(cfg, list(sinks), classifier)
    sinks.health.watch(pipe)
    config_path = args.config

    def reload(signum: int, frame: object) -> None:
        pipe.request_reload(lambda: rebuild_classifier(config_path))

    signal.signal(signal.SIGHUP, reload)
    stopped = _stop_on_signals(pipe)
    if args.metrics:
        from sensor.metrics import collector_for, serve

        serve(collector_for(pipe, sinks, cfg.sensor.name, cfg.sensor.site), args.metrics)
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = _Progress() if show else None
    summary = pipe.run([src for src, _ in todo], progress=bar)
    if bar is not None:
        bar.done()
    ledger.record(_ledger_rows(todo, pipe, stopped))
    if not args.quiet:
        _print_summary(summary, sinks, pipe, cfg, ledger)
    if args.metrics and args.linger > 0 and not stopped:
        _linger(args.linger)
    if stopped:
        return 128 + stopped[0]
    return 1 if _losses(summary, sinks, ledger) else 0


def _not_yet_stored(
    sources: list[PacketSource], ledger: CaptureLedger, again: bool
) -> list[tuple[PacketSource, str | None]]:
    """The sources to replay with their SHA-256: a capture the store holds already (or one
    named twice) is skipped with a notice, unless `again`."""
    held = ledger.held()
    seen: set[str] = set()
    todo: list[tuple[PacketSource, str | None]] = []
    for src in sources:
        digest = file_sha256(Path(src.name))
        if digest is not None and not again and (digest in held or digest in seen):
            entry = held.get(digest)
            when = (
                f", {entry.status}, replayed {entry.replayed_at:%Y-%m-%d %H:%M} UTC"
                if (entry and entry.replayed_at)
                else ""
            )
            print(
                f"sensor: {escape_text(src.name)}: already in the store (sha256 "
                f"{digest[:12]}{when}); skipped (--again replays it once more)",
                file=sys.stderr,
            )
            src.close()
            continue
        if digest is not None:
            seen.add(digest)
        todo.append((src, digest))
    return todo


def _stop_on_signals(pipe: Pipeline) -> list[int]:
    """SIGINT/SIGTERM during a replay: stop reading, write every open flow (end_reason
    shutdown) and close the store, then exit 130/143. A second signal stops at once."""
    got: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if got:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        got.append(signum)
        pipe.request_stop()
        print("sensor: stopping: writing every open flow (again to stop at once)", file=sys.stderr)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return got


def _ledger_rows(
    todo: list[tuple[PacketSource, str | None]], pipe: Pipeline, stopped: list[int]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for src, digest in todo:
        if digest is None or (stopped and src.name not in pipe.first_ts):
            continue  # a pipe, or a capture the interrupted replay never reached
        status = "interrupted" if stopped else "damaged" if src.stats.errors else "complete"
        path = Path(src.name)
        rows.append(
            {
                "ts": pipe.first_ts.get(src.name, 0) // 1000,
                "sha256": digest,
                "name": path.name,
                "size": path.stat().st_size if path.exists() else None,
                "packets": src.stats.frames,
                "status": status,
            }
        )
    return rows


def _losses(summary: Summary, sinks: Sinks, ledger: CaptureLedger) -> int:
    """Everything a replay failed to keep: rows not written, alert lines not written."""
    return (
        sinks.rows_lost()
        + sinks.health.store_stats.rows_dropped
        + sinks.alerts.stats.jsonl_errors
        + ledger.stats.rows_dropped
        + sum(summary.sink_errors.values())
    )


def _print_summary(
    summary: Summary, sinks: Sinks, pipe: Pipeline, cfg: SensorConfig, ledger: CaptureLedger
) -> None:
    store = sinks.flows
    for line in summary.lines():
        print(line)
    print(
        f"flow store: {cfg.storage.catalog} (segments in {store.data_dir}); "
        f"rows_written={store.stats.rows_written} write_errors={store.stats.write_errors}"
        + (f" rows_lost={store.rows_lost}" if store.rows_lost else "")
    )
    for line in _policy_lines(pipe.classifier, sinks.alerts):
        print(line)
    print(summary_line(pipe))
    if _losses(summary, sinks, ledger):
        print(
            f"LOSSES: {_losses(summary, sinks, ledger)} rows or lines could not be kept "
            "(see the errors above); exit status 1"
        )


def _linger(seconds: float) -> None:
    """Keep the process (and its metrics thread) alive; SIGTERM or SIGINT end it early."""
    done = False

    def stop(signum: int, frame: object) -> None:
        nonlocal done
        done = True

    signal.signal(signal.SIGTERM, stop)
    end = time.monotonic() + seconds
    try:
        while not done and time.monotonic() < end:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass


def _run(args: argparse.Namespace) -> int:
    from sensor.live import LiveOptions, run_live

    cfg = _config(args)
    cap = cfg.capture
    cap = replace(
        cap,
        interface=args.interface or cap.interface,
        workers=args.workers or cap.workers,
        bpf=args.bpf if args.bpf is not None else cap.bpf,
        snaplen=args.snaplen or cap.snaplen,
        promiscuous=cap.promiscuous and not args.no_promisc,
    )
    if not cap.interface:
        raise ConfigError("no interface: give --interface or capture.interface in the config")
    if args.metrics is not None:
        cfg = replace(cfg, metrics=replace(cfg.metrics, listen=args.metrics))
    opts = LiveOptions(
        interface=cap.interface,
        config_path=args.config,
        workers=cap.workers,
        bpf=cap.bpf,
        snaplen=cap.snaplen,
        promiscuous=cap.promiscuous,
        block_count=cap.ring_blocks,
    )
    return run_live(cfg, opts)


def _policy_lines(classifier: Classifier, alerts: AlertSink) -> list[str]:
    """The summary's policy part: records per provision and action, alerts raised."""
    by: dict[str, dict[str, int]] = {}
    for (_, prov, action), n in classifier.matched.items():
        if prov == "none":
            continue
        by.setdefault(prov, {}).setdefault(action, 0)
        by[prov][action] += n
    out = [f"signatures: {len(classifier.signatures)} (version {classifier.version})"]
    titles = {p.id: p.title for p in classifier.provisions.values()}
    alerted: dict[str, int] = {}
    for (prov, _), n in alerts.stats.raised.items():
        alerted[prov] = alerted.get(prov, 0) + n
    for prov in alerted.keys() - by.keys():  # raised over the air (2503-22), not by flows
        by[prov] = {}
    for prov in sorted(by):
        acts = [f"{a}={n}" for a, n in sorted(by[prov].items())]
        acts += [f"alerts={alerted[prov]}"] if prov in alerted else []
        out.append(f"  {prov} {titles.get(prov, '')}: {', '.join(acts)}")
    raised = sum(alerts.stats.raised.values())
    where = ""
    if alerts.jsonl_path:
        failed = alerts.stats.jsonl_errors
        where = f" (also {alerts.jsonl_path}" + (f", {failed} lines FAILED)" if failed else ")")
    out.append(f"alerts: {raised} raised, {alerts.stats.suppressed} suppressed as repeats{where}")
    return out


def _signatures(args: argparse.Namespace) -> int:
    from sensor.sigtools import check, run_tests

    cfg = load_config(args.config)
    if args.action == "check":
        sigs = check(cfg, args.files)
        for err in sigs.errors:
            print(err)
        print(
            f"{len(sigs.signatures)} signatures in {len(sigs.files)} files, version "
            f"{sigs.version}: {'OK' if not sigs.errors else f'{len(sigs.errors)} error(s)'}"
        )
        return 1 if sigs.errors else 0
    if args.action == "coverage":
        return _coverage(args, cfg)
    if args.action == "update":
        return _update_feeds(args, cfg)
    corpus = args.corpus if args.corpus.is_dir() else None
    results = run_tests(cfg, corpus, args.ids)
    failed = [r for r in results if not r.ok]
    for r in results:
        status = "ok  " if r.ok else "FAIL"
        who = f"signature {r.signature}" if r.signature is not None else "benign"
        print(f"{status} {who}: {r.capture} {r.detail}".rstrip())
    skipped = sum(1 for r in results if "skipped" in r.detail)
    print(f"{len(results)} cases, {len(failed)} failed, {skipped} skipped")
    return 1 if failed else 0


def _update_feeds(args: argparse.Namespace, cfg: SensorConfig) -> int:
    from sensor.classify.feeds import load_feeds
    from sensor.feedupdate import UpdateOptions, update_feeds

    feeds_dir = args.feeds_dir or cfg.signatures.feeds_dir
    if feeds_dir is None:
        raise ConfigError("no writable feeds directory: give --feeds-dir or signatures.feeds_dir")
    sig_cfg = replace(cfg.signatures, feeds_dir=feeds_dir)
    feeds = load_feeds(feed_dirs(sig_cfg))
    if feeds.errors:
        raise ConfigError("feed error(s):\n  " + "\n  ".join(feeds.errors))
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    opts = UpdateOptions(feeds_dir, today, timeout=args.timeout, force=args.force)
    results = update_feeds(feeds.feeds.values(), opts)
    for r in results:
        print(r.line)
    return 1 if any(r.status == "rejected" for r in results) else 0


def _coverage(args: argparse.Namespace, cfg: SensorConfig) -> int:
    from sensor.sigcoverage import coverage, read_mapping, read_reasons, render
    from sensor.sigtools import check

    sigs = check(cfg)
    if sigs.errors:
        raise ConfigError(f"{len(sigs.errors)} signature error(s); run `sensor signatures check`")
    directory = cfg.signatures.directory or shipped_dir()
    rows = coverage(
        read_mapping(args.mapping), sigs.signatures, read_reasons(directory / "README.md")
    )
    bad = [r for r in rows if r.problem]
    for line in render(bad if args.missing else rows):
        print(line)
    with_sig = sum(1 for r in rows if r.ids and not r.problem)
    reasoned = sum(1 for r in rows if r.reason and not r.ids and not r.problem)
    print(
        f"{len(rows)} mapped names: {with_sig} with signatures, {reasoned} with a written "
        f"reason, {len(bad)} with a problem"
    )
    return 1 if bad else 0


class _Progress:
    """A one-line progress bar on stderr, redrawn at most twice a second."""

    def __init__(self) -> None:
        self._next = 0.0
        self._t0 = time.monotonic()

    def __call__(self, src: PacketSource, s: Summary) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.5
        total = src.stats.bytes_total or 0
        pct = f"{100 * src.stats.bytes_read / total:5.1f}%" if total else "    ?"
        rate = s.packets / max(now - self._t0, 1e-9)
        name = Path(src.name).name[:30]
        sys.stderr.write(f"\r{name:30} {pct} {s.packets:>12,} packets {rate:>10,.0f}/s")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
