"""Sinks: where ended flows go. `default_sinks` builds the flow store and the alert sink."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from sensor.classify import Provision
from sensor.config import SensorConfig
from sensor.sinks.alerts import AlertSink
from sensor.sinks.base import Sink
from sensor.sinks.flowstore import FlowStore
from sensor.sinks.schema import FLOW_COLUMNS, Column
from sensor.sinks.segments import StoreConfig
from sensor.sinks.wireless_aps import WirelessStore

__all__ = [
    "FLOW_COLUMNS",
    "AlertSink",
    "Column",
    "FlowStore",
    "Sink",
    "Sinks",
    "WirelessStore",
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
        flush_rows=st.flush_rows,
        flush_seconds=st.flush_seconds,
        max_buffered_rows=st.max_buffered_rows,
        site=cfg.sensor.site,
        retention_days=(
            ("flows", st.retention.flows_days),
            ("alerts", st.retention.alerts_days),
            ("rollups", st.retention.rollups_days),
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


def default_sinks(
    cfg: SensorConfig, provisions: dict[str, Provision], retain: bool = False
) -> Sinks:
    """The flow store and the alert sink, both writing segments under the same catalog.

    The JSON-lines alert stream goes beside the catalog (`x.duckdb` -> `x.alerts.jsonl`)
    unless `policy.alerts.jsonl` names another file or is empty (no stream).
    """
    scfg = store_config(cfg, retain)
    a = cfg.policy.alerts
    if a.jsonl is None:
        jsonl: Path | None = cfg.storage.catalog.with_suffix(".alerts.jsonl")
    else:
        jsonl = Path(a.jsonl) if a.jsonl else None
    flows = FlowStore(scfg)  # first: its catalog already has the flows views
    alerts = AlertSink(
        scfg, provisions, dedup_seconds=a.dedup_seconds, jsonl=jsonl, site=cfg.sensor.site
    )
    return Sinks(flows, alerts, WirelessStore(scfg))
