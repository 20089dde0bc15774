"""AlertSink: violations whose provision the site alerts on -> `alerts` table + JSON lines.

One alert per signature and source host per `dedup_seconds` of packet time (Zeek's notice
suppression); the next alert after a quiet spell says how many were suppressed. Each JSON
line is an EVE alert event (sinks/eve.py) tied to the flow by `flow_id` and `community_id`,
so analysts pivot from the alert stream to the flow table and to other tools.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from sensor.classify import Provision, Verdict
from sensor.flow.key import address_text, community_id, key_addresses
from sensor.flow.pending import EndedBatch
from sensor.flow.state import FlowState
from sensor.sinks.catalog import Catalog
from sensor.sinks.eve import alert_event
from sensor.sinks.schema import ALERT_COLUMNS, PROTO_NAMES, arrow_schema
from sensor.sinks.segments import RowTable, StoreConfig
from sensor.wireless import PROVISION, WirelessEvent

__all__ = ["AlertOutput", "AlertSink", "AlertStats"]

log = logging.getLogger(__name__)

_MAX_KEYS = 50_000
"""(signature, client) pairs remembered for de-duplication, oldest forgotten first (counted
in `forgotten`): ~410 B each, so 20 MB. A department's hosts times the signatures they set
off in an hour is far fewer; spoofed clients can only push out the oldest, whose repeats
then alert again."""


class AlertOutput(Protocol):
    """A destination for alert events besides the file (syslog): queues, never blocks."""

    name: str

    def send_alert(self, event: dict[str, Any]) -> None:
        """Take one EVE alert event; drop and count it rather than wait."""
        ...

    def close(self) -> None:
        """Send what is queued (bounded wait) and release the connection."""
        ...


class AlertStats:
    """Counters for metrics: alerts raised and suppressed, by (provision, severity)."""

    def __init__(self) -> None:
        self.raised: dict[tuple[str, str], int] = {}
        self.suppressed = 0
        self.forgotten = 0
        """De-duplication entries dropped at _MAX_KEYS."""
        self.jsonl_errors = 0
        self.output_errors = 0


class AlertSink:
    """The `alerts` sink; single-threaded like every sink."""

    name = "alerts"

    def __init__(
        self,
        cfg: StoreConfig,
        provisions: dict[str, Provision],
        dedup_seconds: float = 3600.0,
        jsonl: Path | None = None,
        site: str = "default",
        clock: Callable[[], float] = time.monotonic,
        catalog: Catalog | None = None,
    ) -> None:
        self.cfg = cfg
        self.provisions = provisions
        self.site = site
        self._dedup_ns = int(dedup_seconds * 1e9)
        self._table = RowTable(cfg, "alerts", arrow_schema(ALERT_COLUMNS), "ts", clock)
        self._seen: OrderedDict[tuple[int, tuple[int, int]], list[int]] = OrderedDict()
        self.stats = AlertStats()
        self.store_stats = self._table.writer.stats
        self.jsonl_path = jsonl
        self._jsonl: TextIO | None = None
        self.outputs: list[AlertOutput] = []
        """Where each alert's EVE event also goes (syslog), besides the JSON-lines file."""
        self.catalog = catalog or Catalog(cfg.catalog, self._table.writer.data_dir, cfg.adopt)
        self.catalog.ensure()

    def write_bare(self, batch: EndedBatch) -> None:
        """Field-less records that no signature could match: nothing to alert."""

    def write_flow(self, flow: FlowState, reason: str) -> None:
        """Raise an alert for the flow's verdict if it calls for one and is not suppressed."""
        verdict: Verdict | None = flow.meta.get("_verdict")
        if verdict is None or not verdict.alert or flow.meta.get("_alerted"):
            return
        flow.meta["_alerted"] = True  # later interim records of this flow do not re-alert
        k = flow.key
        client = (k[0], k[1]) if flow.client_is_lo else (k[2], k[3])
        key = (verdict.signature.id, client)
        seen = self._seen.get(key)
        ts = flow.ts_start
        if seen is not None and ts - seen[0] < self._dedup_ns:
            seen[1] += 1
            self.stats.suppressed += 1
            return
        suppressed = seen[1] if seen is not None else 0
        self._seen[key] = [ts, 0]
        self._seen.move_to_end(key)
        if len(self._seen) > _MAX_KEYS:
            self._seen.popitem(last=False)
            self.stats.forgotten += 1
        a, ap, b, bp, proto, _ = key_addresses(k)
        src, sport, dst, dport = (a, ap, b, bp) if flow.client_is_lo else (b, bp, a, ap)
        cid = community_id(proto, src, dst, sport, dport)
        ends = (address_text(src), sport, address_text(dst), dport)
        self._raise(flow, verdict, ends, proto, cid, suppressed)

    def _raise(
        self,
        flow: FlowState,
        v: Verdict,
        ends: tuple[str, int, str, int],
        proto: int,
        cid: str,
        suppressed: int,
    ) -> None:
        sig = v.signature
        prov = self.provisions.get(sig.provision)
        ported = proto in (6, 17, 132)
        src_ip, sport, dst_ip, dport = ends
        meta = flow.meta
        row: dict[str, Any] = {
            "ts": flow.ts_start // 1000,
            "flow_id": flow.flow_id,
            "community_id": cid,
            "src_ip": src_ip,
            "src_port": sport if ported else None,
            "dest_ip": dst_ip,
            "dest_port": dport if ported else None,
            "proto": PROTO_NAMES.get(proto, str(proto)),
            "app_proto": meta.get("app_proto"),
            "server_name": meta.get("server_name"),
            "signature_id": sig.id,
            "signature_rev": sig.rev,
            "signature": sig.name,
            "msg": sig.msg,
            "category": sig.category,
            "provision": sig.provision,
            "provision_title": prov.title if prov else None,
            "severity": v.severity,
            "confidence": v.confidence,
            "evidence": v.evidence,
            "suppressed": suppressed,
            "site": self.site,
            "device": None,
        }
        self._table.rows.append(row)
        k = (sig.provision, v.severity)
        self.stats.raised[k] = self.stats.raised.get(k, 0) + 1
        self._emit_json(row)

    def write_event(self, event: WirelessEvent) -> None:
        """An 802.11 check that fired (each fires once per access point)."""
        check = event.check
        prov = self.provisions.get(PROVISION)
        severity = prov.severity if prov else "high"
        row: dict[str, Any] = {c.name: None for c in ALERT_COLUMNS}
        row.update(
            ts=event.ts // 1000,
            signature_id=check.id,
            signature_rev=1,
            signature=check.name,
            msg=check.msg,
            category=prov.category if prov else "rogue_ap",
            provision=PROVISION,
            provision_title=prov.title if prov else None,
            severity=severity,
            confidence=check.confidence,
            evidence=event.evidence,
            suppressed=0,
            site=self.site,
            device=event.bssid,
        )
        self._table.rows.append(row)
        k = (PROVISION, severity)
        self.stats.raised[k] = self.stats.raised.get(k, 0) + 1
        self._emit_json(row)

    def _emit_json(self, row: dict[str, Any]) -> None:
        if self.jsonl_path is None and not self.outputs:
            return
        envelope = alert_event(row, self.cfg.sensor)
        for out in self.outputs:
            try:
                out.send_alert(envelope)  # queues only: never blocks the packet path
            except Exception:  # an output's bug must not cost the file or the table
                self.stats.output_errors += 1
                log.exception("alert output %s failed", out.name)
        if self.jsonl_path is None:
            return
        try:
            if self._jsonl is None:
                self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
                self._jsonl = self.jsonl_path.open("a", encoding="utf-8", buffering=1)
            self._jsonl.write(json.dumps(envelope, separators=(",", ":")) + "\n")
        except OSError as e:
            self.stats.jsonl_errors += 1
            if self.stats.jsonl_errors == 1:  # said once; the count goes to summary and metrics
                log.error(
                    "alert stream %s: cannot write (%s); alerts stay in the alerts table, "
                    "failed lines are counted",
                    self.jsonl_path,
                    e.strerror or e,
                )
            self._close_jsonl()

    @property
    def backlog(self) -> int:
        """Alert rows not yet in a segment."""
        return self._table.backlog

    def flush(self, force: bool = False) -> None:
        """Write buffered alert rows as a segment if due."""
        self._table.flush(force)

    def close(self) -> None:
        self._table.closing = True
        self.flush(force=True)
        self._close_jsonl()
        for out in self.outputs:
            out.close()

    def _close_jsonl(self) -> None:
        if self._jsonl is not None:
            with contextlib.suppress(OSError):  # already reported when a write failed
                self._jsonl.close()
            self._jsonl = None
