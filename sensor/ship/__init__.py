"""Shipping closed segments to a central store: `sensor ship`, or `storage.ship` in `sensor run`.

`build_shipper` wires a Shipper from the configuration: the destination named by
`storage.ship.destination`, this sensor's partition of the segment tree, and the retention
limits applied after every pass (docs/storage.md, "Fleet").
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sensor.config import SensorConfig, ShipConfig
from sensor.errors import ConfigError
from sensor.ship.destination import Destination, DirectoryDestination, ShipError
from sensor.ship.service import ShipThread
from sensor.ship.shipper import Shipper, ShipStats, closed_segments
from sensor.ship.ssh import SshDestination
from sensor.sinks.retention import apply_retention
from sensor.sinks.segments import data_dir_for, partition_value

__all__ = [
    "Destination",
    "DirectoryDestination",
    "ShipError",
    "ShipStats",
    "ShipThread",
    "Shipper",
    "SshDestination",
    "build_shipper",
    "closed_segments",
    "open_destination",
]


def open_destination(ship: ShipConfig) -> Destination:
    """The destination `storage.ship.destination` names (a directory or an ssh:// URL)."""
    where = ship.destination
    if not where:
        raise ConfigError("storage.ship.destination: no destination (give --to or configure one)")
    if where.startswith("ssh://"):
        try:
            return SshDestination(where, ship.ssh_options, ship.timeout_seconds)
        except ShipError as e:
            raise ConfigError(f"storage.ship.destination: {e}") from None
    if "://" in where:
        raise ConfigError(f"storage.ship.destination: a directory or ssh://..., got {where!r}")
    return DirectoryDestination(Path(where))


def build_shipper(cfg: SensorConfig) -> Shipper:
    """A Shipper for this sensor's partition, applying retention after each pass."""
    st = cfg.storage
    data_dir = st.data_dir or data_dir_for(st.catalog)
    sensor = partition_value(cfg.sensor.name)
    days = {
        "flows": st.retention.flows_days,
        "alerts": st.retention.alerts_days,
        "rollups": st.retention.rollups_days,
    }
    max_bytes = int(st.retention.max_disk_gb * 1e9)

    def retain() -> None:
        # what is still here could not be shipped: the local bounds decide how long it waits
        apply_retention(data_dir, sensor, days, dt.datetime.now(dt.UTC).date(), max_bytes)

    return Shipper(data_dir, sensor, open_destination(st.ship), retain)
