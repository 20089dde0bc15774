"""Where a store writes and what it counts: the settings and counters every table's
SegmentWriter shares, apart from the writing itself (sinks/segments.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StoreConfig", "StoreStats", "data_dir_for", "partition_value"]


def data_dir_for(catalog: Path) -> Path:
    """Default segment tree beside the catalog: `x.duckdb` -> `x.data/`."""
    return catalog.with_name(catalog.stem + ".data")


def partition_value(name: str) -> str:
    """A sensor name safe as a hive partition value (no path separators or '=')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "sensor"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where and how often the store writes."""

    catalog: Path
    sensor: str
    data_dir: Path | None = None
    flush_rows: int = 20_000
    """Rows waiting before a segment is written (config.StorageConfig says the trade-off)."""
    flush_seconds: float = 30.0
    """Flush interval (FlushTimer; FlowStore.flush says what each clock triggers)."""
    max_buffered_rows: int = 2_000_000
    site: str = "default"
    retention_days: tuple[tuple[str, int], ...] = (
        ("flows", 400),
        ("alerts", 400),
        ("rollups", 2000),
        ("health", 2000),
    )
    """Days each table keeps (0: forever), applied to this sensor's own partitions."""
    max_disk_bytes: int = 0
    """Bound on this sensor's segment tree (0: none); oldest flow days go first."""
    retain: bool = False
    """Apply retention (live capture). A replay of old captures never expires its own data."""
    compact: bool = True
    """Merge a past day's small segments. Off when shipping: a merged file would carry rows
    of segments already shipped, and ship them twice."""
    adopt: bool = False
    """Add the sensor's views to a DuckDB database it did not create (`--force`)."""


@dataclass(slots=True)
class StoreStats:
    """Counters the metrics endpoint exports."""

    rows_written: int = 0
    segments_written: int = 0
    write_errors: int = 0
    rows_dropped: int = 0
    last_flush_seconds: float = 0.0
    flush_seconds_total: float = 0.0
    flushes: int = 0
    rows_misdated: int = 0
    """Rows filed under their flush's busiest day: their flush spanned too many days."""
