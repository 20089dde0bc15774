"""Live-capture benchmark (not a test): the benchmark capture, rewritten into a lab subnet,
is replayed with tcpreplay onto a veth pair at rising rates while `sensor run` (full default
pipeline: extraction, classification, storage) captures the other end in its own network
namespace. Each rate is held for `--seconds` (60: tcpreplay loops the capture), far longer
than the 64 MiB ring can absorb, so a rate counts only if the sensor keeps up. For 1 and 2
workers it reports the highest rate with zero kernel drops and zero records lost.

    sudo .venv/bin/python bench/live_bench.py [--packets 300000] [--rates 50000,100000,...]
        [--seconds 60] [--workers 1,2]

Traffic never leaves the veth pair: both ends live in namespaces this script creates, and
every IPv4/IPv6 address in the capture is rewritten into 10.232.0.0/16 / fd00:232::/64.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.netns.lab import Lab  # noqa: E402

BENCH = Path(os.environ.get("BENCH_PCAP", "/tmp/sensor-bench/bench-2000000.pcap"))


def rewrite(src: Path, out: Path, packets: int) -> Path:
    if out.exists():
        return out
    cut = out.with_suffix(".cut.pcap")
    subprocess.run(["editcap", "-r", str(src), str(cut), f"1-{packets}"], check=True)
    subprocess.run(
        ["tcprewrite", "--pnat=0.0.0.0/0:10.232.0.0/16,[::/0]:[fd00:232::/64]",
         "--enet-dmac=02:00:00:00:02:32", f"--infile={cut}", f"--outfile={out}"],
        check=True,
    )  # fmt: skip
    cut.unlink()
    return out


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} ([0-9.e+]+)$", text, re.M))


def one(
    lab: Lab, pcap: Path, workers: int, pps: int, tmp: Path, seconds: float, packets: int
) -> dict[str, float]:
    db = tmp / f"w{workers}-{pps}.duckdb"
    cfg = tmp / "bench.yaml"
    cfg.write_text(
        f"storage: {{catalog: {db}}}\nmetrics: {{listen: '127.0.0.1:19109'}}\n"
        "capture: {ring_blocks: 16}\n"  # 64 MiB: a run must outlast the ring to show drops
    )
    sensor = lab.start("client", [sys.executable, "-m", "sensor", "run", "-c", str(cfg),
                                  "-i", lab.client_if, "--workers", str(workers)],
                       stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(4)
    t0 = time.monotonic()
    loops = max(1, -(-int(seconds * pps) // packets))  # ceil: the rate held >= `seconds`
    res = lab.run("server", ["tcpreplay", f"--pps={pps}", f"--loop={loops}", "-i",
                             lab.server_if, str(pcap)], timeout=3600)  # fmt: skip
    sent_s = time.monotonic() - t0
    time.sleep(3)
    out = lab.run("client", ["python3", "-c", "import urllib.request,sys;"
                  "sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:19109/metrics')"
                  ".read().decode())"], check=False).stdout.decode()  # fmt: skip
    sensor.send_signal(signal.SIGTERM)
    sensor.wait(120)

    def m(name: str) -> float:
        return sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} ([0-9.e+]+)$", out, re.M))

    stats = res.stdout.decode()
    mbps = re.search(r"Rated: [0-9.]+ Bps, ([0-9.]+) Mbps, ([0-9.]+) pps", stats)
    return {
        "workers": workers,
        "target_pps": pps,
        "sent_pps": float(mbps.group(2)) if mbps else 0.0,
        "sent_mbps": float(mbps.group(1)) if mbps else 0.0,
        "seconds": round(sent_s, 1),
        "sent": _count(stats, "Successful packets"),
        "send_failed": _count(stats, "Failed packets"),  # e.g. frames over the veth's MTU
        "captured": m("sensor_packets_total"),
        "kernel_drops": m("sensor_capture_kernel_drops_total"),
        "records_lost": m("sensor_store_rows_dropped_total"),
    }


def _count(stats: str, label: str) -> float:
    """A count from tcpreplay's closing statistics (`Successful packets: 123`)."""
    found = re.search(rf"{label}:\s+([0-9]+)", stats)
    return float(found.group(1)) if found else -1.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--rates", default="25000,50000,75000,100000,150000,200000")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    tmp = Path("/tmp/sensor-live-bench")
    tmp.mkdir(exist_ok=True)
    pcap = rewrite(BENCH, tmp / f"lab-{args.packets}.pcap", args.packets)
    lab = Lab("slb", 232 % 200 + 20)
    lab.up()
    results = []
    try:
        for w in map(int, args.workers.split(",")):
            for pps in map(int, args.rates.split(",")):
                r = one(lab, pcap, w, pps, tmp, args.seconds, args.packets)
                results.append(r)
                print(json.dumps(r), flush=True)
                if r["kernel_drops"] > 0 or r["records_lost"] > 0:
                    break
    finally:
        lab.down()
    out = (
        REPO / "bench" / "results" / f"live-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl"
    )
    out.parent.mkdir(exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in results))
    print(out)


if __name__ == "__main__":
    main()
