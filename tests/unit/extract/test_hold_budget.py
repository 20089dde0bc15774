"""Out-of-order TCP segments held for reassembly share one memory budget (inspect.hold_mb)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from sensor.capture.pcapfile import open_capture
from sensor.config import InspectConfig, SensorConfig
from sensor.pipeline import Pipeline
from tests.tools.hostile import ETH, pcap, tcp

T0 = 1_764_086_400.0
SEG = 1460


def _holds(flows: int) -> bytes:
    """Each flow: a SYN, then 8 full segments that all lie past a missing first one, so the
    reassembler holds every one of them until the flow ends."""
    frames = []
    t = T0
    for k in range(flows):
        c, port = 0x0A010000 + k % 60000, 1024 + k % 50000
        frames.append((t, ETH + tcp(c, port, 0x0A000002, 443, 0x02, seq=1000)))
        for i in range(8):
            seq = 1001 + SEG * (i + 1)  # segment 0 never comes
            frames.append((t, ETH + tcp(c, port, 0x0A000002, 443, 0x18, seq, b"\x17" * SEG)))
        t += 1e-4
    return pcap(frames)


def _peak_mb(path: Path, hold_mb: float) -> tuple[float, Pipeline]:
    """Peak of Python allocations while the pipeline (no sinks) replays `path`."""
    pipe = Pipeline(SensorConfig(inspect=InspectConfig(hold_mb=hold_mb)), [])
    src = open_capture(path)
    tracemalloc.start()
    try:
        pipe.run([src])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (1 << 20), pipe


def test_maximal_out_of_order_holds_stay_within_the_budget(tmp_path: Path) -> None:
    p = tmp_path / "holds.pcap"
    p.write_bytes(_holds(5_000))  # 5,000 x 8 x 1,460 B = 58 MB held without a budget
    unbounded, _ = _peak_mb(p, 4096)
    bounded, pipe = _peak_mb(p, 8)
    budget = pipe.inspector.budget
    print(f"peak Python memory: {unbounded:.0f} MB without a budget, {bounded:.0f} MB at 8 MB")
    assert pipe.summary.flows == 5_000
    assert budget.peak <= 8 << 20 and budget.refused > 0 and budget.held == 0
    assert unbounded - bounded > 40  # the 50 MB the budget refused were never allocated
