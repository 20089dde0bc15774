"""One memory budget (limits.memory_mb, issue 13): the shares and the limits derived from them,
the unit sizes they assume (measured again here with tracemalloc), the TLS/QUIC handshake
buffers' budget, the metrics, and three floods replayed by `sensor replay` in a child process
whose peak RSS, less the same command's on a tiny capture, must stay within the budget."""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bench.flood import syn_flood
from sensor.budget import (
    AP_BYTES,
    DEAUTH_BYTES,
    DNS_ENTRY_BYTES,
    FLOW_BYTES,
    HEADROOM,
    MB,
    PENDING_BYTES,
    PRINTS_FRACTION,
    RECORD_BYTES,
    RESERVE_MIN,
    SHARES,
    memory_budget,
)
from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.classify.policy import WirelessPolicy
from sensor.config import FlowConfig, InspectConfig, LimitsConfig, SensorConfig, load_config
from sensor.errors import CaptureError, ConfigError
from sensor.extract import ByteBudget, DnsNames, Inspector, default_extractors
from sensor.extract.inspector import SEGMENT_OVERHEAD
from sensor.flow.pending import PendingFlows
from sensor.flow.state import FlowState
from sensor.metrics import collector_for
from sensor.pipeline import Pipeline
from sensor.sinks import default_sinks
from sensor.sinks.records import RecordBuffer
from sensor.wireless import WirelessMonitor
from tests.conftest import REPO, corpus_pcaps
from tests.test_wireless_flood import _batch, _flood
from tests.tools.hostile import ETH, pcap, tcp

T0 = 1_764_086_400.0
NS = 1_000_000_000

# --- shares and derived limits ------------------------------------------------------------


def test_the_default_budget_and_what_it_derives() -> None:
    b = memory_budget(SensorConfig())
    assert b.total == 512 * MB and sum(b.shares.values()) <= b.total
    assert abs(sum(SHARES.values()) + HEADROOM - 1) < 1e-9 and HEADROOM >= 0.05
    assert b.shares["holds"] == 64 * MB == b.hold_bytes  # what inspect.hold_mb defaulted to
    # a count bound for cheap half-open rows; FlowStates are bounded by the share's bytes
    assert b.max_flows == min(500_000, 256 * MB // PENDING_BYTES) == 500_000
    assert b.flush_rows == min(20_000, int(51.2 * MB) // RECORD_BYTES) == 20_000  # storage
    assert b.dns_names == int(38.4 * MB) // DNS_ENTRY_BYTES
    assert b.max_aps == int(25.6 * MB) // (AP_BYTES + DEAUTH_BYTES)
    assert b.block_bytes == 8 * MB


def test_explicit_limits_apply_when_lower_and_never_raise_a_share() -> None:
    cfg = SensorConfig(
        flow=FlowConfig(max_flows=1000),
        inspect=InspectConfig(hold_mb=4096, dns_names=10),
        limits=LimitsConfig(memory_mb=64),
    )
    b = memory_budget(cfg)
    assert (b.max_flows, b.dns_names) == (1000, 10)
    assert b.hold_bytes == b.shares["holds"] < 8 * MB  # hold_mb 4096 asked for more
    lower = memory_budget(replace(cfg, inspect=InspectConfig(hold_mb=2)))
    assert lower.hold_bytes == lower.shares["holds"] == 2 * MB
    assert memory_budget(cfg, workers=4).total == 16 * MB  # one budget, split among workers


def test_memory_mb_in_the_config_file(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("limits: {memory_mb: 64}\ninspect: {hold_mb: 2}\n")
    cfg = load_config(p)
    assert cfg.limits.memory_mb == 64 and memory_budget(cfg).hold_bytes == 2 * MB
    p.write_text("flow: {max_flows: 10}\nlimits:\n  memory_mb: 2\n")
    with pytest.raises(ConfigError, match=r"s.yaml:3: limits: memory_mb must be between 8"):
        load_config(p)


def test_the_pipeline_takes_every_limit_from_the_budget() -> None:
    cfg = SensorConfig(limits=LimitsConfig(memory_mb=64))
    pipe = Pipeline(cfg, [])
    b = pipe.budget
    # a small budget keeps a reserve of 24 MB and shares out the other 40 MB
    assert 0 <= b.total - sum(b.shares.values()) - RESERVE_MIN < 8  # int rounding
    assert b.shares["flows"] == int(40 * MB * SHARES["flows"] / sum(SHARES.values()))
    assert pipe.table._max == b.max_flows == b.shares["flows"] // PENDING_BYTES == 52_012
    assert pipe.table._max_bytes == b.shares["flows"]  # 13,003 FlowStates
    assert pipe.inspector.budget.limit == b.hold_bytes == b.shares["holds"]
    assert pipe.prints.max_bytes == b.prints_bytes == b.shares["tls_quic"] // PRINTS_FRACTION
    assert pipe.buffers.limit == b.buffer_bytes == b.shares["tls_quic"] - b.prints_bytes
    assert b.block_bytes == 2 * MB
    assert pipe.names._size == b.dns_names
    assert pipe.wireless.policy.max_aps == b.max_aps


# --- the unit sizes the budget assumes ----------------------------------------------------


def _traced(build: Callable[[int], Any], n: int) -> float:
    """Bytes per item that `build(n)` keeps allocated (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build(n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return (after - before) / n


def _tls_flow(i: int) -> FlowState:
    """A FlowState with the fields a TLS flow gets (server name, SNI, fingerprints, heads)."""
    t = 1_764_086_400 * NS + i * 1000
    f = FlowState((i, 0x0A000001 + i, 0, 0x5D000002, 443 << 24 | (i & 0xFFFF) << 8 | 6),
                  0x1234567890AB + i, True, 6, t, t, t + 5 * NS)  # fmt: skip
    f.pkts_ts, f.bytes_ts, f.pkts_tc, f.bytes_tc = 10, 100_000 + i, 12, 200_000 + i
    sni = f"host{i}.example.com"
    f.meta.update({
        "_head.toserver": bytes(64), "_head.toserver_len": 517,
        "_head.toclient": bytes(64), "_head.toclient_len": 1400,
        "app_proto": "tls", "tls.sni": sni, "server_name": sni, "server_name_source": "tls",
        "tls.alpn": "h2,http/1.1", "tls.version": "TLS 1.3", "tls.ech": False,
        "ja4": "t13d1516h2_8daaf6152771_02713d6af862", "ja3": "cd08e31494f9531f560d64c695473da9",
        "tls.alpn_selected": "h2",
    })  # fmt: skip
    return f


def test_unit_sizes_are_not_below_what_tracemalloc_measures(tmp_path: Path) -> None:
    # a flow: its FlowState with a TLS flow's fields, plus the table's index entries
    # (a SYN-only flow in a real table, less a bare FlowState)
    p = tmp_path / "syn.pcap"
    p.write_bytes(syn_flood(20_000))

    big = SensorConfig(limits=LimitsConfig(memory_mb=2048))  # nothing refused
    pipes = [Pipeline(big, []) for _ in range(2)]  # built before the tracing

    def table(n: int) -> Pipeline:
        pipe = pipes[0]
        for batch in open_capture(p).batches():
            pipe.process(batch)
        assert len(pipe.table) == n
        return pipe

    def bare(n: int) -> list[FlowState]:
        out = []
        for i in range(n):
            t = 1_764_086_400 * NS + i * 1000
            out.append(FlowState((i, i, 0, 0x0A000002, 443 << 24), i, True, 6, t, t, t))
        return out

    in_table = _traced(table, 20_000)
    index = in_table - _traced(bare, 20_000)
    tls = _traced(lambda n: [_tls_flow(i) for i in range(n)], 20_000)

    # a flow while it is inspected, 8 segments held: its state beyond the held bytes, which
    # the holds share counts (payload and SEGMENT_OVERHEAD each)
    h = tmp_path / "holds.pcap"
    _holds(h, 10_000)

    def holding(n: int) -> Pipeline:
        pipe = pipes[1]
        for batch in open_capture(h).batches():
            pipe.process(batch)
        assert len(pipe.table) == n and pipe.inspector.budget.refused == 0
        return pipe

    with_holds = _traced(holding, 10_000) - 8 * (1460 + SEGMENT_OVERHEAD)

    def dns(n: int) -> DnsNames:
        names = DnsNames(n)
        for i in range(n):
            name = f"www.host{i}.example.com"
            names.learn((0, 0x0A000000 + i % 5000), (0, 0x5D000000 + i), name, 300, i)
        return names

    def aps(frames: list[tuple[float, bytes]]) -> Callable[[int], WirelessMonitor]:
        def build(n: int) -> WirelessMonitor:
            policy = WirelessPolicy(max_aps=10**9, alerts_per_minute=10**9)
            mon = WirelessMonitor(policy, lambda e: None)
            for k in range(0, len(frames), 4000):
                mon.process(_batch(frames[k : k + 4000]))
            mon.take_changed()
            return mon

        return build

    flood = _flood(10_000)
    ap = _traced(aps(flood[0::2]), 10_000)
    ap_and_deauth = _traced(aps(flood), 10_000)

    def records(n: int) -> RecordBuffer:
        buf = RecordBuffer()
        for i in range(n):
            buf.append(_tls_flow(i), "fin")
        return buf

    record = _traced(records, 20_000)  # the buffer keeps the numbers and the field dict

    def pending(n: int) -> PendingFlows:
        p = PendingFlows()
        for at in range(0, n, 16_384):
            k = min(16_384, n - at)
            c = {f: np.arange(at, at + k, dtype=np.int64) for f in ("k0", "k1", "k2", "k3", "pp")}
            c["h"] = np.random.default_rng(at).integers(-(2**62), 2**62, k)
            p.add(c)
        return p

    measured = {
        "pending row": (_traced(pending, 600_000), PENDING_BYTES),
        "flow": (tls + index, FLOW_BYTES),
        "flow being inspected": (with_holds, FLOW_BYTES),
        "record": (record, RECORD_BYTES),
        "dns": (_traced(dns, 50_000), DNS_ENTRY_BYTES),
        "ap": (ap, AP_BYTES),
        "deauth": (ap_and_deauth - ap, DEAUTH_BYTES),
    }
    print("\n" + ", ".join(f"{k} {m:.0f} B (budget {c})" for k, (m, c) in measured.items()))
    print(f"SYN-only flow in the table {in_table:.0f} B, table index {index:.0f} B")
    for name, (got, assumed) in measured.items():
        assert got <= assumed, f"{name}: measured {got:.0f} B, the budget assumes {assumed}"
        assert got >= assumed * 0.6, f"{name}: {assumed} B is far above the {got:.0f} B measured"


# --- TLS and QUIC handshake buffers -------------------------------------------------------


def _pending_hellos(n: int, size: int = 3000) -> list[tuple[FlowState, bytes]]:
    """n TLS flows whose client sent the first 1,400 bytes of a `size`-byte handshake record:
    the extractor must buffer them and wait for the rest, which never comes."""
    out = []
    for i in range(n):
        t = 1_764_086_400 * NS + i
        key = (0, 0x0A000001 + i, 0, 0x5D000002, 443 << 24 | 50_000 << 8 | 6)
        flow = FlowState(key, i, True, 6, t, t, t)
        record = b"\x16\x03\x01" + size.to_bytes(2, "big") + b"\x01\x00" + bytes(1393)
        out.append((flow, record[:1400]))
    return out


def test_tls_handshake_buffers_share_one_budget() -> None:
    names = DnsNames()
    budget = ByteBudget(100 * 1400)
    insp = Inspector(default_extractors(names, budget), 16, names)
    flows = _pending_hellos(1000)
    for flow, data in flows:
        insp.start(flow)
        insp.feed(flow, data, True, flow.ts_first, 0)
    assert budget.held == budget.peak == 100 * 1400  # 100 flows buffered, the rest refused
    assert budget.refused == 900
    assert sum(1 for f, _ in flows if f.inspecting) == 100
    for flow, _ in flows:
        insp.release(flow)  # the flows end
    assert budget.held == 0


def test_a_tls_flow_that_completes_gives_its_bytes_back(tmp_path: Path) -> None:
    from scapy.utils import wrpcap

    from tests.tools.synth import client_hello, tcp_session

    hello = client_hello("chatgpt.com", key_share_bytes=1216)
    p = tmp_path / "tls.pcap"
    pkts = tcp_session(("10.20.1.11", 50000), ("104.18.32.47", 443), T0,
                       [(True, hello[:700]), (True, hello[700:])])  # fmt: skip
    wrpcap(str(p), pkts)
    got: list[FlowState] = []

    class _Keep:
        name = "keep"

        def write_flow(self, flow: FlowState, reason: str) -> None:
            got.append(flow)

        def flush(self, force: bool = False) -> None:
            pass

        def close(self) -> None:
            pass

    pipe = Pipeline(SensorConfig(), [_Keep()])
    pipe.run([open_capture(p)])
    assert got and got[0].meta.get("tls.sni") == "chatgpt.com"
    assert pipe.buffers.peak >= 700 and pipe.buffers.held == 0 and pipe.buffers.refused == 0


def test_quic_crypto_frames_share_the_budget() -> None:
    from sensor.extract.quic import _CHUNK_BYTES, QuicExtractor
    from tests.tools.synth import client_hello
    from tests.unit.extract.test_quic import DCID, _crypto, protect

    hello = client_hello("chatgpt.com", key_share_bytes=1216, alpn=("h3",))[5:]
    half = len(hello) // 2
    first = protect(0x00000001, DCID, 0, _crypto(0, hello[:half]))
    cost = half + _CHUNK_BYTES  # a kept frame's data and what keeping it costs
    budget = ByteBudget(3 * cost)
    ext = QuicExtractor(budget)
    scratches = []
    for i in range(5):
        t = 1_764_086_400 * NS + i
        key = (0, 0x0A000001 + i, 0, 0x5D000002, 443 << 24 | 50_000 << 8 | 17)
        flow = FlowState(key, i, True, 17, t, t, t)
        scratch: dict[str, Any] = {}
        done = ext.feed(flow, first, True, t, scratch)  # half a hello: kept, waiting
        assert done is (i >= 3)
        scratches.append(scratch)
    assert budget.held == 3 * cost and budget.refused == 2
    for scratch in scratches:
        ext.release(scratch)
    assert budget.held == 0


@pytest.mark.corpus
def test_every_buffered_byte_is_given_back_over_the_corpus() -> None:
    """Handshakes completed, tunnels re-probed, flows ended mid-hello: whichever way a flow's
    buffers go, their bytes come back to the budgets (none leaks, so none is refused)."""
    pcaps = corpus_pcaps()
    if not pcaps:
        pytest.skip("../shared/corpus is absent")
    pipe = Pipeline(SensorConfig(), [])
    sources = []
    for p in pcaps:
        try:
            sources.append(open_capture(p))
        except CaptureError:
            continue
    pipe.run(sources)
    print(f"\ncorpus: TLS/QUIC buffers peak {pipe.buffers.peak:,} B, "
          f"holds peak {pipe.inspector.budget.peak:,} B")  # fmt: skip
    assert pipe.summary.records > 2000 and pipe.buffers.peak > 0
    assert pipe.buffers.held == 0 and pipe.buffers.refused == 0
    assert pipe.inspector.budget.held == 0
    assert pipe.inspector.extra_bytes == 0  # every flow's fields charge came back at its end


def test_the_memory_metrics(tmp_path: Path) -> None:
    cfg = SensorConfig(limits=LimitsConfig(memory_mb=64))
    cfg = replace(cfg, storage=replace(cfg.storage, catalog=tmp_path / "m.duckdb"))
    clf = build_classifier(cfg.signatures, cfg.policy)
    sinks = default_sinks(cfg, dict(clf.provisions))
    pipe = Pipeline(cfg, list(sinks), clf)
    p = tmp_path / "syn.pcap"
    n = pipe.budget.max_flows + 8_000  # half-open rows: 52,012 fit in the 64 MB budget
    p.write_bytes(syn_flood(n))
    src = open_capture(p)
    for batch in src.batches():
        pipe.process(batch)
    reg = CollectorRegistry()
    reg.register(collector_for(pipe, sinks, "t1", "d4"))
    text = generate_latest(reg).decode()
    pipe.finish("eof")

    def value(name: str, structure: str) -> float:
        m = re.search(rf'^{name}{{sensor="t1",site="d4",structure="{structure}"}} (\S+)$',
                      text, re.M)  # fmt: skip
        assert m, (name, structure)
        return float(m.group(1))

    for s in SHARES:
        assert value("sensor_memory_budget_bytes", s) == pipe.budget.shares[s]
    full = pipe.budget.max_flows
    # a full table of half-open flows: pending rows, not FlowStates
    assert value("sensor_memory_used_bytes", "flows") == full * PENDING_BYTES
    assert value("sensor_memory_limit_entries", "flows") == full
    assert value("sensor_memory_refused_total", "flows") == n - full
    assert value("sensor_memory_used_bytes", "holds") == 0
    assert value("sensor_memory_refused_total", "tls_quic") == 0


# --- floods through `sensor replay`, peak RSS of the child ---------------------------------

CHILD = """
import sys
from sensor.cli import main
rc = main(sys.argv[1:])
with open("/proc/self/status") as f:  # VmHWM: this program's own peak (ru_maxrss would
    hwm = next(x for x in f if x.startswith("VmHWM:"))  # carry the parent's over exec)
print("peak_rss_kb", hwm.split()[1], file=sys.stderr)
sys.exit(rc)
"""
BUDGET_MB = 64
SMALL = memory_budget(SensorConfig(limits=LimitsConfig(memory_mb=BUDGET_MB)))


def _replay(tmp: Path, capture: Path, memory_mb: int = BUDGET_MB) -> tuple[float, str]:
    """Peak RSS (MB) and stdout of `sensor replay` with limits.memory_mb, fresh store."""
    cfg = tmp / f"m{memory_mb}.yaml"
    cfg.write_text(f"limits: {{memory_mb: {memory_mb}}}\n")
    db = tmp / f"{capture.stem}-{memory_mb}.duckdb"
    res = subprocess.run(
        [sys.executable, "-c", CHILD, "replay", "-c", str(cfg), "--db", str(db), str(capture)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return int(res.stderr.rsplit("peak_rss_kb", 1)[1].split()[0]) / 1024, res.stdout


def _memory(stdout: str) -> dict[str, tuple[float, float, int]]:
    """The summary's memory line: structure -> (peak MB, budget MB, refused)."""
    line = next(x for x in stdout.splitlines() if x.startswith("memory peak/budget MB"))
    out = {}
    for m in re.finditer(r"(\w+) ([\d.]+)/([\d.]+)(?: \(([\d,]+) refused\))?", line):
        out[m.group(1)] = (
            float(m.group(2)),
            float(m.group(3)),
            int((m[4] or "0").replace(",", "")),
        )
    return out


@pytest.mark.slow  # ~20 s: 400,000 frames
def test_200k_fake_beacons_and_200k_deauths_within_the_budget(tmp_path: Path) -> None:
    small = tmp_path / "air-small.pcap"
    small.write_bytes(pcap(_flood(100), linktype=127))
    baseline, _ = _replay(tmp_path, small)  # the same code paths, with 100 frames
    p = tmp_path / "air.pcap"
    p.write_bytes(pcap(_flood(200_000), linktype=127))  # 0.5 ms apart: 100 s of air time
    rss, out = _replay(tmp_path, p)
    mem = _memory(out)
    print(f"\n200k beacons + 200k deauths, memory_mb {BUDGET_MB}: peak RSS {rss:.0f} MB "
          f"(+{rss - baseline:.0f} over baseline); {mem['wireless']}")  # fmt: skip
    assert rss - baseline <= BUDGET_MB
    peak, share, evicted = mem["wireless"]
    assert peak <= share and evicted == 2 * (200_000 - SMALL.max_aps)  # APs and deauths
    con = duckdb.connect(str(tmp_path / f"air-{BUDGET_MB}.duckdb"), read_only=True)
    per_minute = con.execute(
        "SELECT count(*) FROM alerts GROUP BY date_trunc('minute', ts) ORDER BY 1 DESC"
    ).fetchall()
    # alerts_per_minute (10), plus the flood summaries: the previous minute's, dated when it
    # closed, and at the end of the capture the last minute's
    assert per_minute and per_minute[0][0] <= 12
    total = sum(n for (n,) in per_minute)
    floods = con.execute("SELECT count(*) FROM alerts WHERE signature_id = 10006").fetchone()
    print(f"alerts: {total} in 100 s of capture ({floods[0] if floods else 0} flood summaries)")
    assert total <= 2 * 11 and floods == (2,)


def _holds(path: Path, flows: int) -> None:
    """Each flow: a SYN, then the 8 full segments (1,460 B) the reassembler holds at most,
    all past a first segment that never comes: 584 MB to hold without a budget."""
    with path.open("wb") as f:
        f.write(pcap([]))
        body = b"\x17" * 1460
        for k in range(flows):
            c, port, t = 0x0A010000 + k % 60000, 1024 + k % 50000, T0 + k * 1e-4
            frames = [(t, ETH + tcp(c, port, 0x0A000002, 443, 0x02, seq=1000))]
            frames += [(t, ETH + tcp(c, port, 0x0A000002, 443, 0x18, 1001 + 1460 * (i + 1), body))
                       for i in range(8)]  # fmt: skip
            f.write(pcap(frames)[24:])


@pytest.mark.slow  # ~25 s: 450,000 frames, 660 MB of capture
def test_50000_flows_with_maximal_out_of_order_holds_within_the_budget(tmp_path: Path) -> None:
    small = tmp_path / "holds-small.pcap"
    _holds(small, 20)
    baseline, _ = _replay(tmp_path, small)  # the same code paths, with 20 flows
    p = tmp_path / "holds.pcap"
    _holds(p, 50_000)
    rss, out = _replay(tmp_path, p)
    p.unlink()
    mem = _memory(out)
    print(f"\n50,000 flows x 8 held segments, memory_mb {BUDGET_MB}: peak RSS {rss:.0f} MB "
          f"(+{rss - baseline:.0f} over baseline); holds {mem['holds']}")  # fmt: skip
    assert "flows=50000 " in out
    assert rss - baseline <= BUDGET_MB
    peak, share, refused = mem["holds"]
    assert share == round(SMALL.hold_bytes / MB, 1) and share - 0.1 <= peak <= share
    # the share holds 3,743 segments (1,460 + 96 B each): the 400,000 others were refused,
    # less those that found room when a flow left the table (13,003 flows fit)
    held = SMALL.hold_bytes // (1460 + SEGMENT_OVERHEAD)
    assert 350_000 <= refused < 400_000 - held
    assert mem["flows"][2] == 50_000 - SMALL.shares["flows"] // FLOW_BYTES  # FlowStates


@pytest.mark.slow  # ~20 s: 300,000 SYNs
def test_syn_flood_within_the_budget(tmp_path: Path) -> None:
    small = tmp_path / "syn-small.pcap"
    small.write_bytes(syn_flood(100))
    baseline, _ = _replay(tmp_path, small)  # the same code paths, with 100 SYNs
    p = tmp_path / "syn.pcap"
    p.write_bytes(syn_flood(300_000))
    rss, out = _replay(tmp_path, p)
    mem = _memory(out)
    print(f"\n300,000 SYNs, memory_mb {BUDGET_MB}: peak RSS {rss:.0f} MB "
          f"(+{rss - baseline:.0f} over baseline); flows {mem['flows']}")  # fmt: skip
    assert rss - baseline <= BUDGET_MB
    peak, share, shed = mem["flows"]
    assert peak <= share == round(SMALL.shares["flows"] / MB, 1)
    max_flows = SMALL.max_flows
    assert shed == 300_000 - max_flows  # every flow past the table's limit, counted
    assert re.search(rf"evicted={shed}\b", out)


def _loaded_tls_flows(path: Path, n: int) -> None:
    """`n` TLS 1.2 connections left open, each server's certificate at the caps: a 4 KB
    subject and issuer (what a sender controls, past what a flow's measured size holds)."""
    import datetime as dt
    import struct

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from scapy.utils import wrpcap

    from tests.tools.synth import client_hello, tcp_session

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "o" * 64)] * 70)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    der = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    )  # fmt: skip

    def record(hs: bytes) -> bytes:
        return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs

    body = b"\x03\x03" + b"\x55" * 32 + b"\x00" + b"\xc0\x2f\x00" + b"\x00\x00"
    hello = b"\x02" + len(body).to_bytes(3, "big") + body
    chain = len(der).to_bytes(3, "big") + der
    certs = len(chain).to_bytes(3, "big") + chain
    flight = record(hello) + record(b"\x0b" + len(certs).to_bytes(3, "big") + certs)
    pkts = []
    for i in range(n):
        exchange = [(True, client_hello(f"h{i}.example")), (False, flight[:1400]),
                    (False, flight[1400:])]  # fmt: skip
        client, server = (f"10.20.{i // 250}.{i % 250 + 1}", 40000 + i), ("203.0.113.7", 443)
        pkts += tcp_session(client, server, 1_764_086_400 + i * 0.01, exchange, close=False)
    wrpcap(str(path), pkts)


def test_a_flow_table_of_loaded_flows_counts_their_fields(tmp_path: Path) -> None:
    """Fields past what a flow's measured size holds are charged to the table while the
    flow is in it, and given back when it ends."""
    from sensor.extract.base import FIELDS_INCLUDED

    p = tmp_path / "loaded.pcap"
    _loaded_tls_flows(p, 60)
    pipe = Pipeline(SensorConfig(), [])
    for batch in open_capture(p).batches():
        pipe.process(batch)
    flows = list(pipe.table._objects.flows.values())
    extra = [f.meta.get("_extra", 0) for f in flows]
    assert len(flows) == 60 and all("tls.cert_subject" in f.meta for f in flows)
    assert min(extra) > 8_000 - FIELDS_INCLUDED  # subject and issuer alone: 8 KB of text
    assert pipe.inspector.extra_bytes == sum(extra)
    assert pipe.table.bytes_used == 60 * FLOW_BYTES + sum(extra)
    pipe.finish("eof")
    assert pipe.inspector.extra_bytes == 0
