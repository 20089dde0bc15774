"""Shipping throughput: a backlog of real segments shipped to a directory, over SSH to a real
sshd in a network namespace, and over SSH with connection multiplexing (ControlMaster), in
interleaved rounds. Prints segments/s per way and the ratios measured in the same run.

    sudo .venv/bin/python -m bench.ship_bench [--segments 60] [--rounds 3]

Needs root (a network namespace pair from tests/netns/lab.py) and openssh-server. All
traffic stays on the lab's own veth pair.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sensor.ship import DirectoryDestination, Shipper, SshDestination
from sensor.ship.destination import Destination
from tests.netns.lab import Lab
from tests.netns.test_ship_ssh import _sshd


def _backlog(template: Path, data: Path, n: int) -> int:
    """`n` copies of a real flow segment under unique names in sensor `bench`'s tree."""
    shutil.rmtree(data, ignore_errors=True)
    day = data / "flows" / "sensor=bench" / "date=2025-11-25"
    day.mkdir(parents=True)
    for i in range(n):
        shutil.copy(template, day / f"{i:06d}-1-000001.parquet")
    return n * template.stat().st_size


def _template(tmp: Path) -> Path:
    db = tmp / "t.duckdb"
    subprocess.run([sys.executable, "-m", "sensor", "replay", "-q", "--db", str(db),
                    "--sensor-name", "t"], check=True)  # fmt: skip
    return next((tmp / "t.data").glob("flows/sensor=t/date=*/*.parquet"))


def _run(dest: Destination, data: Path, root: Path) -> float:
    root.mkdir()
    t0 = time.perf_counter()
    sh = Shipper(data, "bench", dest)
    assert sh.ship_once() and sh.stats.backlog_segments == 0, sh.stats
    return time.perf_counter() - t0


def _measure(tmp: Path, server: str, segments: int, rounds: int) -> None:
    """In the client namespace: ship the same backlog each way, interleaved."""
    template = _template(tmp)
    opts = ("-i", str(tmp / "client"), "-o", f"UserKnownHostsFile={tmp / 'known_hosts'}")
    mux = (*opts, "-o", "ControlMaster=auto", "-o", f"ControlPath={tmp}/cm-%C",
           "-o", "ControlPersist=30")  # fmt: skip
    ways = {
        "directory": lambda r: DirectoryDestination(tmp / f"directory{r}"),
        "ssh": lambda r: SshDestination(f"ssh://root@{server}{tmp}/ssh{r}", opts),
        "ssh+ControlMaster": lambda r: SshDestination(
            f"ssh://root@{server}{tmp}/ssh+ControlMaster{r}", mux
        ),
    }
    times: dict[str, list[float]] = {w: [] for w in ways}
    size = 0
    for r in range(rounds):
        for way, make in ways.items():
            size = _backlog(template, tmp / "data", segments)
            times[way].append(_run(make(r), tmp / "data", tmp / f"{way}{r}"))
    base = statistics.median(times["ssh"])
    print(f"{segments} segments of {size // segments} bytes, {rounds} interleaved rounds, "
          "median:")  # fmt: skip
    for way, ts in times.items():
        med = statistics.median(ts)
        print(f"  {way:18} {segments / med:8.1f} segments/s  "
              f"{med / base:5.2f}x the time of plain ssh")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--segments", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inner", nargs=2, metavar=("TMP", "SERVER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        _measure(Path(args.inner[0]), args.inner[1], args.segments, args.rounds)
        return
    tmp = Path(tempfile.mkdtemp(prefix="ship-bench-"))
    lab = Lab(f"sb{os.getpid() % 10000}", os.getpid() % 200 + 20)
    lab.up()
    try:
        _sshd(lab, tmp)
        res = lab.run("client", [sys.executable, "-m", "bench.ship_bench", "--segments",
                                 str(args.segments), "--rounds", str(args.rounds), "--inner",
                                 str(tmp), lab.server_ip], timeout=3600, check=False)  # fmt: skip
        sys.stdout.write(res.stdout.decode() + res.stderr.decode()[-2000:])
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
