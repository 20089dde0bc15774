"""The `sensor` argument parser, one function per command. Light on purpose: every command
builds the whole parser, so nothing here may import what only one command runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sensor import __version__, native
from sensor.cli_fleet import add_fleet_commands

__all__ = ["EXIT_CODES", "build_parser"]

EXIT_CODES = """exit status:
  0    done, nothing lost
  1    done, but something failed: rows or alerts that could not be written, an output
       that failed, a signature test that failed, segments `ship` could not ship yet
  2    bad usage or configuration (the message names the option or file:line)
  3    an input or output cannot be used: a capture that is not one, a store path the
       sensor refuses (not its own), a file that cannot be written
  130  interrupted by SIGINT, 143 by SIGTERM (replay first writes every open flow)"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; the order of the commands is the order `--help` lists."""
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
    _add_replay(sub)
    _add_run(sub)
    add_fleet_commands(sub)
    _add_query(sub)
    _add_report(sub)
    _add_signatures(sub)
    return p


def _add_replay(sub: Any) -> None:
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
    _add_replay_store_options(r)


def _add_replay_store_options(r: argparse.ArgumentParser) -> None:
    """What `replay` may do to an existing store, and how long its metrics stay up."""
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


def _add_run(sub: Any) -> None:
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


def _add_query(sub: Any) -> None:
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


def _add_report(sub: Any) -> None:
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


def _add_signatures(sub: Any) -> None:
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
    _add_signatures_test(ssub)
    _add_signatures_coverage(ssub)
    _add_signatures_update(ssub)


def _add_signatures_test(ssub: Any) -> None:
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


def _add_signatures_coverage(ssub: Any) -> None:
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


def _add_signatures_update(ssub: Any) -> None:
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
