"""EVE JSON: alert and flow events shaped as Suricata writes them, so EVE readers take them.

SIEM pipelines, Filebeat's Suricata module, Wazuh and Security Onion parse EVE by its
published schema, which forbids unknown properties on the envelope and on `alert`/`flow`.
So EVE's own fields carry EVE's types (`alert.severity` 1-3, `timestamp` as Suricata
writes it) and the sensor's own facts go where EVE allows extensions: `alert.metadata`
(a map of string lists, as Suricata logs rule metadata), `metadata.flowvars` on flow
events, and `host` (the sensor name). docs/eve.md is the field-by-field mapping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

__all__ = ["SEVERITY", "alert_event", "eve_timestamp", "flow_events"]

SEVERITY = {"critical": 1, "high": 1, "medium": 2, "low": 3}
"""Policy severity -> EVE `alert.severity` (Suricata: 1 highest, 3 lowest)."""

_ALERT_META = (
    ("provision", "provision"),
    ("provision_title", "provision_title"),
    ("policy_signature", "signature"),
    ("policy_severity", "severity"),
    ("confidence", "confidence"),
    ("evidence", "evidence"),
    ("server_name", "server_name"),
    ("site", "site"),
    ("suppressed", "suppressed"),
    ("device", "device"),
)
_FLOW_VARS = (
    "category",
    "provision",
    "action",
    "severity",
    "signature_id",
    "service",
    "evidence",
    "end_reason",
    "server_name",
    "site",
)
# The sensor's end reasons in Suricata's flow.reason vocabulary (timeout, forced, shutdown).
_REASON = {"eof": "shutdown", "shutdown": "shutdown", "evicted": "forced", "active": "forced"}
_FLOW_COLS = (
    "flow_id",
    "community_id",
    "ts_start",
    "ts_end",
    "proto",
    "ip_version",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "icmp_type",
    "pkts_toserver",
    "pkts_toclient",
    "bytes_toserver",
    "bytes_toclient",
    "tcp_flags_ts",
    "tcp_flags_tc",
    "end_reason",
    "vlan",
    "app_proto",
    "tls_sni",
    "tls_alpn",
    "tls_version",
    "ja4",
    "ja3",
    "quic_sni",
    "quic_version",
    "dns_query",
    "dns_qtype",
    "http_method",
    "http_host",
    "http_uri",
    "http_user_agent",
    "http_status",
    *_FLOW_VARS,
)


def eve_timestamp(us: int) -> str:
    """Microseconds since the epoch as Suricata writes them: `2026-03-03T10:00:00.123456+0000`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(us // 1_000_000)) + (
        f".{us % 1_000_000:06d}+0000"
    )


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    """EVE omits what is unknown; it never writes null (the schema's types have no null)."""
    if value is not None and value != "":
        d[key] = value


def alert_event(row: Mapping[str, Any], host: str) -> dict[str, Any]:
    """One `alerts` row -> an EVE alert event (the row's `ts` is in microseconds)."""
    ev: dict[str, Any] = {"timestamp": eve_timestamp(row["ts"])}
    for k in ("flow_id", "community_id"):
        _put(ev, k, row.get(k))
    ev["event_type"] = "alert"
    for k in ("src_ip", "src_port", "dest_ip", "dest_port", "proto", "app_proto"):
        _put(ev, k, row.get(k))
    _put(ev, "host", host)
    meta: dict[str, list[str]] = {}
    for name, col in _ALERT_META:
        value = row.get(col)
        if value is not None and value != "":
            meta[name] = [f"{value:.2f}" if isinstance(value, float) else str(value)]
    ev["alert"] = {
        "action": "allowed",  # a passive sensor never blocks
        "gid": 1,
        "signature_id": row["signature_id"],
        "rev": row["signature_rev"],
        "signature": row["msg"] or row["signature"],
        "category": row["category"],
        "severity": SEVERITY.get(row["severity"], 2),
        "metadata": meta,
    }
    return ev


def flow_events(table: pa.Table, host: str) -> Iterator[dict[str, Any]]:
    """Flow records (FLOW_COLUMNS, as the flow store writes them) -> EVE flow events."""
    names = [c for c in _FLOW_COLS if c in table.column_names]
    t = table.select(names)
    for col in ("ts_start", "ts_end"):
        t = t.set_column(t.column_names.index(col), col, t.column(col).cast(pa.int64()))
    for r in t.to_pylist():
        yield _flow_event(r, host)


def _flow_event(r: dict[str, Any], host: str) -> dict[str, Any]:
    ev: dict[str, Any] = {"timestamp": eve_timestamp(r["ts_start"]), "flow_id": r["flow_id"]}
    _put(ev, "community_id", r["community_id"])
    ev["event_type"] = "flow"
    for k in ("src_ip", "src_port", "dest_ip", "dest_port", "proto", "icmp_type", "app_proto"):
        _put(ev, k, r.get(k))
    ev["ip_v"] = r["ip_version"]
    _put(ev, "host", host)
    if r.get("vlan") is not None:
        ev["vlan"] = [r["vlan"]]
    ev["flow"] = _flow_object(r)
    if r.get("tcp_flags_ts") is not None:
        ts, tc = r["tcp_flags_ts"], r["tcp_flags_tc"] or "00"
        ev["tcp"] = {
            "tcp_flags": f"{int(ts, 16) | int(tc, 16):02x}",
            "tcp_flags_ts": ts,
            "tcp_flags_tc": tc,
        }
    ev.update(_app_objects(r))
    fv = [{"key": k, "value": str(r[k])} for k in _FLOW_VARS if r.get(k) not in (None, "")]
    if fv:
        ev["metadata"] = {"flowvars": fv}
    return ev


def _flow_object(r: dict[str, Any]) -> dict[str, Any]:
    reason = r["end_reason"]
    both = r["pkts_toserver"] > 0 and r["pkts_toclient"] > 0
    state = "closed" if reason in ("fin", "rst") else ("established" if both else "new")
    return {
        "pkts_toserver": r["pkts_toserver"],
        "pkts_toclient": r["pkts_toclient"],
        "bytes_toserver": r["bytes_toserver"],
        "bytes_toclient": r["bytes_toclient"],
        "start": eve_timestamp(r["ts_start"]),
        "end": eve_timestamp(r["ts_end"]),
        "age": (r["ts_end"] - r["ts_start"]) // 1_000_000,
        "state": state,
        "reason": _REASON.get(reason, "timeout"),
        "alerted": r.get("action") == "violation",
    }


def _app_objects(r: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`tls`, `quic`, `dns` and `http` objects from the columns the record has."""
    tls: dict[str, Any] = {}
    _put(tls, "sni", r.get("tls_sni"))
    _put(tls, "version", r.get("tls_version"))
    _put(tls, "ja4", r.get("ja4"))
    if r.get("ja3"):
        tls["ja3"] = {"hash": r["ja3"]}
    if r.get("tls_alpn"):
        tls["client_alpns"] = str(r["tls_alpn"]).split(",")
    if tls:
        yield "tls", tls
    quic: dict[str, Any] = {}
    _put(quic, "sni", r.get("quic_sni"))
    _put(quic, "version", r.get("quic_version"))
    if quic:
        yield "quic", quic
    if r.get("dns_query"):
        q: dict[str, Any] = {"rrname": r["dns_query"]}
        _put(q, "rrtype", r.get("dns_qtype"))
        yield "dns", {"version": 3, "type": "request", "queries": [q]}
    http: dict[str, Any] = {}
    for col, key in (
        ("http_host", "hostname"),
        ("http_uri", "url"),
        ("http_method", "http_method"),
        ("http_user_agent", "http_user_agent"),
        ("http_status", "status"),
    ):
        _put(http, key, r.get(col))
    if http:
        yield "http", http
