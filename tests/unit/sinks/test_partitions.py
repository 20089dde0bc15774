"""Day partitions stay few when packet times are forged: far-off days join the bulk's day."""

from __future__ import annotations

from pathlib import Path

from tests.tools.hostile import ETH, pcap, udp

T0 = 1_764_086_400.0


def test_a_capture_spanning_20000_days_makes_few_partitions(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    frames = [(T0, ETH + udp(0x0A000001, 1000 + i, 0x0A000002, 53)) for i in range(500)]
    frames += [(T0 - 86_400.0 * (i * 40), ETH + udp(0x0A000003, 1000 + i, 0x0A000002, 53))
               for i in range(500)]  # fmt: skip
    p = tmp_path / "days.pcap"
    p.write_bytes(pcap(sorted(frames, key=lambda f: -f[0] if f[0] < T0 else 0)))
    db, summary = replay([p])
    assert db.execute("SELECT count(*) FROM flows").fetchone() == (1000,)
    flows = tmp_path / "test.data" / "flows"
    dates = {d.name for d in flows.rglob("date=*") if d.is_dir()} - {"date=1970-01-01"}
    assert len(dates) <= 64
    assert summary.records == 1000
