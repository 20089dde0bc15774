"""The flow record: every column of the `flows` table, its type and its meaning, in one place.

Names follow Suricata EVE so analysts recognise them. The table is built from this list and a
test compares it with what DuckDB reads back. New columns are added at the end and nullable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["FLOW_COLUMNS", "PARTITION_COLUMNS", "PROTO_NAMES", "Column", "arrow_schema"]

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


def arrow_schema(columns: tuple[Column, ...] = FLOW_COLUMNS) -> pa.Schema:
    """Arrow schema of the Parquet files (partition columns excluded)."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])


def markdown(columns: tuple[Column, ...] = FLOW_COLUMNS + PARTITION_COLUMNS) -> str:
    """The data dictionary as a Markdown table (docs/flows.md is generated from this)."""
    lines = ["| column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.sql_type} | {c.doc} |" for c in columns]
    return "\n".join(lines) + "\n"
