"""IpfixExporter: flow records as IPFIX (RFC 7011) to the network team's flow collector.

Each flow record becomes one IPFIX data record per direction that carried packets
(client->server, then server->client), the unidirectional shape every NetFlow/IPFIX
collector aggregates. Records are fixed-size, so a whole flush is packed at once with a
numpy structured array; the strings the policy adds (application, server name, provision,
action, category) are fixed-width, NUL-padded fields (RFC 7011 section 6.1.6 allows a
string of any declared length). Policy fields are enterprise elements under a Private
Enterprise Number (default 32473, IANA's number reserved for documentation, RFC 5612; a
site with its own PEN sets it). Over UDP the templates are re-sent every
`template_seconds` and before the first data (RFC 7011 section 8.4); over TCP once per
connection. NetFlow v9 (RFC 3954), for older collectors, shares all of this but the header
and the enterprise elements. docs/ipfix.md lists every element.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sensor.config import IpfixConfig
from sensor.endpoints import Address
from sensor.sinks.schema import PROTO_NAMES
from sensor.sinks.sender import Sender

__all__ = ["ELEMENTS", "END_REASONS", "IpfixExporter", "template_set"]

# (name, IANA id or enterprise id, length, enterprise?); the address pair is per template.
ELEMENTS: tuple[tuple[str, int, int, bool], ...] = (
    ("sourceTransportPort", 7, 2, False),
    ("destinationTransportPort", 11, 2, False),
    ("protocolIdentifier", 4, 1, False),
    ("flowStartMilliseconds", 152, 8, False),
    ("flowEndMilliseconds", 153, 8, False),
    ("packetDeltaCount", 2, 8, False),
    ("octetDeltaCount", 1, 8, False),
    ("flowEndReason", 136, 1, False),
    ("applicationName", 96, 16, False),
    ("flowId", 148, 8, False),
    ("serverName", 1, 64, True),
    ("policyProvision", 2, 16, True),
    ("policyAction", 3, 20, True),
    ("policyCategory", 4, 32, True),
    ("policySignatureId", 5, 4, True),
)
_ADDR = {4: (8, 12, 4), 6: (27, 28, 16)}  # sourceIPvNAddress, destinationIPvNAddress, length
_TEMPLATE_ID = {4: 256, 6: 257}
END_REASONS = {"idle": 1, "active": 2, "fin": 3, "rst": 3, "eof": 4, "shutdown": 4, "evicted": 5}
"""The sensor's end_reason -> flowEndReason (idle timeout, active timeout, end of flow
detected, forced end, lack of resources)."""
_NP_TYPE = {1: ">u1", 2: ">u2", 4: ">u4", 8: ">u8"}
_STRINGS = ("applicationName", "serverName", "policyProvision", "policyAction", "policyCategory")
_STRING_COLS = ("app_proto", "server_name", "provision", "action", "category")
_COLUMNS = (
    "ip_version", "src_ip", "dest_ip", "src_port", "dest_port", "proto", "ts_start", "ts_end",
    "end_reason", "flow_id", "signature_id", "pkts_toserver", "bytes_toserver",
    "pkts_toclient", "bytes_toclient", *_STRING_COLS,
)  # fmt: skip
"""The record columns the data records use: only these are split by IP version."""


def _elements(protocol: int) -> tuple[tuple[str, int, int, bool], ...]:
    """NetFlow v9 has no enterprise elements: its records carry the standard ones only."""
    return ELEMENTS if protocol == 10 else tuple(e for e in ELEMENTS if not e[3])


def _dtype(version: int, protocol: int = 10) -> np.dtype[Any]:
    n = _ADDR[version][2]
    fields = [("src", f"S{n}"), ("dst", f"S{n}")]
    for name, _, length, _ in _elements(protocol):
        fields.append((name, f"S{length}" if name in _STRINGS else _NP_TYPE[length]))
    return np.dtype(fields)


def template_set(pen: int, protocol: int = 10) -> bytes:
    """The template set (IPFIX set id 2, NetFlow v9 flowset id 0), one template per IP
    version."""
    body = b""
    for version, tid in _TEMPLATE_ID.items():
        src, dst, n = _ADDR[version]
        specs = [struct.pack(">HH", src, n), struct.pack(">HH", dst, n)]
        for _, ie, length, enterprise in _elements(protocol):
            if enterprise:
                specs.append(struct.pack(">HHI", ie | 0x8000, length, pen))
            else:
                specs.append(struct.pack(">HH", ie, length))
        body += struct.pack(">HH", tid, len(specs)) + b"".join(specs)
    return struct.pack(">HH", 2 if protocol == 10 else 0, 4 + len(body)) + body


class IpfixExporter:
    """A flow export (FlowStore.exports): each flushed batch of records -> IPFIX messages."""

    name = "ipfix"

    def __init__(self, address: Address, cfg: IpfixConfig) -> None:
        self.cfg = cfg
        self._v9 = cfg.protocol == 9
        self._templates = template_set(cfg.enterprise_number, cfg.protocol)
        self._udp = address.transport != "tcp"
        # UDP: templates go in the data stream (first batch, then every template_seconds);
        # TCP: once at the start of each connection, from the sender thread
        hello = None if self._udp else self._template_messages
        self.sender = Sender("ipfix", address, cfg.max_queue, on_connect=hello)
        self._seq = 0
        """IPFIX: data records exported so far; NetFlow v9: export packets so far."""
        self._next_templates = 0.0
        self._t0 = time.monotonic()

    @property
    def stats(self) -> Any:
        """The sender's counters (sent, failed, dropped), in messages."""
        return self.sender.stats

    def _template_messages(self) -> list[bytes]:
        return [self._message(self._templates, 0)]

    def _message(self, body: bytes, records: int) -> bytes:
        """Header + body holding `records` data records (0: the template set)."""
        now, seq = int(time.time()), self._seq & 0xFFFFFFFF
        if self._v9:  # RFC 3954: count of records (the 2 templates), uptime, packet sequence
            uptime = int((time.monotonic() - self._t0) * 1000) & 0xFFFFFFFF
            self._seq += 1
            hdr = struct.pack(
                ">HHIIII", 9, records or 2, uptime, now, seq, self.cfg.observation_domain
            )
            return hdr + body
        if records:  # the TCP template message is built on the sender thread: no write there
            self._seq += records
        return (
            struct.pack(">HHIII", 10, 16 + len(body), now, seq, self.cfg.observation_domain) + body
        )

    def export_flows(self, table: pa.Table) -> None:
        """Pack and queue the records of one flush as one batch; never waits on the network."""
        msgs: list[bytes] = []
        if self._udp and time.monotonic() >= self._next_templates:
            self._next_templates = time.monotonic() + self.cfg.template_seconds
            msgs.append(self._message(self._templates, 0))
        table = table.select([c for c in _COLUMNS if c in table.column_names])
        for version in (4, 6):
            rows = table.filter(pc.equal(table.column("ip_version"), pa.scalar(version, pa.int8())))
            if len(rows):
                recs = _records(rows, version, self.cfg.protocol)
                msgs.extend(self._data_messages(version, recs))
        if msgs:
            self.sender.offer_batch(msgs)

    def _data_messages(self, version: int, recs: np.ndarray[Any, Any]) -> list[bytes]:
        size = recs.dtype.itemsize
        per = max(1, (self.cfg.max_message - 28) // size)
        tid = _TEMPLATE_ID[version]
        out = []
        for at in range(0, len(recs), per):
            chunk = recs[at : at + per]
            data = chunk.tobytes()
            if self._v9:  # flowsets end on a 32-bit boundary (RFC 3954 section 5.3)
                data += bytes(-len(data) % 4)
            body = struct.pack(">HH", tid, 4 + len(data)) + data
            out.append(self._message(body, len(chunk)))
        return out

    def close(self) -> None:
        """Deliver what is queued (bounded wait), then stop the thread."""
        self.sender.close()


def _records(t: pa.Table, version: int, protocol: int = 10) -> np.ndarray[Any, Any]:
    """Both directions of every record, then only those that carried packets."""
    n = len(t)
    dt = _dtype(version, protocol)
    fam = socket.AF_INET if version == 4 else socket.AF_INET6
    src, dst = (_packed(fam, t.column(c)) for c in ("src_ip", "dest_ip"))
    sport = _ints(t, "src_port")
    dport = _ints(t, "dest_port")
    fwd = np.zeros(n, dtype=dt)
    fwd["src"], fwd["dst"] = src, dst
    fwd["sourceTransportPort"], fwd["destinationTransportPort"] = sport, dport
    fwd["protocolIdentifier"] = _per_value(t.column("proto"), _proto_number, ">u1", 255)
    fwd["flowStartMilliseconds"] = _ints(t, "ts_start") // 1000
    fwd["flowEndMilliseconds"] = _ints(t, "ts_end") // 1000
    fwd["flowEndReason"] = _per_value(t.column("end_reason"), _end_reason, ">u1", 4)
    fwd["flowId"] = _ints(t, "flow_id")
    have = set(dt.names or ())
    if "policySignatureId" in have and "signature_id" in t.column_names:
        fwd["policySignatureId"] = _ints(t, "signature_id")
    for name, col in zip(_STRINGS, _STRING_COLS, strict=True):
        if name in have:
            fwd[name] = _fixed(t, col, dt[name].itemsize, right=name == "serverName")
    rev = fwd.copy()
    rev["src"], rev["dst"] = dst, src
    rev["sourceTransportPort"], rev["destinationTransportPort"] = dport, sport
    fwd["packetDeltaCount"], fwd["octetDeltaCount"] = (
        _ints(t, "pkts_toserver"),
        _ints(t, "bytes_toserver"),
    )
    rev["packetDeltaCount"], rev["octetDeltaCount"] = (
        _ints(t, "pkts_toclient"),
        _ints(t, "bytes_toclient"),
    )
    both = np.concatenate([fwd, rev]).astype(dt)  # concatenate gives native byte order
    return both[both["packetDeltaCount"] > 0]


def _ints(t: pa.Table, col: str) -> np.ndarray[Any, Any]:
    c: Any = t.column(col)
    if pa.types.is_timestamp(c.type):
        c = c.cast(pa.int64())
    return np.asarray(c.fill_null(0).to_numpy(), dtype=np.int64)


_PROTO_NUMBERS = {name: n for n, name in PROTO_NAMES.items()}


def _proto_number(p: str) -> int:
    n = _PROTO_NUMBERS.get(p)
    return n if n is not None else (int(p) if p.isdigit() else 255)


def _end_reason(r: str) -> int:
    return END_REASONS.get(r, 4)


def _per_value(col: Any, fn: Callable[[Any], Any], dtype: str, null: Any) -> np.ndarray[Any, Any]:
    """fn(value) for every row, called once per distinct value (hosts, names and reasons
    repeat), `null` where the row has none."""
    enc: Any = pc.dictionary_encode(col.combine_chunks())
    values = [fn(v) for v in enc.dictionary.to_pylist()]
    table = np.array([*values, null], dtype=dtype)
    out: np.ndarray[Any, Any] = table[enc.indices.fill_null(len(values)).to_numpy()]
    return out


def _packed(fam: int, col: Any) -> np.ndarray[Any, Any]:
    """Address text -> network-order bytes."""
    n = 4 if fam == socket.AF_INET else 16
    return _per_value(col, lambda a: socket.inet_pton(fam, a), f"S{n}", b"")


def _fixed(t: pa.Table, col: str, width: int, right: bool = False) -> Any:
    """UTF-8, cut at `width` bytes without splitting a character (numpy pads with NULs).
    `right`: keep the right-hand end, as for a server name, whose registered domain (what a
    collector groups by and a domain signature matched) is its end."""
    if col not in t.column_names:
        return b""

    def cut(v: Any) -> bytes:
        raw = str(v).encode()
        part = raw[-width:] if right and len(raw) > width else raw[:width]
        return part.decode("utf-8", "ignore").encode()

    return _per_value(t.column(col), cut, f"S{width}", b"")
