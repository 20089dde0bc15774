"""Beacon and deauthentication floods on a monitor radio: bounded tables, one aggregated
alert per minute with a count instead of one alert per fake BSSID (issue 13)."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sensor.capture.base import FrameBatch
from sensor.classify.policy import WirelessPolicy
from sensor.cli import main
from sensor.wireless import WirelessEvent, WirelessMonitor
from tests.tools.hostile import beacon, deauth, pcap

T0 = 1_764_086_400.0
RADIOTAP = 127


def _flood(n: int, step: float = 0.0005) -> list[tuple[float, bytes]]:
    """n beacons of fake open networks and n deauths, each from a random BSSID."""
    rnd = random.Random(5)
    out = []
    for i in range(n):
        out.append((T0 + i * step, beacon(b"\x02" + rnd.randbytes(5), b"free-wifi-%d" % i)))
        out.append((T0 + i * step + step / 2, deauth(b"\x02" + rnd.randbytes(5))))
    return out


def _batch(frames: list[tuple[float, bytes]]) -> FrameBatch:
    data = b"".join(f for _, f in frames)
    lens = np.array([len(f) for _, f in frames], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    ts = np.array([round(t * 1e9) for t, _ in frames], dtype=np.int64)
    return FrameBatch(RADIOTAP, data, offs, lens, lens.copy(), ts)


def test_flood_tables_stay_within_their_bound() -> None:
    events: list[WirelessEvent] = []
    mon = WirelessMonitor(WirelessPolicy(max_aps=1000), events.append)
    frames = _flood(20_000)
    for k in range(0, len(frames), 4000):
        mon.process(_batch(frames[k : k + 4000]))
        assert len(mon.aps) <= 1000 and len(mon._deauths) <= 1000
    mon.close()
    assert mon.evicted == 19_000
    per_minute: dict[int, int] = {}
    for e in events:
        minute = (e.ts - events[0].ts) // 60_000_000_000
        per_minute[minute] = per_minute.get(minute, 0) + 1
    assert max(per_minute.values()) <= 11  # alerts_per_minute (10) + one flood summary


@pytest.mark.slow  # ~13 s: 400,000 frames through the whole sensor
def test_200k_fake_beacons_and_deauths_are_a_few_alerts(tmp_path: Path) -> None:
    p = tmp_path / "air.pcap"
    p.write_bytes(pcap(_flood(200_000), linktype=RADIOTAP))  # 100 s of air time
    db = tmp_path / "s.duckdb"
    assert main(["replay", "-q", "--db", str(db), str(p)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT signature_id, evidence FROM alerts ORDER BY ts").fetchall()
    floods = [ev for sid, ev in rows if sid == 10006]
    assert len(rows) <= 2 * 11 + 1  # two minutes of capture (and one summary at the end)
    assert len(floods) == 2
    held = sum(int(ev.split(", ")[1].split()[0]) for ev in floods)
    assert held + len(rows) - len(floods) == 200_000  # every fake AP's alert is counted
