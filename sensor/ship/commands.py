"""The fleet's command-line verbs: `sensor ship` and `sensor catalog --root`.

Kept beside the shipper so the main CLI only wires them in (`add_fleet_commands`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sensor.config import SensorConfig
from sensor.errors import ConfigError
from sensor.ship import ShipThread, build_shipper
from sensor.sinks.catalog import check_catalog_path, ensure_catalog

__all__ = ["add_fleet_commands", "catalog_command", "ship_command"]


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


def ship_command(
    cfg: SensorConfig, to: str | None, every: float | None, wait: Callable[[float], None]
) -> int:
    """One pass (exit 1 on any failure), or passes every `every` seconds until `wait` returns."""
    if to:
        ship = replace(cfg.storage.ship, destination=to)
        cfg = replace(cfg, storage=replace(cfg.storage, ship=ship))
    shipper = build_shipper(cfg)
    if every is None:
        ok = shipper.ship_once()
    else:
        if every <= 0:
            raise ConfigError(f"--every {every}: must be positive")
        thread = ShipThread(shipper, every)
        thread.start()
        wait(float("inf"))  # until SIGTERM or SIGINT
        thread.stop(final_pass=False)
        ok = True
    st = shipper.stats
    print(
        f"shipped {st.segments_shipped} segments ({st.bytes_shipped} bytes, {st.resumed} "
        f"resumed) to {shipper.destination.name}; failures={st.failures} "
        f"backlog={st.backlog_segments} segments, oldest {st.backlog_age_seconds:.0f} s"
    )
    return 0 if ok else 1


def catalog_command(root: Path, db: Path | None) -> int:
    """Write the central catalog over `root` (default `<root>.duckdb` beside it)."""
    if not root.is_dir():
        raise ConfigError(f"--root {root}: not a directory")
    catalog = db or root.with_name(root.name + ".duckdb")
    check_catalog_path(catalog)  # never overwrite a file the sensor did not create
    ensure_catalog(catalog, root)
    sensors = {p.name for p in root.glob("*/sensor=*")} - {"sensor=_schema"}
    print(f"catalog {catalog}: views over {root} ({len(sensors)} sensors)")
    return 0
