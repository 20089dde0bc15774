"""Flood benchmark (issue 13): replay a SYN flood, normal traffic of the same size and a
beacon flood, interleaved, each in its own child process; print packets/s, peak RSS, alerts.

    .venv/bin/python bench/flood.py [--packets 1000000] [--runs 3] [--dir /tmp/sensor-flood]

Normal traffic: UDP and TCP conversations of 20 packets between 500 clients and 50 servers.
Flood: one SYN per packet from random sources and ports to one server (each a new flow).
Timestamps advance 20 us per packet (50 k packets/s), so flows expire during the replay.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.tools.hostile import ETH, beacon, deauth, pcap, tcp, udp

T0 = 1_764_086_400.0
STEP = 20e-6

CHILD = """
import sys
from sensor.cli import main
rc = main(sys.argv[1:])
with open("/proc/self/status") as f:  # VmHWM: this program's own peak (ru_maxrss would
    hwm = next(x for x in f if x.startswith("VmHWM:"))  # carry the parent's over exec)
print("peak_rss_kb", hwm.split()[1], file=sys.stderr)
sys.exit(rc)
"""


def syn_flood(n: int, seed: int = 13) -> bytes:
    """n SYNs from random sources and ports to one server: n new flows."""
    rnd = random.Random(seed)
    frames = (
        (T0 + i * STEP, ETH + tcp(rnd.getrandbits(32), rnd.randrange(1024, 65536),
                                  0x0A000002, 443, 0x02, rnd.getrandbits(32)))
        for i in range(n)
    )  # fmt: skip
    return pcap(frames)


def normal(n: int) -> bytes:
    """n packets of 20-packet conversations (DNS-like UDP and HTTPS-like TCP)."""
    frames = []
    for i in range(n):
        conv = i // 20
        c, s = 0x0A010000 + conv % 500, 0x0A020000 + conv % 50
        port = 20000 + conv % 40000
        out = i % 2 == 0
        if conv % 2:
            ip = udp(c, port, s, 53, b"x" * 40) if out else udp(s, 53, c, port, b"y" * 120)
        else:
            ip = tcp(c, port, s, 443, 0x10) if out else tcp(s, 443, c, port, 0x10)
        frames.append((T0 + i * STEP, ETH + ip))
    return pcap(frames)


def beacon_flood(n: int, seed: int = 15) -> bytes:
    """n/2 beacons of fake open networks and n/2 deauths, random BSSIDs, 2,000 frames/s."""
    rnd = random.Random(seed)
    frames = []
    for i in range(n // 2):
        t = T0 + i * 1e-3
        frames.append((t, beacon(b"\x02" + rnd.randbytes(5), b"free-wifi-%d" % i)))
        frames.append((t + 5e-4, deauth(b"\x02" + rnd.randbytes(5))))
    return pcap(frames, linktype=127)


MAKERS = {"normal": normal, "syn_flood": syn_flood, "beacon_flood": beacon_flood}


def replay(path: Path, db: Path) -> tuple[float, int, int, float]:
    """(packets/s, peak RSS MB, alerts raised, CPU s) of one `sensor replay` child, fresh
    store. CPU is the child's user + system time, start-up included; packets/s is the
    summary's (wall time of the packet loop, which a writer thread on another core shortens)."""
    for old in (db, db.with_suffix(".data"), db.with_suffix(".alerts.jsonl")):
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(
        [sys.executable, "-c", CHILD, "replay", str(path), "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    pps = next(
        float(tok.split("=")[1].replace(",", ""))
        for tok in res.stdout.split()
        if tok.startswith("packets_per_second=")
    )
    rss = int(res.stderr.rsplit("peak_rss_kb", 1)[1].split()[0]) // 1024
    alerts = int(res.stdout.split("alerts: ", 1)[1].split()[0])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return pps, rss, alerts, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sensor-flood")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    caps = {k: args.dir / f"{k}-{args.packets}.pcap" for k in MAKERS}
    for kind, p in caps.items():
        if not p.exists():
            p.write_bytes(MAKERS[kind](args.packets))
    got: dict[str, list[tuple[float, int, int, float]]] = {k: [] for k in caps}
    for run in range(args.runs):  # interleaved, so machine load hits both alike
        for kind, p in caps.items():
            db = args.dir / f"{kind}-{run}.duckdb"
            got[kind].append(replay(p, db))
            pps, rss, alerts, cpu = got[kind][-1]
            print(f"run {run} {kind}: {pps:,.0f} packets/s, peak RSS {rss} MB, "
                  f"{alerts} alerts, {cpu:.2f} CPU s", flush=True)  # fmt: skip
    med = {k: statistics.median(v[0] for v in got[k]) for k in got}
    cpu = {k: statistics.median(v[3] for v in got[k]) for k in got}
    peak = {k: max(v[1] for v in got[k]) for k in got}
    print("| traffic | packets | median packets/s | median CPU s | peak RSS MB | alerts |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for k in caps:
        print(f"| {k} | {args.packets:,} | {med[k]:,.0f} | {cpu[k]:.2f} | {peak[k]} "
              f"| {got[k][-1][2]} |")  # fmt: skip
    print(f"ratio syn_flood/normal: {med['syn_flood'] / med['normal']:.2f} packets/s, "
          f"{cpu['normal'] / cpu['syn_flood']:.2f} packets per CPU-second "
          "(whole process, start-up included)")  # fmt: skip


if __name__ == "__main__":
    main()
