"""WirelessStore: snapshots of the access points the monitor radio heard -> `wireless_aps`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sensor.flow.pending import EndedBatch
from sensor.flow.state import FlowState
from sensor.sinks.catalog import Catalog
from sensor.sinks.schema import WIRELESS_AP_COLUMNS, arrow_schema
from sensor.sinks.segments import RowTable, StoreConfig
from sensor.wireless import AccessPoint

__all__ = ["WirelessStore"]


class WirelessStore:
    """A sink for AP snapshots (flows pass through untouched)."""

    name = "wireless_aps"

    def __init__(
        self,
        cfg: StoreConfig,
        clock: Callable[[], float] = time.monotonic,
        catalog: Catalog | None = None,
    ) -> None:
        self.cfg = cfg
        self._table = RowTable(cfg, "wireless_aps", arrow_schema(WIRELESS_AP_COLUMNS), "ts", clock)
        self.store_stats = self._table.writer.stats
        self.catalog = catalog or Catalog(cfg.catalog, self._table.writer.data_dir, cfg.adopt)
        self.catalog.ensure()

    def write_flow(self, flow: FlowState, reason: str) -> None:
        pass

    def write_bare(self, batch: EndedBatch) -> None:
        """Records are not this sink's business."""

    def write_aps(self, aps: Sequence[AccessPoint], now_ns: int) -> None:
        """Rows for these access points as they are now."""
        for ap in aps:
            self._table.rows.append(
                {
                    "ts": now_ns // 1000,
                    "bssid": ap.bssid,
                    "ssid": ap.ssids[0] if ap.ssids else None,
                    "ssids": ",".join(ap.ssids),
                    "channel": ap.channel,
                    "security": ap.security,
                    "vendor": ap.vendor,
                    "signal_dbm": ap.signal_dbm,
                    "first_seen": ap.first_seen // 1000,
                    "last_seen": ap.last_seen // 1000,
                    "beacons": ap.beacons,
                    "adhoc": ap.ibss,
                    "approved": ap.approved,
                    "indicators": ",".join(ap.indicators) or None,
                    "site": self.cfg.site,
                }
            )

    @property
    def backlog(self) -> int:
        return self._table.backlog

    def flush(self, force: bool = False) -> None:
        self._table.flush(force)

    def close(self) -> None:
        self._table.closing = True
        self.flush(force=True)
