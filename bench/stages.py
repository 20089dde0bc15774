"""Where `sensor replay` spends its CPU, by pipeline stage (issue 15's "each stage's share").

    .venv/bin/python bench/stages.py [--pcap /tmp/sensor-bench/bench-2000000.pcap] [--rate 100]

Samples the replay with py-spy (`pip install py-spy`; it ptraces the child, so run as root or
with ptrace allowed) and gives each sample to a stage by the innermost frame of the sensor's
own code: capture/ = read, decode/ = decode, flow/ = flow table, extract/ = extractors,
classify/ = classifier, sinks/ = records and storage; samples outside the packet loop are
start-up and exit (imports, signatures, the capture's SHA-256, the catalog), and samples of
the flow store's writer thread are counted apart (they overlap the packet loop on another
core). Not a test: the shares move with the machine's load; read them beside the CPU seconds.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STAGES = (
    ("read", "sensor/capture/"),
    ("decode", "sensor/decode/"),
    ("flow table", "sensor/flow/"),
    ("extractors", "sensor/extract/"),
    ("classifier", "sensor/classify/"),
    ("records and storage", "sensor/sinks/"),
)
_LOOP = ("_run (sensor/runloop.py", ".finish (sensor/pipeline.py")


def stage_of(frames: list[str]) -> str:
    """The stage one sample belongs to (frames outermost first)."""
    if not any(loop in f for f in frames for loop in _LOOP):
        return "start-up and exit"
    for f in reversed(frames):
        for name, where in STAGES:
            if where in f:
                return name
    return "pipeline (other)"


def shares(raw: Path) -> tuple[collections.Counter[str], int]:
    """Samples per stage from py-spy's raw (collapsed) output with --threads."""
    count: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        total += int(n)
        if "-writer" in frames[0]:
            count["writer thread (overlaps)"] += int(n)
        else:
            count[stage_of(frames[1:])] += int(n)
    return count, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcap", type=Path, default=Path("/tmp/sensor-bench/bench-2000000.pcap"))
    ap.add_argument("--rate", type=int, default=100, help="samples per second")
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        cmd = [spy, "record", "-r", str(args.rate), "--threads", "-f", "raw", "-o", str(raw),
               "--", sys.executable, "-m", "sensor", "replay", str(args.pcap),
               "--db", str(Path(tmp) / "s.duckdb"), "--progress", "never"]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        count, total = shares(raw)
    print(f"{args.pcap.name}: {total} samples at {args.rate}/s")
    print("| stage | share of samples |\n| --- | ---: |")
    for name, n in count.most_common():
        print(f"| {name} | {100 * n / total:.1f} % |")


if __name__ == "__main__":
    main()
