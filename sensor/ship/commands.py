"""The fleet's command-line verbs: `sensor ship` and `sensor catalog --root`.

Kept beside the shipper; their argument parsers are in `sensor.cli_fleet`, which the main
CLI imports for every command (so that importing it does not import the shipper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sensor.cli_fleet import add_fleet_commands
from sensor.errors import ConfigError

if TYPE_CHECKING:  # the shipper is imported by the verbs that ship, not by every command
    from sensor.config import SensorConfig

__all__ = ["add_fleet_commands", "catalog_command", "ship_command"]


def ship_command(
    cfg: SensorConfig, to: str | None, every: float | None, wait: Callable[[float], None]
) -> int:
    """One pass (exit 1 on any failure), or passes every `every` seconds until `wait` returns."""
    from sensor.ship import ShipThread, build_shipper

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
    from sensor.sinks.catalog import check_catalog_path, ensure_catalog

    if not root.is_dir():
        raise ConfigError(f"--root {root}: not a directory")
    catalog = db or root.with_name(root.name + ".duckdb")
    check_catalog_path(catalog)  # never overwrite a file the sensor did not create
    ensure_catalog(catalog, root)
    sensors = {p.name for p in root.glob("*/sensor=*")} - {"sensor=_schema"}
    print(f"catalog {catalog}: views over {root} ({len(sensors)} sensors)")
    return 0
