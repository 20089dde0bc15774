"""The flow record: every column of the `flows` table, its type and its meaning, in one place.

Names follow Suricata EVE so analysts recognise them. The table is built from this list and a
test compares it with what DuckDB reads back. New columns are added at the end and nullable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "ALERT_COLUMNS",
    "APP_COLUMNS",
    "CAPTURE_COLUMNS",
    "FLOW_COLUMNS",
    "HEALTH_COLUMNS",
    "PARTITION_COLUMNS",
    "POLICY_COLUMNS",
    "PROTO_NAMES",
    "RECORD_COLUMNS",
    "ROLLUP_COLUMNS",
    "SITE_COLUMNS",
    "WIRELESS_AP_COLUMNS",
    "Column",
    "arrow_schema",
]

PROTO_NAMES = {
    1: "ICMP",
    6: "TCP",
    17: "UDP",
    58: "IPv6-ICMP",
    47: "GRE",
    50: "ESP",
    51: "AH",
    132: "SCTP",
    2: "IGMP",
    89: "OSPF",
    112: "VRRP",
}
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a record table."""

    name: str
    sql_type: str
    arrow_type: pa.DataType
    doc: str
    field: str | None = None
    """For app-layer columns: the dotted field extractors write into `flow.meta`."""


FLOW_COLUMNS: tuple[Column, ...] = (
    Column(
        "flow_id",
        "BIGINT",
        pa.int64(),
        "Flow identifier, stable across the interim records of one flow (EVE flow_id).",
    ),
    Column(
        "segment",
        "INTEGER",
        pa.int32(),
        "0 for the first record of a flow; 1, 2, ... for each later interim record.",
    ),
    Column(
        "community_id",
        "VARCHAR",
        pa.string(),
        "Community ID v1 of the 5-tuple, to pivot to Zeek, Suricata or Arkime data.",
    ),
    Column("ts_start", "TIMESTAMPTZ", _TS, "Time of the first packet of this record."),
    Column("ts_end", "TIMESTAMPTZ", _TS, "Time of the last packet of this record."),
    Column(
        "proto",
        "VARCHAR",
        pa.string(),
        "IP protocol name as EVE writes it (TCP, UDP, ICMP, IPv6-ICMP) or its number.",
    ),
    Column("ip_version", "TINYINT", pa.int8(), "IP version of the flow: 4 or 6."),
    Column("src_ip", "VARCHAR", pa.string(), "Client address: the side that started the flow."),
    Column("src_port", "INTEGER", pa.int32(), "Client port (NULL for protocols without ports)."),
    Column("dest_ip", "VARCHAR", pa.string(), "Server address."),
    Column("dest_port", "INTEGER", pa.int32(), "Server port (NULL for protocols without ports)."),
    Column("icmp_type", "INTEGER", pa.int32(), "ICMP/ICMPv6 type sent by the client."),
    Column("pkts_toserver", "BIGINT", pa.int64(), "Packets from client to server."),
    Column("pkts_toclient", "BIGINT", pa.int64(), "Packets from server to client."),
    Column(
        "bytes_toserver",
        "BIGINT",
        pa.int64(),
        "Bytes from client to server, whole frames as on the wire (like tshark).",
    ),
    Column("bytes_toclient", "BIGINT", pa.int64(), "Bytes from server to client, whole frames."),
    Column(
        "tcp_flags_ts",
        "VARCHAR",
        pa.string(),
        "OR of the TCP flags sent by the client, two hex digits as in EVE (NULL if not TCP).",
    ),
    Column("tcp_flags_tc", "VARCHAR", pa.string(), "OR of the TCP flags sent by the server."),
    Column(
        "end_reason",
        "VARCHAR",
        pa.string(),
        "Why this record was written: idle, active (interim), fin, rst, eof, evicted, shutdown.",
    ),
    Column("vlan", "INTEGER", pa.int32(), "Outer 802.1Q VLAN id, if tagged."),
    Column(
        "tunnel",
        "VARCHAR",
        pa.string(),
        "Encapsulation the packets arrived in: gre, erspan, vxlan, ipip, mpls, pppoe, gtp "
        "(VLAN tags are in `vlan`).",
    ),
)

_S = pa.string()

APP_COLUMNS: tuple[Column, ...] = (
    Column(
        "app_proto",
        "VARCHAR",
        _S,
        "Application protocol recognised in the payload: tls, quic, http, dns, ssh, rdp, "
        "vnc, sip, stun, rtp, bittorrent, dhcp, ssdp, ntp, smtp, imap, pop3, ftp, xmpp, dtls; "
        "a stack outermost first after a tunnel, STARTTLS or WebRTC "
        "(socks/http, smtp/tls, stun/dtls).",
        "app_proto",
    ),
    Column(
        "server_name",
        "VARCHAR",
        _S,
        "Name of the server, from the strongest source seen (see server_name_source).",
        "server_name",
    ),
    Column(
        "server_name_source",
        "VARCHAR",
        _S,
        "Where server_name came from: tls (SNI), quic "
        "(SNI), http (Host), sip, or dns (an earlier answer to this client for this "
        "address, within its TTL).",
        "server_name_source",
    ),
    Column(
        "tls_sni",
        "VARCHAR",
        _S,
        "TLS ClientHello server name over TCP (lowercase, no "
        "trailing dot); with ECH, the outer (public) name.",
        "tls.sni",
    ),
    Column(
        "quic_sni",
        "VARCHAR",
        _S,
        "Server name from the decrypted QUIC Initial ClientHello.",
        "quic.sni",
    ),
    Column(
        "tls_alpn",
        "VARCHAR",
        _S,
        "ALPN protocols the client offered, comma-separated (TLS or QUIC).",
        "tls.alpn",
    ),
    Column(
        "tls_version",
        "VARCHAR",
        _S,
        "Negotiated TLS version when the ServerHello was "
        "seen, else the highest the client offered.",
        "tls.version",
    ),
    Column(
        "ja4",
        "VARCHAR",
        _S,
        "JA4 fingerprint of the ClientHello (t... over TCP, q... over QUIC).",
        "ja4",
    ),
    Column("ja3", "VARCHAR", _S, "JA3 fingerprint (MD5) of the ClientHello.", "ja3"),
    Column(
        "ech",
        "BOOLEAN",
        pa.bool_(),
        "The ClientHello carries Encrypted Client Hello: the real server name is hidden.",
        "tls.ech",
    ),
    Column(
        "quic_version",
        "VARCHAR",
        _S,
        "QUIC version of the Initial packets (e.g. 0x00000001, 0x6b3343cf for v2).",
        "quic.version",
    ),
    Column("dns_query", "VARCHAR", _S, "First query name of a DNS/mDNS/LLMNR flow.", "dns.query"),
    Column("dns_qtype", "VARCHAR", _S, "Type of that query (A, AAAA, HTTPS, ...).", "dns.qtype"),
    Column(
        "dns_answers",
        "VARCHAR",
        _S,
        "Answer values (addresses, CNAME targets), comma-separated.",
        "dns.answers",
    ),
    Column("http_method", "VARCHAR", _S, "HTTP request method.", "http.method"),
    Column("http_host", "VARCHAR", _S, "HTTP Host header (lowercase, port removed).", "http.host"),
    Column(
        "http_uri",
        "VARCHAR",
        _S,
        "HTTP request target without its query string (content; kept only where the site sets "
        "policy.store_uri_query), truncated to 256 characters.",
        "http.path",
    ),
    Column("http_user_agent", "VARCHAR", _S, "HTTP User-Agent header.", "http.user_agent"),
    Column(
        "http_status", "INTEGER", pa.int32(), "HTTP (or ICY) response status code.", "http.status"
    ),
    Column(
        "user_agent",
        "VARCHAR",
        _S,
        "Client software as the protocol names it: HTTP "
        "User-Agent, SSH banner, SIP User-Agent, STUN SOFTWARE, BitTorrent client.",
        "user_agent",
    ),
    Column(
        "app_meta",
        "MAP(VARCHAR, VARCHAR)",
        pa.map_(_S, _S),
        "Every other field the "
        "extractors found, by dotted name (e.g. app_meta['http.icy_name'], "
        "app_meta['ssh.server_banner'], app_meta['tls.cert_subject']).",
        "*",
    ),
)

POLICY_COLUMNS: tuple[Column, ...] = (
    Column(
        "category",
        "VARCHAR",
        _S,
        "What the flow is in policy terms (ai, radio, p2p, voip, messaging, remote_access, "
        "circumvention, external_email, personal_server, large_transfer, rogue_ap); NULL "
        "when no signature matched.",
        "policy.category",
    ),
    Column(
        "provision",
        "VARCHAR",
        _S,
        "Policy 2503 provision the category falls under (2503-9b, 2503-ai, ...); see "
        "signatures/provisions.yaml.",
        "policy.provision",
    ),
    Column(
        "action",
        "VARCHAR",
        _S,
        "What the site policy makes of it: violation, personal_use_window (allowed limited "
        "personal use outside work hours), approved, exempt, or none (no match, or ignored).",
        "policy.action",
    ),
    Column(
        "severity",
        "VARCHAR",
        _S,
        "Severity of the provision at this site: low, medium, high, critical.",
        "policy.severity",
    ),
    Column(
        "signature_id",
        "INTEGER",
        pa.int32(),
        "Id of the signature that matched (stable across releases).",
        "policy.signature_id",
    ),
    Column(
        "signature_rev",
        "INTEGER",
        pa.int32(),
        "Revision of that signature.",
        "policy.signature_rev",
    ),
    Column("signature", "VARCHAR", _S, "Name of that signature.", "policy.signature"),
    Column(
        "service",
        "VARCHAR",
        _S,
        "The service or application the signature identifies (chatgpt, bittorrent, tor, ...).",
        "policy.service",
    ),
    Column(
        "confidence",
        "FLOAT",
        pa.float32(),
        "How sure the match is, 0-1: the signature's confidence times the weight of its "
        "evidence (a name learnt from DNS counts less than one the client sent).",
        "policy.confidence",
    ),
    Column(
        "evidence",
        "VARCHAR",
        _S,
        "Which field matched which value (e.g. tls.sni=chatgpt.com), and why the action "
        "is what it is.",
        "policy.evidence",
    ),
)

APP_COLUMNS = APP_COLUMNS + POLICY_COLUMNS

PARTITION_COLUMNS: tuple[Column, ...] = (
    Column(
        "sensor",
        "VARCHAR",
        pa.string(),
        "Name of the sensor that wrote the record (config `sensor.name`, default host name). "
        "Stored as a hive partition (sensor=...), not inside the Parquet files.",
    ),
    Column(
        "date",
        "DATE",
        pa.date32(),
        "UTC day of ts_start; hive partition (date=YYYY-MM-DD), not inside the files.",
    ),
)


ALERT_COLUMNS: tuple[Column, ...] = (
    Column("ts", "TIMESTAMPTZ", _TS, "Time of the flow's first packet (of this record)."),
    Column("flow_id", "BIGINT", pa.int64(), "The flow that raised it (flows.flow_id)."),
    Column("community_id", "VARCHAR", _S, "Community ID of that flow."),
    Column("src_ip", "VARCHAR", _S, "Client address: the host the alert is about."),
    Column("src_port", "INTEGER", pa.int32(), "Client port."),
    Column("dest_ip", "VARCHAR", _S, "Server address."),
    Column("dest_port", "INTEGER", pa.int32(), "Server port."),
    Column("proto", "VARCHAR", _S, "IP protocol (TCP, UDP, ...)."),
    Column("app_proto", "VARCHAR", _S, "Application protocol recognised in the flow."),
    Column("server_name", "VARCHAR", _S, "Server name of the flow, if known."),
    Column("signature_id", "INTEGER", pa.int32(), "Signature that matched."),
    Column("signature_rev", "INTEGER", pa.int32(), "Its revision."),
    Column("signature", "VARCHAR", _S, "Its name."),
    Column("msg", "VARCHAR", _S, "Its message, for people."),
    Column("category", "VARCHAR", _S, "Policy category (as in flows.category)."),
    Column("provision", "VARCHAR", _S, "Policy 2503 provision broken (2503-9b, ...)."),
    Column("provision_title", "VARCHAR", _S, "Title of that provision."),
    Column("severity", "VARCHAR", _S, "low, medium, high or critical."),
    Column("confidence", "FLOAT", pa.float32(), "Confidence of the match, 0-1."),
    Column("evidence", "VARCHAR", _S, "Which field matched which value."),
    Column(
        "suppressed",
        "BIGINT",
        pa.int64(),
        "Alerts of the same signature and source host suppressed since the previous one "
        "(policy.alerts.dedup_seconds).",
    ),
    Column("site", "VARCHAR", _S, "Site (district) of the sensor."),
    Column(
        "device",
        "VARCHAR",
        _S,
        "MAC address the alert is about (BSSID of an access point), for 802.11 checks.",
    ),
)
"""The `alerts` table: one row per alert after deduplication (sinks/alerts.py)."""

SITE_COLUMNS: tuple[Column, ...] = (
    Column(
        "site",
        "VARCHAR",
        _S,
        "Site (district) of the sensor that wrote the record (config `sensor.site`).",
    ),
)

ROLLUP_COLUMNS: tuple[Column, ...] = (
    Column("minute", "TIMESTAMPTZ", _TS, "Start of the minute the records began in."),
    Column("site", "VARCHAR", _S, "Site (district) of the sensor."),
    Column("category", "VARCHAR", _S, "Policy category ('none': no signature matched)."),
    Column("provision", "VARCHAR", _S, "Policy 2503 provision ('none')."),
    Column("action", "VARCHAR", _S, "violation, personal_use_window, approved, exempt, none."),
    Column("records", "BIGINT", pa.int64(), "Flow records (interim records count each)."),
    Column("bytes", "BIGINT", pa.int64(), "Bytes of those records, both directions."),
    Column("hosts", "BIGINT", pa.int64(), "Distinct client addresses in this row's records."),
)
"""The `rollups` table: per-minute counts written beside every flow segment, kept far longer
than raw flows (storage.retention). Several rows may share a minute (one per segment):
sum them, as the `rollup_minute` and `rollup_hour` views do."""

WIRELESS_AP_COLUMNS: tuple[Column, ...] = (
    Column("ts", "TIMESTAMPTZ", _TS, "When this snapshot of the access point was taken."),
    Column("bssid", "VARCHAR", _S, "BSSID (the access point's MAC address)."),
    Column("ssid", "VARCHAR", _S, "First network name heard (backslash escapes if not UTF-8)."),
    Column("ssids", "VARCHAR", _S, "Every network name heard from it, comma-separated."),
    Column("channel", "INTEGER", pa.int32(), "Channel (radio header, else the DS element)."),
    Column("security", "VARCHAR", _S, "open, wep, wpa, wpa2, wpa3, -enterprise variants."),
    Column("vendor", "VARCHAR", _S, "Vendor of the BSSID's OUI (Wireshark manuf database)."),
    Column("signal_dbm", "INTEGER", pa.int32(), "Strongest signal heard, dBm."),
    Column("first_seen", "TIMESTAMPTZ", _TS, "First beacon or probe response."),
    Column("last_seen", "TIMESTAMPTZ", _TS, "Latest one."),
    Column("beacons", "BIGINT", pa.int64(), "Beacons and probe responses heard."),
    Column("adhoc", "BOOLEAN", pa.bool_(), "It advertises an IBSS (ad-hoc) network."),
    Column("approved", "BOOLEAN", pa.bool_(), "In the department's inventory (policy.wireless)."),
    Column("indicators", "VARCHAR", _S, "Checks of provision 22 it triggered, comma-separated."),
    Column("site", "VARCHAR", _S, "Site (district) of the sensor."),
)
"""The `wireless_aps` table: one row per access point per flush in which it was heard (the
`access_points` view keeps the latest)."""

CAPTURE_COLUMNS: tuple[Column, ...] = (
    Column("ts", "TIMESTAMPTZ", _TS, "Time of the capture's first packet (partition day)."),
    Column("sha256", "VARCHAR", _S, "SHA-256 of the capture file's bytes, as stored on disk."),
    Column("name", "VARCHAR", _S, "File name the capture was replayed from."),
    Column("size", "BIGINT", pa.int64(), "File size in bytes."),
    Column("packets", "BIGINT", pa.int64(), "Frames read from it."),
    Column("status", "VARCHAR", _S, "complete, or interrupted (SIGINT/SIGTERM) or damaged."),
    Column("replayed_at", "TIMESTAMPTZ", _TS, "Wall-clock time the replay finished."),
    Column("site", "VARCHAR", _S, "Site (district) of the sensor."),
)
"""`captures`: which capture files a store holds, so a second replay of one is skipped."""

HEALTH_COLUMNS: tuple[Column, ...] = (
    Column(
        "ts",
        "TIMESTAMPTZ",
        _TS,
        "Packet time at the end of the interval the row covers (live: the sensor's clock).",
    ),
    Column("packets", "BIGINT", pa.int64(), "Frames read in the interval."),
    Column("bytes", "BIGINT", pa.int64(), "Bytes of those frames (wire length)."),
    Column(
        "decode_errors",
        "BIGINT",
        pa.int64(),
        "Frames that could not be decoded (malformed headers, unknown link type).",
    ),
    Column(
        "capture_errors",
        "BIGINT",
        pa.int64(),
        "Damaged records in capture files (truncated, corrupt, unreadable), counted when "
        "the file ends.",
    ),
    Column(
        "kernel_drops",
        "BIGINT",
        pa.int64(),
        "Packets the kernel dropped before the sensor read them (live capture; 0 in replay).",
    ),
    Column("extractor_errors", "BIGINT", pa.int64(), "Payloads an extractor failed on."),
    Column(
        "sink_errors", "BIGINT", pa.int64(), "Failures of a sink or the classifier on a record."
    ),
    Column(
        "rows_lost",
        "BIGINT",
        pa.int64(),
        "Rows of flows, rollups, alerts and wireless_aps dropped because they could not "
        "be written.",
    ),
    Column("site", "VARCHAR", _S, "Site (district) of the sensor."),
)
"""`health`: what the sensor saw and missed, one row per capture worker and flush interval of
packet time (storage.flush_seconds) and one at exit. Each row holds the change since the
worker's previous row, so a sum over any period is right."""

RECORD_COLUMNS = FLOW_COLUMNS + APP_COLUMNS + SITE_COLUMNS
"""Every column stored in the Parquet files, in order."""


def arrow_schema(columns: tuple[Column, ...] = RECORD_COLUMNS) -> pa.Schema:
    """Arrow schema of the Parquet files (partition columns excluded)."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])


def markdown(columns: tuple[Column, ...] = RECORD_COLUMNS + PARTITION_COLUMNS) -> str:
    """The data dictionary as a Markdown table (docs/flows.md is generated from this)."""
    lines = ["| column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.sql_type} | {c.doc} |" for c in columns]
    return "\n".join(lines) + "\n"
