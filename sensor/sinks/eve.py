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
import pyarrow.compute as arrow_compute

pc: Any = arrow_compute  # the stubs' overloads miss scalars broadcast against arrays

__all__ = ["SEVERITY", "alert_event", "eve_timestamp", "flow_line_array", "flow_lines"]

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
    """Flow records (RECORD_COLUMNS, as the flow store writes them) -> EVE flow event lines."""
    return [str(line) for line in flow_line_array(table, host).to_pylist()]


def flow_line_array(table: pa.Table, host: str) -> Any:
    """The EVE flow lines of a batch as one Arrow string array, each ending in a newline.

    Built column-wise with Arrow compute: each field is one string column of JSON
    fragments (null where the record has no value; a column null in every row is skipped)
    and a line is the element-wise join of its row's fragments, so no Python object is
    made per record and each column is walked a few times in C++ (about 2 microseconds a
    record, where a dict per record through json.dumps costs about 30). Free text (names
    the traffic chose) is escaped exactly as json.dumps escapes it; Python only sees the
    rare values that need it.
    """
    n = len(table)
    if n == 0:
        return pa.array([], pa.string())

    def col(k: str) -> Any:
        if k not in table.column_names:
            return pa.nulls(n, pa.string())  # a column the table may lack
        return table.column(k).combine_chunks()

    us = {k: col(k).cast(pa.int64()).to_numpy(zero_copy_only=False) for k in ("ts_start", "ts_end")}
    start, end = _timestamps(us["ts_start"]), _timestamps(us["ts_end"])
    age = pa.array((us["ts_end"] - us["ts_start"]) // 1_000_000)
    host_frag = f',"host":{_enc(host)}' if host else None
    return _cat(
        _all('{"timestamp":"', start, '","flow_id":', col("flow_id")),
        _safe_frag("community_id", col("community_id")),
        ',"event_type":"flow"',
        _safe_frag("src_ip", col("src_ip")),
        _frag(',"src_port":', col("src_port")),
        _safe_frag("dest_ip", col("dest_ip")),
        _frag(',"dest_port":', col("dest_port")),
        _safe_frag("proto", col("proto")),
        _frag(',"icmp_type":', col("icmp_type")),
        _safe_frag("app_proto", col("app_proto")),
        _frag(',"ip_v":', col("ip_version")),
        host_frag,
        _frag(',"vlan":[', col("vlan"), "]"),
        _flow_frags(col, start, end, age),
        _by_value(_all(col("tcp_flags_ts"), "|", pc.fill_null(col("tcp_flags_tc"), "00")), _tcp),
        *_app_frags(col),
        _wrap(',"metadata":{"flowvars":[', _flowvar_frags(col), "]}"),
        "}\n",
    )


def _enc(v: object) -> str:
    return encode_basestring_ascii(str(v))


def _text(values: Any) -> Any:
    return values if pa.types.is_string(values.type) else values.cast(pa.string())


def _all(*parts: Any) -> Any:
    """Element-wise concatenation, null where any part is null."""
    return pc.binary_join_element_wise(
        *(_text(p) if isinstance(p, pa.Array) else p for p in parts), ""
    )


def _cat(*parts: Any) -> Any:
    """Element-wise concatenation of the parts present, a null part counting as ""."""
    present = [p for p in parts if p is not None]
    if not any(isinstance(p, pa.Array) for p in present):
        return None
    return pc.binary_join_element_wise(*present, "", null_handling="replace", null_replacement="")


def _absent(values: Any) -> bool:
    return bool(values.null_count == len(values))


def _frag(prefix: str, values: Any, suffix: str = "") -> Any:
    """prefix + value + suffix, null where the value is null or empty; None if no row has
    one."""
    if values is None or _absent(values):
        return None
    values = _text(values)
    if values.null_count < len(values) and pc.min(pc.binary_length(values)).as_py() == 0:
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    return _all(prefix, values, suffix)


def _timestamps(us: Any) -> Any:
    """Microseconds -> Suricata's `2026-03-03T10:00:00.123456+0000`, the date and time
    formatted once per distinct second."""
    secs, frac = np.divmod(us, 1_000_000)
    distinct, at = np.unique(secs, return_inverse=True)
    text = pa.array(np.datetime_as_string(distinct.astype("datetime64[s]"), unit="s"))
    digits = pc.utf8_slice_codeunits(pa.array(frac + 1_000_000).cast(pa.string()), 1)
    return _all(pc.take(text, pa.array(at)), ".", digits, "+0000")


_NEEDS_ESCAPE = r"[^ !#-\[\]-~]"
"""What encode_basestring_ascii changes: `"`, backslash, control characters, non-ASCII."""
_UNSAFE = np.array([not 0x20 <= b <= 0x7E or b in b'"\\' for b in range(256)])
"""The same, per byte of UTF-8."""


def _json_strings(values: Any) -> Any:
    """Values as JSON strings, escaped as json.dumps escapes them (ASCII out); null
    where the value is null or empty (EVE omits what is unknown)."""
    if _absent(values):
        return None
    values = _text(values)
    if pc.min(pc.binary_length(values)).as_py() == 0:
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    quoted = _all('"', values, '"')
    data = values.buffers()[2]
    if data is None or not _UNSAFE[np.frombuffer(data, np.uint8)].any():
        return quoted  # one look at every byte of the column, no regex per row
    escape = pc.fill_null(pc.match_substring_regex(values, _NEEDS_ESCAPE), False)
    if not pc.any(escape).as_py():
        return quoted
    fixed = [_enc(v) for v in pc.filter(values, escape).to_pylist()]
    return pc.replace_with_mask(quoted, escape, pa.array(fixed, pa.string()))


def _str_frag(key: str, values: Any) -> Any:
    """Free text (names the traffic chose): JSON-escaped."""
    return _frag(f',"{key}":', _json_strings(values))


def _safe_frag(key: str, values: Any) -> Any:
    """Values the sensor itself formats (addresses, protocol names, base64, hex): no
    character needs escaping, so none is looked for."""
    return _frag(f',"{key}":"', values, '"')


def _by_value(values: Any, fmt: Any) -> Any:
    """fmt(value) per row, called once per distinct value (these columns hold few);
    null rows give fmt(None)."""
    enc = pc.dictionary_encode(_text(values))
    frags = pa.array([fmt(v) for v in enc.dictionary.to_pylist()], pa.string())
    return pc.fill_null(pc.take(frags, enc.indices), fmt(None))


def _flow_frags(col: Any, start: Any, end: Any, age: Any) -> Any:
    """The `flow` object; see docs/eve.md for the state and reason mapping."""
    p_ts, p_tc, reason = col("pkts_toserver"), col("pkts_toclient"), col("end_reason")
    both = pc.and_(pc.greater(p_ts, 0), pc.greater(p_tc, 0))
    closed = pc.fill_null(pc.is_in(reason, pa.array(["fin", "rst"])), False)
    state = pc.if_else(closed, "closed", pc.if_else(both, "established", "new"))
    alerted = pc.if_else(pc.fill_null(pc.equal(col("action"), "violation"), False), "true", "false")
    return _all(
        ',"flow":{"pkts_toserver":', p_ts, ',"pkts_toclient":', p_tc,
        ',"bytes_toserver":', col("bytes_toserver"), ',"bytes_toclient":', col("bytes_toclient"),
        ',"start":"', start, '","end":"', end, '","age":', age, ',"state":"', state,
        '","reason":"', _by_value(reason, lambda r: _REASON.get(r, "timeout")),
        '","alerted":', alerted, "}",
    )  # fmt: skip


def _tcp(pair: str | None) -> str:
    if pair is None:  # no flags to the server: no tcp object
        return ""
    ts, tc = pair.split("|")
    both = int(ts, 16) | int(tc, 16)
    return f',"tcp":{{"tcp_flags":"{both:02x}","tcp_flags_ts":"{ts}","tcp_flags_tc":"{tc}"}}'


def _wrap(head: str, inner: Any, tail: str) -> Any:
    """head + a row's fragments without their leading comma + tail, or null."""
    if inner is None:
        return None
    body = pc.utf8_slice_codeunits(inner, 1)
    return pc.if_else(pc.equal(inner, ""), pa.scalar(None, pa.string()), _all(head, body, tail))


def _alpns(v: str | None) -> str:
    return ',"client_alpns":[' + ",".join(_enc(a) for a in v.split(",")) + "]" if v else ""


def _app_frags(col: Any) -> list[Any]:
    """`tls`, `quic`, `dns` and `http` objects from the columns the record has."""
    alpn = col("tls_alpn")
    tls = _cat(
        _str_frag("sni", col("tls_sni")),
        _str_frag("version", col("tls_version")),
        _str_frag("ja4", col("ja4")),
        _frag(',"ja3":{"hash":', _json_strings(col("ja3")), "}"),
        None if _absent(alpn) else _by_value(alpn, _alpns),
    )
    quic = _cat(_str_frag("sni", col("quic_sni")), _str_frag("version", col("quic_version")))
    query = col("dns_query")
    dns = None
    if not _absent(query):
        query = _json_strings(query)
        rrtype = _str_frag("rrtype", col("dns_qtype"))
        dns = _frag(
            ',"dns":{"version":3,"type":"request","queries":[{"rrname":',
            query if rrtype is None else _all(query, pc.fill_null(rrtype, "")),
            "}]}",
        )
    http = _cat(
        _str_frag("hostname", col("http_host")),
        _str_frag("url", col("http_uri")),
        _str_frag("http_method", col("http_method")),
        _str_frag("http_user_agent", col("http_user_agent")),
        _frag(',"status":', col("http_status")),
    )
    return [
        _wrap(',"tls":{', tls, "}"),
        _wrap(',"quic":{', quic, "}"),
        dns,
        _wrap(',"http":{', http, "}"),
    ]


def _flowvar_frags(col: Any) -> Any:
    """The policy's facts as `metadata.flowvars` key/value pairs."""
    return _cat(*(_flowvar(k, col(k)) for k in _FLOW_VARS))


def _flowvar(key: str, values: Any) -> Any:
    """Most of these columns hold a handful of distinct values (site, action, provision),
    so each fragment is formatted once per value, not once per row."""
    if _absent(values):
        return None
    return _by_value(values, lambda v: f',{{"key":"{key}","value":{_enc(v)}}}' if v else "")
