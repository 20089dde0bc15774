"""The flow table under a SYN flood: cost per flow stays flat, established flows survive."""

from __future__ import annotations

import gc
import time
from pathlib import Path

from sensor.capture.pcapfile import open_capture
from sensor.decode.decoder import Decoder
from sensor.flow.state import FlowState
from sensor.flow.table import FlowTable, FlowTimeouts
from tests.tools.hostile import ETH, pcap, tcp

T0 = 1_764_086_400.0


def _syns(n: int, start: int = 0) -> list[tuple[float, bytes]]:
    return [
        (T0 + (start + i) * 20e-6, ETH + tcp(0x0B000000 + start + i, 1024 + i % 60000,
                                            0x0A000002, 443, 0x02, i))
        for i in range(n)
    ]  # fmt: skip


def _sweep_seconds_per_flow(path: Path, n: int) -> float:
    """Fill a table with n SYN flows, then time the one expiry sweep that ends them all."""
    ended: list[str] = []
    table = FlowTable(FlowTimeouts(tcp=60.0), 1_000_000, lambda f, r: ended.append(r))
    dec = Decoder()
    src = open_capture(path)
    for batch in src.batches():
        table.update(dec.decode(batch))
    src.close()
    assert len(table) == n
    gc.disable()  # a collection landing inside one short timing is noise, not the table
    try:
        t = time.perf_counter()
        table.expire(table.now + 61 * 10**9)
        spent = time.perf_counter() - t
    finally:
        gc.enable()
    assert len(table) == 0 and len(ended) == n
    return spent / n


def test_an_expiry_sweep_costs_the_same_per_flow_at_any_size(tmp_path: Path) -> None:
    small, big = tmp_path / "s.pcap", tmp_path / "b.pcap"
    small.write_bytes(pcap(_syns(20_000)))
    big.write_bytes(pcap(_syns(160_000)))
    per: dict[str, list[float]] = {"small": [], "big": []}
    for _ in range(3):  # interleaved: machine load hits both alike
        per["small"].append(_sweep_seconds_per_flow(small, 20_000))
        per["big"].append(_sweep_seconds_per_flow(big, 160_000))
    ratio = min(per["big"]) / min(per["small"])
    print(f"expiry sweep cost per flow, 160k vs 20k flows: {ratio:.2f}x")
    assert ratio < 3.0  # measured 1.1x; the plain-dict queues of before: 6-9x


def test_a_full_table_sheds_the_flood_not_established_flows(tmp_path: Path) -> None:
    est = [
        (T0, ETH + tcp(0x0A000001, 5000, 0x0A000002, 443, 0x02)),
        (T0 + 0.001, ETH + tcp(0x0A000002, 443, 0x0A000001, 5000, 0x12)),
    ]
    p = tmp_path / "x.pcap"
    later = [(t + 0.01, f) for t, f in _syns(5000)]
    p.write_bytes(pcap([*est, *later, (T0 + 1, est[0][1])]))
    ends: list[tuple[FlowState, str]] = []
    table = FlowTable(FlowTimeouts(), 100, lambda f, r: ends.append((f, r)))
    dec = Decoder()
    src = open_capture(p)
    for batch in src.batches():
        table.update(dec.decode(batch))
    table.flush("eof")
    by_port = {f.key: r for f, r in ends}
    established = [r for f, r in ends if f.answered]
    assert established == ["eof"]  # kept, with its last packet, though 5000 flows came after
    assert table.shed == 5000 + 1 - 100
    assert sum(r == "evicted" for r in by_port.values()) == table.shed


def test_one_packet_from_2105_ends_no_flow(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    flows = [(T0 + i, ETH + tcp(0x0A000001, 5000 + k, 0x0A000002, 443, 0x10))
             for i in range(3) for k in range(50)]  # fmt: skip
    stray = (4_290_000_000.0, ETH + tcp(0x0A000009, 1, 0x0A000002, 443, 0x10))  # year 2105
    p = tmp_path / "jump.pcap"
    p.write_bytes(pcap([*flows[:75], stray, *flows[75:]]))
    db, _ = replay([p])
    reasons = dict(db.execute("SELECT end_reason, count(*) FROM flows GROUP BY 1").fetchall())
    assert reasons == {"eof": 51}


def _conversations(n: int) -> list[tuple[float, bytes]]:
    """n packets of 20-packet TCP conversations (bench/flood.py's normal traffic, TCP half)."""
    out = []
    for i in range(n):
        conv = i // 20
        c, s, port = 0x0A010000 + conv % 500, 0x0A020000 + conv % 50, 20000 + conv % 40000
        ip = tcp(c, port, s, 443, 0x10) if i % 2 == 0 else tcp(s, 443, c, port, 0x10)
        out.append((T0 + i * 20e-6, ETH + ip))
    return out


def test_a_half_open_flow_costs_the_same_at_any_flood_size(
    tmp_path: Path,
    replay,  # type: ignore[no-untyped-def]
) -> None:
    """End to end (table, classifier, records, segments), each SYN of a flood is a flow and a
    record: its cost must not grow with the number of flows alive at once (the collector
    rescanning every live flow made it), nor drift far from a packet of normal traffic."""
    sizes = {"normal": 20_000, "small": 20_000, "big": 120_000}
    caps = {k: tmp_path / f"{k}.pcap" for k in sizes}
    caps["normal"].write_bytes(pcap(_conversations(sizes["normal"])))
    caps["small"].write_bytes(pcap(_syns(sizes["small"])))
    caps["big"].write_bytes(pcap(_syns(sizes["big"])))
    per: dict[str, list[float]] = {k: [] for k in sizes}
    for run in range(3):  # interleaved: machine load hits all alike
        for kind, p in caps.items():
            db, summary = replay([p], name=f"{kind}{run}")
            db.close()
            assert summary.records == (sizes[kind] // 20 if kind == "normal" else sizes[kind])
            per[kind].append(summary.seconds / sizes[kind])
    growth = min(per["big"]) / min(per["small"])
    vs_normal = min(per["small"]) / min(per["normal"])
    print(f"cost per SYN, 120k vs 20k flows: {growth:.2f}x; SYN vs normal packet: {vs_normal:.1f}x")
    assert growth < 1.5
    assert vs_normal < 15.0
