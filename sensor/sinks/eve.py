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
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["SEVERITY", "alert_event", "eve_timestamp", "flow_lines"]

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


def flow_lines(table: pa.Table, host: str) -> list[str]:
    """Flow records (RECORD_COLUMNS, as the flow store writes them) -> EVE flow event lines.

    Built column by column like the store's own records (sinks/records.py): each field is
    one list comprehension of JSON fragments ("" where the record has no value), and a
    line is the join of its row's fragments. That costs a few microseconds per record,
    where a dict per record through json.dumps costs about five times as much.
    """
    c = {k: _values(table, k) for k in _FLOW_COLS if k in table.column_names and k[:3] != "ts_"}
    n = len(table)
    us = {k: table.column(k).cast(pa.int64()).to_numpy() for k in ("ts_start", "ts_end")}
    start, end = _timestamps(us["ts_start"]), _timestamps(us["ts_end"])
    age = ((us["ts_end"] - us["ts_start"]) // 1_000_000).tolist()
    head = [
        f'{{"timestamp":"{ts}","flow_id":{fid}' for ts, fid in zip(start, c["flow_id"], strict=True)
    ]
    host_frag = f',"host":{_enc(host)}' if host else ""
    cols = [
        head,
        _safe_frag("community_id", c["community_id"]),
        [',"event_type":"flow"'] * n,
        _safe_frag("src_ip", c["src_ip"]),
        _int_frag("src_port", c["src_port"]),
        _safe_frag("dest_ip", c["dest_ip"]),
        _int_frag("dest_port", c["dest_port"]),
        _safe_frag("proto", c["proto"]),
        _int_frag("icmp_type", c["icmp_type"]),
        _safe_frag("app_proto", c["app_proto"]),
        [f',"ip_v":{v}' for v in c["ip_version"]],
        [host_frag] * n,
        [f',"vlan":[{v}]' if v is not None else "" for v in c["vlan"]],
        _flow_frags(c, start, end, age),
        _tcp_frags(c["tcp_flags_ts"], c["tcp_flags_tc"]),
        *_app_frags(c, n),
        _flowvar_frags(c, n),
    ]
    return ["".join(parts) + "}\n" for parts in zip(*cols, strict=True)]


def _enc(v: object) -> str:
    return encode_basestring_ascii(str(v))


def _values(table: pa.Table, name: str) -> list[Any]:
    """A column as Python values; strings through numpy, which is several times faster."""
    col = table.column(name)
    if pa.types.is_string(col.type):
        return list(col.to_numpy(zero_copy_only=False).tolist())
    return list(col.to_pylist())


def _timestamps(us: Any) -> list[str]:
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us").tolist()
    return [f"{s}+0000" for s in text]


def _str_frag(key: str, values: list[Any]) -> list[str]:
    """Free text (names the traffic chose): JSON-escaped."""
    return [f',"{key}":{_enc(v)}' if v is not None and v != "" else "" for v in values]


def _safe_frag(key: str, values: list[Any]) -> list[str]:
    """Values the sensor itself formats (addresses, protocol names, base64, hex): no
    character needs escaping, so none is looked for."""
    return [f',"{key}":"{v}"' if v is not None and v != "" else "" for v in values]


def _int_frag(key: str, values: list[Any]) -> list[str]:
    return [f',"{key}":{int(v)}' if v is not None else "" for v in values]


def _flow_frags(
    c: dict[str, list[Any]], start: list[str], end: list[str], age: list[int]
) -> list[str]:
    """The `flow` object; see docs/eve.md for the state and reason mapping."""
    out = []
    rows = zip(
        c["pkts_toserver"], c["pkts_toclient"], c["bytes_toserver"], c["bytes_toclient"],
        start, end, age, c["end_reason"], c.get("action") or [None] * len(start),
        strict=True,
    )  # fmt: skip
    for p_ts, p_tc, b_ts, b_tc, t0, t1, a, reason, action in rows:
        both = p_ts > 0 and p_tc > 0
        state = "closed" if reason in ("fin", "rst") else ("established" if both else "new")
        alerted = "true" if action == "violation" else "false"
        out.append(
            f',"flow":{{"pkts_toserver":{p_ts},"pkts_toclient":{p_tc},'
            f'"bytes_toserver":{b_ts},"bytes_toclient":{b_tc},"start":"{t0}","end":"{t1}",'
            f'"age":{a},"state":"{state}","reason":"{_REASON.get(reason, "timeout")}",'
            f'"alerted":{alerted}}}'
        )
    return out


def _tcp_frags(ts_flags: list[Any], tc_flags: list[Any]) -> list[str]:
    out = []
    for ts, tc in zip(ts_flags, tc_flags, strict=True):
        if ts is None:
            out.append("")
            continue
        tc = tc or "00"
        both = int(ts, 16) | int(tc, 16)
        out.append(
            f',"tcp":{{"tcp_flags":"{both:02x}","tcp_flags_ts":"{ts}","tcp_flags_tc":"{tc}"}}'
        )
    return out


def _wrap(key: str, inner: list[str]) -> list[str]:
    """`,"key":{...}` around a row's fragments (which start with a comma), or ""."""
    return [f',"{key}":{{{s[1:]}}}' if s else "" for s in inner]


def _join(*cols: list[str]) -> list[str]:
    return ["".join(parts) for parts in zip(*cols, strict=True)]


def _app_frags(c: dict[str, list[Any]], n: int) -> list[list[str]]:
    """`tls`, `quic`, `dns` and `http` objects from the columns the record has."""
    none: list[Any] = [None] * n

    def col(k: str) -> list[Any]:
        return c.get(k) or none  # a column the table may lack

    ja3 = [f',"ja3":{{"hash":{_enc(v)}}}' if v else "" for v in col("ja3")]
    alpn = [
        ',"client_alpns":[' + ",".join(_enc(a) for a in str(v).split(",")) + "]" if v else ""
        for v in col("tls_alpn")
    ]
    tls = _join(
        _str_frag("sni", col("tls_sni")),
        _str_frag("version", col("tls_version")),
        _str_frag("ja4", col("ja4")),
        ja3,
        alpn,
    )
    quic = _join(_str_frag("sni", col("quic_sni")), _str_frag("version", col("quic_version")))
    dns = [
        f',"dns":{{"version":3,"type":"request","queries":[{{"rrname":{_enc(q)}'
        + (f',"rrtype":{_enc(t)}' if t else "")
        + "}]}"
        if q
        else ""
        for q, t in zip(col("dns_query"), col("dns_qtype"), strict=True)
    ]
    http = _join(
        _str_frag("hostname", col("http_host")),
        _str_frag("url", col("http_uri")),
        _str_frag("http_method", col("http_method")),
        _str_frag("http_user_agent", col("http_user_agent")),
        _int_frag("status", col("http_status")),
    )
    return [_wrap("tls", tls), _wrap("quic", quic), dns, _wrap("http", http)]


def _pair_frags(key: str, values: list[Any]) -> list[str]:
    """One flowvar per row; most of these columns hold a handful of distinct values (site,
    action, provision), so each fragment is formatted once per value, not once per row."""
    memo: dict[Any, str] = {None: "", "": ""}
    out = []
    for v in values:
        frag = memo.get(v)
        if frag is None:
            frag = memo[v] = f',{{"key":"{key}","value":{_enc(v)}}}'
        out.append(frag)
    return out


def _flowvar_frags(c: dict[str, list[Any]], n: int) -> list[str]:
    """The policy's facts as `metadata.flowvars` key/value pairs."""
    pairs = [_pair_frags(k, c[k]) for k in _FLOW_VARS if k in c]
    inner = _join(*pairs) if pairs else [""] * n
    return [f',"metadata":{{"flowvars":[{s[1:]}]}}' if s else "" for s in inner]
