"""Argument parsers of the fleet's verbs, `sensor ship` and `sensor catalog --root`
(sensor/ship/commands.py runs them). Light on purpose: every command builds the whole parser,
and `sensor replay` must not import the shipper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["add_fleet_commands"]


def add_fleet_commands(sub: Any) -> None:
    """Add `ship` and `catalog` to the CLI's sub-command parsers."""
    sh = sub.add_parser(
        "ship",
        help="move closed segments to the central store (directory or ssh://)",
        description="Ship this sensor's closed segments (every table) to storage.ship."
        "destination or --to: a directory (NFS, SMB mount) or ssh://[user@]host[:port]/path. "
        "Each segment is written there under a hidden partial name, resumed after a cut "
        "connection, renamed into place once its size and SHA-256 match, and removed here "
        "only after that; a ledger keeps any segment from shipping twice. Retention runs "
        "after each pass. Exit 1 if anything failed in a single pass (it is retried next "
        "time); with --every, failures are logged and counted and SIGTERM exits 0.",
    )
    sh.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    sh.add_argument("--db", type=Path, help="catalog whose segments to ship (config storage)")
    sh.add_argument("--sensor-name", help="ship this sensor partition (default: config)")
    sh.add_argument("--to", metavar="DEST", help="destination (default storage.ship.destination)")
    sh.add_argument(
        "--every",
        type=float,
        metavar="SECONDS",
        help="keep shipping at this interval until SIGTERM (default: one pass)",
    )
    ca = sub.add_parser(
        "catalog",
        help="build the analysts' catalog over a central tree of many sensors",
        description="Write a DuckDB catalog with the same views and macros as a sensor's "
        "(flows, alerts, rollups, violations_by_day, top_hosts, ...) over the segment tree "
        "at --root, which shipping fills from every sensor.",
    )
    ca.add_argument("--root", type=Path, required=True, help="the central segment tree")
    ca.add_argument("--db", type=Path, help="catalog to write (default: <root>.duckdb)")
