"""Command-line interface: `sensor replay`, `sensor run`, `sensor ship`, `sensor catalog`,
`sensor query`, `sensor report`, `sensor signatures check|test|coverage|update`.

Each command imports what it runs (the pipeline, the store, the config and the libraries
under them: numpy, pyarrow, duckdb), so `sensor --help` and `--version` start in a tenth of
the time, and `main` can set up the process before numpy is loaded (`_quiet_blas`).
"""

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
from typing import TYPE_CHECKING, Any

from sensor import __version__, native
from sensor.cli_fleet import add_fleet_commands
from sensor.errors import CaptureError, ConfigError, SensorError, StorageError, UsageError
from sensor.logfmt import SafeFormatter
from sensor.text import escape_text

if TYPE_CHECKING:
    from sensor.capture.base import PacketSource
    from sensor.classify import Classifier
    from sensor.config import SensorConfig
    from sensor.pipeline import Pipeline, Summary
    from sensor.sinks import AlertSink, Sinks
    from sensor.sinks.captures import CaptureLedger

__all__ = ["main"]

log = logging.getLogger("sensor")


EXIT_CODES = """exit status:
  0    done, nothing lost
  1    done, but something failed: rows or alerts that could not be written, an output
       that failed, a signature test that failed, segments `ship` could not ship yet
  2    bad usage or configuration (the message names the option or file:line)
  3    an input or output cannot be used: a capture that is not one, a store path the
       sensor refuses (not its own), a file that cannot be written
  130  interrupted by SIGINT, 143 by SIGTERM (replay first writes every open flow)"""


def demo_capture() -> Path:
    """The capture bundled with the package, replayed when `sensor replay` gets no file."""
    return Path(str(resources.files("sensor") / "data" / "demo.pcapng"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sensor",
        description="Passive network sensor for Personnel Policy 2503: flows, provisions, alerts.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--version", action="version", version=f"sensor {__version__} ({native.describe()})"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser(
        "replay",
        help="replay capture files through the pipeline into the flow store",
        description="Replay pcap/pcapng files (optionally gzip-compressed) through the same "
        "pipeline as live capture and write flow records to the DuckDB catalog and its "
        "Parquet segments. Without files, replays the bundled demo capture.",
    )
    r.add_argument("pcaps", nargs="*", type=Path, metavar="PCAP", help="capture files")
    r.add_argument(
        "--db",
        type=Path,
        help="DuckDB catalog file (default: config "
        "storage.catalog, else ./sensor.duckdb); segments go to <db>.data/",
    )
    r.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    r.add_argument("--sensor-name", help="sensor name stored with each record")
    r.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: only when stderr is a terminal)",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")
    r.add_argument(
        "--again",
        action="store_true",
        help="replay captures the store already holds (by SHA-256) once more; by default "
        "they are skipped, so re-running a command never doubles the store",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="let --db name a DuckDB database the sensor did not create: its views are added "
        "and its own tables kept (a file that is not a DuckDB database is always refused)",
    )
    r.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on HOST:PORT while replaying (off by default)",
    )
    r.add_argument(
        "--linger",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="with --metrics: keep serving metrics this long after the replay "
        "(until SIGTERM/SIGINT), so Prometheus can scrape the final counters",
    )
    run = sub.add_parser(
        "run",
        help="capture live from an interface (AF_PACKET) until SIGTERM",
        description="Capture from a span-port interface with an AF_PACKET TPACKET_V3 ring, "
        "in N worker processes joined by PACKET_FANOUT (both directions of a flow reach the "
        "same worker), through the same pipeline as replay. SIGTERM/SIGINT write every open "
        "flow (end_reason shutdown) and close the store; SIGHUP reloads signatures and "
        "policy. Speaks the systemd notify protocol. Needs CAP_NET_RAW and CAP_NET_ADMIN.",
    )
    run.add_argument("-i", "--interface", help="interface to capture on (config capture.interface)")
    run.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    run.add_argument("-w", "--workers", type=int, help="capture worker processes (default 1)")
    run.add_argument("--bpf", help="capture filter, tcpdump syntax")
    run.add_argument("--snaplen", type=int, help="bytes kept per packet (default 65535)")
    run.add_argument("--no-promisc", action="store_true", help="do not enable promiscuous mode")
    run.add_argument("--db", type=Path, help="DuckDB catalog (default: config storage.catalog)")
    run.add_argument(
        "--force",
        action="store_true",
        help="let --db name a DuckDB database the sensor did not create (its tables are kept)",
    )
    run.add_argument("--sensor-name", help="sensor name stored with each record")
    run.add_argument(
        "--metrics", metavar="HOST:PORT", help="metrics endpoint (config metrics.listen)"
    )
    add_fleet_commands(sub)
    q = sub.add_parser(
        "query",
        help="run SQL against the catalog (read-only, also while the sensor runs)",
        description="Run one SQL statement on the catalog's tables and views (flows, alerts, "
        "rollups, violations_by_day, top_hosts, host_timeline(ip), ...; docs/storage.md).",
    )
    q.add_argument("sql", help="the SQL statement")
    q.add_argument("--db", type=Path, help="catalog (default: config storage.catalog)")
    q.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    q.add_argument("-f", "--format", choices=("table", "csv", "json", "parquet"), default="table")
    q.add_argument("-o", "--output", type=Path, help="write to this file (parquet needs one)")
    rp = sub.add_parser(
        "report",
        help="what a district leader reads: text, and an HTML page that prints",
        description="Rule breaks per policy item and site with the change against the "
        "previous period of equal length, allowed use beside them, days with weekday names, "
        "top services, rogue access points and what the sensor saw, in the site's time zone "
        "(config policy.schedule.timezone). Hosts are counted, never named, unless --detail. "
        "--html writes one self-contained page (charts as inline SVG, no script) whose print "
        "stylesheet gives the same report on Letter or A4 (print to PDF from any browser).",
    )
    rp.add_argument(
        "--since",
        default="7d",
        help="start: a length before --until (30m, 12h, 7d, 2w) or a local day "
        "(2026-11-01); default 7d",
    )
    rp.add_argument(
        "--until",
        help="last local day included (2026-11-30); default: up to the newest record",
    )
    rp.add_argument("--site", help="only this site (default: every site in the store)")
    rp.add_argument("--detail", action="store_true", help="analyst view: list hosts and evidence")
    rp.add_argument("--db", type=Path, help="catalog (default: config storage.catalog)")
    rp.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    rp.add_argument("--html", type=Path, help="also write the HTML page here")
    s = sub.add_parser(
        "signatures",
        help="check or test the signature set",
        description="Tools for the people who maintain the rules.",
    )
    ssub = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = ssub.add_parser(
        "check",
        help="load every signature file and report problems with file:line",
        description="Load the shipped signatures, the site's (config signatures.paths) and "
        "FILES; report schema errors, duplicate ids, unknown provisions and bad patterns. "
        "Exit 1 if there is any.",
    )
    c.add_argument("files", nargs="*", type=Path, metavar="FILE", help="more signature files")
    c.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    t = ssub.add_parser(
        "test",
        help="replay every signature's captures, and the benign set",
        description="Every signature names captures that must fire it (tests:); replay "
        "them and fail unless it matches a flow in each. Then replay the benign set "
        "(signatures/benign.yaml): no signature may match there. Exit 1 on any failure.",
    )
    t.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    t.add_argument(
        "--corpus",
        type=Path,
        default=Path("../shared/corpus"),
        help="shared corpus for corpus:NAME captures (default: ../shared/corpus; "
        "those cases are skipped when it is absent)",
    )
    t.add_argument("ids", nargs="*", type=int, metavar="ID", help="only these signatures")
    cov = ssub.add_parser(
        "coverage",
        help="which signatures recognise each service nDPI puts in a policy category",
        description="For every nDPI name the mapping gives a provision of Policy 2503: the "
        "signatures that declare it (ndpi:), or the written reason in signatures/README.md "
        "why none can. Exit 1 if a mapped name has neither, or only signatures of another "
        "provision.",
    )
    cov.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    cov.add_argument(
        "--mapping",
        type=Path,
        default=Path("../shared/corpus/ndpi-to-provision.csv"),
        help="CSV of ndpi_name,provision (default: ../shared/corpus/ndpi-to-provision.csv)",
    )
    cov.add_argument("--missing", action="store_true", help="print only the rows with a problem")
    _update_parser(ssub)
    return p


def _update_parser(ssub: Any) -> None:
    u = ssub.add_parser(
        "update",
        help="refresh the address and domain feeds from their publishers",
        description="Fetch every feed that has an update source, validate it and write it "
        "into the writable feeds directory (config signatures.feeds_dir), which overrides "
        "the shipped snapshot; one line per feed. A publisher that cannot be reached leaves "
        "the current copy (exit 0); a download that is not a valid list is refused (exit 1). "
        "Reload the sensor (SIGHUP) to use the new feeds.",
    )
    u.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    u.add_argument("--feeds-dir", type=Path, help="writable feeds directory (default: config)")
    u.add_argument("--timeout", type=float, default=20.0, help="seconds per download")
    u.add_argument("--force", action="store_true", help="accept a list that shrank by half")


def _quiet_blas() -> None:
    """One OpenBLAS thread. numpy's OpenBLAS starts a worker per core when numpy is loaded,
    and each spins for a while before sleeping: 0.1 CPU s of every run (a quarter of a short
    replay's) on a library the sensor never calls (no matrix products anywhere). Only a
    process that has not loaded numpy yet is changed; a value the operator set is kept."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sensor` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    _quiet_blas()
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
    from sensor.config import load_config

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
    from sensor.config import IpfixConfig, ShipConfig, SyslogConfig

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
    from sensor.budget import memory_budget
    from sensor.capture.pcapfile import open_capture
    from sensor.classify import build_classifier
    from sensor.pipeline import Pipeline, rebuild_classifier
    from sensor.sinks import default_sinks, store_config
    from sensor.sinks.captures import CaptureLedger

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
    from sensor.sinks.captures import file_sha256

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
    from sensor.budget import summary_line

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
    from sensor.config import load_config
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
    from sensor.classify import feed_dirs
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
    from sensor.classify import shipped_dir
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
