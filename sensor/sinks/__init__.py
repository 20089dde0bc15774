"""Sinks: where ended flows go. `default_sinks` builds the flow store, the alert sink, the
access point store and the health table."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from sensor.budget import memory_budget
from sensor.classify import Provision
from sensor.config import SensorConfig
from sensor.sinks.alerts import AlertSink
from sensor.sinks.base import Sink
from sensor.sinks.catalog import Catalog
from sensor.sinks.flowstore import FlowStore
from sensor.sinks.health import HealthSink
from sensor.sinks.outputs import build_outputs
from sensor.sinks.schema import FLOW_COLUMNS, Column
from sensor.sinks.segments import StoreConfig, data_dir_for
from sensor.sinks.wireless_aps import WirelessStore

__all__ = [
    "FLOW_COLUMNS",
    "AlertSink",
    "Column",
    "FlowStore",
    "HealthSink",
    "Sink",
    "Sinks",
    "WirelessStore",
    "catalog_for",
    "default_sinks",
    "store_config",
]


def store_config(cfg: SensorConfig, retain: bool = False) -> StoreConfig:
    """The storage section as the stores take it."""
    st = cfg.storage
    return StoreConfig(
        catalog=st.catalog,
        sensor=cfg.sensor.name,
        data_dir=st.data_dir,
        flush_rows=memory_budget(cfg).flush_rows,  # min(flush_rows, the records share)
        flush_seconds=st.flush_seconds,
        max_buffered_rows=st.max_buffered_rows,
        site=cfg.sensor.site,
        retention_days=(
            ("flows", st.retention.flows_days),
            ("alerts", st.retention.alerts_days),
            ("rollups", st.retention.rollups_days),
            ("health", st.retention.rollups_days),  # qualifies the rollups: kept as long
        ),
        max_disk_bytes=int(st.retention.max_disk_gb * 1e9),
        retain=retain,
        compact=not st.ship.destination,
        adopt=st.adopt,
    )


class Sinks(NamedTuple):
    """The standard sinks of a sensor, in the order the pipeline calls them."""

    flows: FlowStore
    alerts: AlertSink
    wireless: WirelessStore
    health: HealthSink
    """Last: it closes after the others, so their lost rows are in its final row."""

    def rows_lost(self) -> int:
        """Rows of the store's tables that could not be written (the health sink's own
        cannot be recorded anywhere, so they are not in it)."""
        return _rows_lost(self.flows, self.alerts, self.wireless)


def _rows_lost(flows: FlowStore, alerts: AlertSink, wireless: WirelessStore) -> int:
    return flows.rows_lost + alerts.store_stats.rows_dropped + wireless.store_stats.rows_dropped


def use_system_allocator() -> None:
    """Arrow allocates from the C library's malloc, not its bundled mimalloc: mimalloc keeps
    freed pages in per-thread heaps (Arrow's compute threads too), and a 300,000-SYN flood
    replayed with limits.memory_mb 64 peaked 29 MB higher with it, outside any budget. The
    segments are the same; writing them is as fast."""
    pa.set_memory_pool(pa.system_memory_pool())


def default_sinks(
    cfg: SensorConfig,
    provisions: dict[str, Provision],
    retain: bool = False,
    catalog: Catalog | None = None,
) -> Sinks:
    """The flow store, the alert sink, the access point store and the health table, all
    writing segments under the same catalog. The health sink still needs `watch(pipeline)`.

    The three stores share one `Catalog` (`catalog`, made once by a live sensor for its
    workers, else a new one), so it is written once, not once per store.

    The JSON-lines alert stream goes beside the catalog (`x.duckdb` -> `x.alerts.jsonl`)
    unless `policy.alerts.jsonl` names another file or is empty (no stream). The optional
    outputs of `outputs:` (syslog, EVE flow lines, IPFIX) hang off these two sinks.
    """
    outputs = build_outputs(cfg.outputs, cfg.sensor.name)  # a bad address stops us first
    use_system_allocator()
    scfg = store_config(cfg, retain)
    a = cfg.policy.alerts
    if a.jsonl is None:
        jsonl: Path | None = cfg.storage.catalog.with_suffix(".alerts.jsonl")
    else:
        jsonl = Path(a.jsonl) if a.jsonl else None
    if catalog is None:
        catalog = catalog_for(cfg)
    flows = FlowStore(scfg, catalog=catalog)  # first: it checks the path, then writes
    alerts = AlertSink(
        scfg,
        provisions,
        dedup_seconds=a.dedup_seconds,
        jsonl=jsonl,
        site=cfg.sensor.site,
        catalog=catalog,
    )
    alerts.outputs.extend(outputs.alerts)
    flows.exports.extend(outputs.flows)
    wireless = WirelessStore(scfg, catalog=catalog)
    health = HealthSink(scfg, partial(_rows_lost, flows, alerts, wireless))
    return Sinks(flows, alerts, wireless, health)


def catalog_for(cfg: SensorConfig) -> Catalog:
    """The catalog the storage section names, over its segment tree (not written yet)."""
    st = cfg.storage
    return Catalog(st.catalog, st.data_dir or data_dir_for(st.catalog), st.adopt)
