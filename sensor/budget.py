"""One memory budget (`limits.memory_mb`) split into stated shares, one per structure the
sensor holds per flow or per device, and the limits each structure is given from its share.

This module only hands out limits and reports estimates: every structure keeps its own
counters and enforces its own limit (the flow table evicts, the reassembler refuses a
segment, the TLS/QUIC extractors stop buffering a flow, the DNS cache and the AP tables drop
their oldest entry). Structures that count bytes report exact bytes; the others report their
entries times the bytes one entry was measured to take (tracemalloc, CPython 3.11, 64-bit;
`tests/test_memory_budget.py` measures them again and fails if a figure here is below what
it measures).

The budget is the sensor's: `sensor run -w N` gives each worker `memory_mb / N`. It does not
cover the interpreter and libraries themselves (about 190 MB of RSS before the first
packet), nor the capture ring (`capture.ring_blocks`), which the kernel owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sensor.config import SensorConfig

if TYPE_CHECKING:
    from sensor.pipeline import Pipeline

__all__ = [
    "AP_BYTES",
    "BLOCK_COST",
    "DEAUTH_BYTES",
    "DNS_ENTRY_BYTES",
    "FLOW_BYTES",
    "HEADROOM",
    "PENDING_BYTES",
    "PRINTS_FRACTION",
    "RECORD_BYTES",
    "RESERVE_MIN",
    "SHARES",
    "STRUCTURES",
    "WRITE_WORKING",
    "MemoryBudget",
    "memory_budget",
    "refused",
    "summary_line",
    "used_bytes",
]

MB = 1 << 20

SHARES: dict[str, float] = {
    "flows": 0.50,
    "records": 0.10,
    "holds": 0.125,
    "tls_quic": 0.05,
    "dns": 0.075,
    "wireless": 0.05,
}
"""Fraction of `memory_mb` for each structure, and why that much:

- flows (50%): the flow table is what a sensor is for and what a SYN flood fills; at the
  default 512 MB it holds about 150,000 flows with their fields, far more than a department's
  concurrent conversations (a full table sheds half-open flows first).
- records (10%): ended flows waiting for the next Parquet segment (their numbers and
  fields); a smaller share only means smaller, more frequent segments, never lost records.
- holds (12.5%): out-of-order TCP segments held so a ClientHello split over segments
  arrives whole; 64 MB at the default, what `inspect.hold_mb` defaulted to before.
- tls_quic (5%): TLS handshake records and QUIC CRYPTO frames being reassembled; a hello is
  2-3 KB, so 22 MB is some 8,000 hellos in flight at once (at most 64 KB per flow). HTTP
  heads (at most 16 KB a side) and DNS-over-TCP messages (4 KB a side) waiting for their
  end are held against it too: they were bounded only by the number of flows. An
  eighth of it (3.2 MB) holds the fingerprints of the ClientHello shapes seen (HelloPrints,
  a browser's shape counted as 2.8 KB, 1.8 KB measured: some 1,200 shapes), which a scan of
  large random hellos would otherwise grow.
- dns (7.5%): the DNS answer cache that names IP-only and ECH flows; about 80,000 answers
  at the default, many minutes of a department's lookups (each lives for its TTL, >= 60 s).
- wireless (5%): access points and their deauthentication windows, from a monitor radio;
  17,000 APs at the default, a hundred times what a building hears, so only a beacon flood
  reaches it.

The rest is the reserve (below), not handed out. With a reserve above 10% (budgets under
240 MB), the shares are taken from what is left, in the same proportions."""

HEADROOM = 1.0 - sum(SHARES.values())
"""10%: the reserve's usual fraction."""

RESERVE_MIN = 24 * MB
"""The reserve is at least this (never more than half the budget): what is not held per flow
or device but is used while the sensor works, whatever the budget: writing a segment (Arrow
tables, the Parquet writer, rollups; the first write also sets up Arrow and zstd) peaked 16-20
MB above the table in a 300,000-SYN replay, and a capture block being decoded costs
BLOCK_COST times its size. A fraction alone left 6 MB of a 64 MB budget for this."""

PRINTS_FRACTION = 8
"""The ClientHello fingerprint cache gets 1/8 of the tls_quic share (sensor/extract/tls.py,
HelloPrints): thousands of real shapes, and the hellos in flight keep the rest."""

WRITE_WORKING = 16 * MB
"""The part of the reserve kept for writing segments; the rest sizes the capture block."""

BLOCK_COST = 4
"""A capture file block costs about this many times its size in RSS while it is decoded,
for the smallest frames (its mapped pages, one Python int per frame offset, the numpy
columns): 300,000 SYNs replayed with 8 MB blocks peaked 27 MB higher than with 1 MB blocks.
So a replay reads blocks of (reserve - WRITE_WORKING) / BLOCK_COST, between 1 and 8 MB."""

STRUCTURES = tuple(SHARES)

FLOW_BYTES = 1792
"""One flow in the table: its FlowState with the fields of a TLS flow (server name, SNI,
ALPN, version, JA3, JA4, first payload bytes: 1,348 B measured) and its entries in the
table's index dicts and queues (about 340 B: a SYN-only flow measured 887 B in the table).
A flood's half-open flows take about half of this, so the bound is conservative for them."""

PENDING_BYTES = 448
"""One half-open flow kept as a row of the flow table's pending tier (sensor/flow/pending.py):
19 numbers, its index buckets and its free-list entry, with the arrays' doubling (359 B
measured at 600,000 rows, 442 B at the peak of a growth)."""

RECORD_BYTES = 1216
"""One ended flow waiting for its segment: 18 numbers (376 B measured) and the flow's field
dict, which the buffer keeps (about 840 B for a TLS flow)."""

DNS_ENTRY_BYTES = 480
"""One DNS answer in the cache: key, (name, seen, expires) and the LRU links (463 B measured
with 23-character names)."""

AP_BYTES = 576
"""One access point (535 B measured: BSSID, an SSID, vendor, indicators, LRU links)."""

DEAUTH_BYTES = 960
"""One BSSID's deauthentication window (928 B measured: a deque of up to `deauth_burst`
times and its LRU links). `max_aps` bounds both tables, so each slot of it costs both."""


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """The shares in bytes and the limits derived from them (for one worker)."""

    total: int
    """limits.memory_mb in bytes (divided among workers): the shares plus the reserve."""
    shares: dict[str, int]
    """Bytes per structure (STRUCTURES); holds is lowered by an explicit inspect.hold_mb."""
    max_flows: int
    """min(flow.max_flows, flows share / PENDING_BYTES): a count; the table also keeps its
    bytes (FlowStates at FLOW_BYTES, pending rows at PENDING_BYTES) within the flows share."""
    flush_rows: int
    """min(storage.flush_rows, records share / RECORD_BYTES)."""
    hold_bytes: int
    """The holds share, or inspect.hold_mb if that is set and smaller."""
    buffer_bytes: int
    """The tls_quic share less prints_bytes: TLS and QUIC handshake bytes buffered by all
    flows."""
    prints_bytes: int
    """PRINTS_FRACTION of the tls_quic share: the ClientHello fingerprint cache."""
    dns_names: int
    """min(inspect.dns_names, dns share / DNS_ENTRY_BYTES)."""
    max_aps: int
    """min(policy.wireless.max_aps, wireless share / (AP_BYTES + DEAUTH_BYTES))."""
    block_bytes: int
    """Capture file block a replay reads and decodes at once (from the reserve)."""

    def limits(self) -> dict[str, int]:
        """The entry limits derived for the structures that count entries (the others,
        holds and tls_quic, count bytes against their share itself)."""
        return {
            "flows": self.max_flows,
            "records": self.flush_rows,
            "dns": self.dns_names,
            "wireless": self.max_aps,
        }


def memory_budget(cfg: SensorConfig, workers: int = 1) -> MemoryBudget:
    """Split `limits.memory_mb` (over `workers` capture processes) into its shares and
    derive every structure's limit. An explicit count in the config (flow.max_flows,
    inspect.dns_names, policy.wireless.max_aps, storage.flush_rows, inspect.hold_mb) still
    applies when it is lower: the budget only ever lowers a limit."""
    total = int(cfg.limits.memory_mb * MB) // max(1, workers)
    reserve = min(max(int(total * HEADROOM), RESERVE_MIN), total // 2)
    rest = (total - reserve) / sum(SHARES.values())
    shares = {k: int(rest * f) for k, f in SHARES.items()}
    per_ap = AP_BYTES + DEAUTH_BYTES
    if cfg.inspect.hold_mb is not None:  # an explicit hold_mb may only lower the share
        shares["holds"] = min(shares["holds"], int(cfg.inspect.hold_mb * MB))
    hold = shares["holds"]
    return MemoryBudget(
        total=total,
        shares=shares,
        max_flows=max(1, min(cfg.flow.max_flows, shares["flows"] // PENDING_BYTES)),
        flush_rows=max(1, min(cfg.storage.flush_rows, shares["records"] // RECORD_BYTES)),
        hold_bytes=hold,
        buffer_bytes=shares["tls_quic"] - shares["tls_quic"] // PRINTS_FRACTION,
        prints_bytes=shares["tls_quic"] // PRINTS_FRACTION,
        dns_names=min(cfg.inspect.dns_names, shares["dns"] // DNS_ENTRY_BYTES),
        max_aps=max(1, min(cfg.policy.wireless.max_aps, shares["wireless"] // per_ap)),
        block_bytes=max(MB, min(8 * MB, (reserve - WRITE_WORKING) // BLOCK_COST)),
    )


def used_bytes(pipe: Pipeline, records_waiting: int = 0) -> dict[str, int]:
    """Estimated bytes each structure holds now: exact where the structure counts bytes
    (holds, tls_quic), else its entries times the measured size of one."""
    w = pipe.wireless
    return {
        "flows": pipe.table.bytes_used,
        "records": records_waiting * RECORD_BYTES,
        "holds": pipe.inspector.budget.held,
        "tls_quic": pipe.buffers.held + pipe.prints.nbytes,
        "dns": len(pipe.names) * DNS_ENTRY_BYTES,
        "wireless": len(w.aps) * AP_BYTES + w.deauth_targets * DEAUTH_BYTES,
    }


def refused(pipe: Pipeline) -> dict[str, int]:
    """What each structure gave up at its limit: flows evicted from a full table, segments
    not held, flows whose handshake was not buffered, DNS answers and access points (or
    deauth windows) pushed out. Records have none: a full buffer is written early."""
    w = pipe.wireless
    return {
        "flows": pipe.table.ended.get("evicted", 0),
        "holds": pipe.inspector.budget.refused,
        "tls_quic": pipe.buffers.refused,
        "dns": pipe.names.evicted,
        "wireless": w.evicted + w.deauths_evicted,
    }


def summary_line(pipe: Pipeline) -> str:
    """One line for the replay summary: per structure, the highest estimated MB it held
    (sampled after every sub-batch) against its share, and what it gave up at its limit."""
    b, gone = pipe.budget, refused(pipe)
    peak = dict(pipe.memory_peak)  # the byte-counted ones know their own exact peak
    peak["holds"] = max(peak["holds"], pipe.inspector.budget.peak)
    peak["tls_quic"] = max(peak["tls_quic"], pipe.buffers.peak + pipe.prints.nbytes)
    parts = []
    for name in STRUCTURES:
        if name == "records":  # written early when full: bounded by construction
            parts.append(f"records <={b.flush_rows:,} rows/{b.shares[name] / MB:.1f}")
            continue
        part = f"{name} {peak[name] / MB:.1f}/{b.shares[name] / MB:.1f}"
        parts.append(part + (f" ({gone[name]:,} refused)" if gone.get(name) else ""))
    return f"memory peak/budget MB (limits.memory_mb={b.total / MB:g}): " + ", ".join(parts)
