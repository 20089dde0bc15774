"""Helpers for fleet tests: sensors with their own name and site replay the bundled captures,
then ship their segments with the real `sensor ship` command."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PCAPS = REPO / "pcaps"
SENSORS: dict[str, tuple[str, list[Path]]] = {
    "north": ("north-district", sorted((PCAPS / "ai").glob("*.pcap"))),
    "south": (
        "south-district",
        sorted(p for d in ("im", "remote", "radio") for p in (PCAPS / d).glob("*.pcap*")),
    ),
}


def sensor_config(tmp: Path, name: str, site: str, ship: str = "", flush_rows: int = 0) -> Path:
    """A site config naming the sensor, its site, its catalog under `tmp` and where to ship."""
    cfg = tmp / f"{name}.yaml"
    text = f"sensor: {{name: {name}, site: {site}}}\nstorage:\n  catalog: {tmp / name}.duckdb\n"
    if flush_rows:
        text += f"  flush_rows: {flush_rows}\n"
    if ship:
        text += f"  ship: {{destination: '{ship}'}}\n"
    cfg.write_text(text)
    return cfg


def replay(cfg: Path, pcaps: list[Path]) -> None:
    subprocess.run(
        [sys.executable, "-m", "sensor", "replay", "-q", "-c", str(cfg), *map(str, pcaps)],
        check=True,
    )


def ship(cfg: Path, to: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--to", str(to)] if to else []
    return subprocess.run(
        [sys.executable, "-m", "sensor", "ship", "-c", str(cfg), *extra],
        capture_output=True,
        text=True,
        check=False,
    )


def build_fleet(tmp: Path, fleet: Path) -> None:
    """Two sensors replayed and shipped to the directory `fleet`, then its central catalog."""
    fleet.mkdir(parents=True, exist_ok=True)
    for name, (site, pcaps) in SENSORS.items():
        cfg = sensor_config(tmp, name, site)
        replay(cfg, pcaps)
        res = ship(cfg, fleet)
        assert res.returncode == 0, res.stderr
    subprocess.run(
        [sys.executable, "-m", "sensor", "catalog", "--root", str(fleet)],
        check=True,
        capture_output=True,
    )


def many_flows_pcap(path: Path, n: int, t0: float = 1_764_000_000.0) -> Path:
    """`n` one-packet UDP flows from distinct clients: a flow segment of several hundred kB,
    larger than one SSH channel packet (32 kB), so a transfer can be caught half done."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    eth = bytes.fromhex("02000000000502000000000c0800")
    for i in range(n):
        src = bytes((10, 20, (i >> 8) & 0xFF, i & 0xFF))
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, i & 0xFFFF, 0, 64, 17, 0, src,
                          bytes((10, 1, 0, 53)))  # fmt: skip
        csum = sum(struct.unpack("!10H", hdr))
        csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
        ip = hdr[:10] + struct.pack("!H", csum) + hdr[12:]
        frame = eth + ip + struct.pack("!HHHH", 1024 + i % 60000, 40000, 8, 0)
        ts = t0 + i * 0.001
        out.append(struct.pack("<IIII", int(ts), int(ts % 1 * 1e6), len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path
