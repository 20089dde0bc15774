"""CPU of `sensor replay` with sensor/_runs.c (the run grouping and the pending tier's index)
against their numpy references (sensor.flow.group._runs_python, PendingFlows._find_python and
_place_python), everything else the same (sensor/_native.c stays on in both).

    .venv/bin/python bench/grouping_bench.py PCAP [PCAP ...] [--rounds 3] [--spy]

Runs alternate (compiled, numpy, numpy, compiled, ...) so a loaded machine slows both alike;
each line gives medians of CPU seconds (user + sys), peak RSS and the summary's packets/s, and
the ratio numpy/compiled. --spy adds one py-spy profile per mode: the share of samples inside
runs_of_batch and inside PendingFlows.find / _place. Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# the same interpreter start for both modes; "py" turns only sensor/_runs.c off
_RUN = (
    "import sys\n"
    "import sensor.flow.group as g, sensor.flow.pending as p\n"
    "if sys.argv.pop(1) == 'py': g.native = p.native = None\n"
    "from sensor.cli import main\n"
    "sys.exit(main())\n"
)


def _replay(mode: str, pcap: Path, work: Path) -> list[str]:
    db = work / "x.duckdb"
    for p in (db, work / "x.data", work / "x.alerts.jsonl"):
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    return [sys.executable, "-c", _RUN, mode, "replay", str(pcap), "--db", str(db),
            "--progress", "never"]  # fmt: skip


def _timed(mode: str, pcap: Path, work: Path) -> tuple[float, float, float]:
    """(CPU seconds, peak RSS in MB, packets/s of the summary) of one replay."""
    out = work / "time.txt"
    cmd = ["/usr/bin/time", "-o", str(out), "-f", "%U %S %M", *_replay(mode, pcap, work)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    user, sys_s, rss = out.read_text().split()[-3:]
    pps = re.search(r"packets_per_second=([\d,]+)", res.stdout)
    return (
        float(user) + float(sys_s),
        int(rss) / 1024,
        float(pps[1].replace(",", "")) if pps else 0.0,
    )


def _share(spy: str, mode: str, pcap: Path, work: Path) -> tuple[float, float]:
    """Shares of py-spy samples (idle ones too) with runs_of_batch, and with the pending
    index (PendingFlows.find or _place), on the stack."""
    raw = work / f"spy-{mode}.txt"
    cmd = [spy, "record", "--format", "raw", "-r", "200", "-o", str(raw), "--",
           *_replay(mode, pcap, work)]  # fmt: skip
    subprocess.run(cmd, capture_output=True, check=True)
    total = runs = index = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        runs += int(count) if "runs_of_batch" in stack else 0
        index += (
            int(count) if "PendingFlows.find " in stack or "PendingFlows._place " in stack else 0
        )
    return (runs / total, index / total) if total else (0.0, 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pcaps", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--spy", action="store_true", help="also py-spy's share of runs_of_batch")
    args = ap.parse_args()
    spy = shutil.which("py-spy") if args.spy else None
    print("pcap\tmode\tcpu_s\trss_mb\tpackets_per_s\tcpu_ratio_py_over_c\truns_share\tindex_share")
    with tempfile.TemporaryDirectory(prefix="grouping-bench-") as tmp:
        work = Path(tmp)
        for pcap in args.pcaps:
            got: dict[str, list[tuple[float, float, float]]] = {"c": [], "py": []}
            for r in range(args.rounds):
                for mode in ("c", "py") if r % 2 == 0 else ("py", "c"):
                    got[mode].append(_timed(mode, pcap, work))
            med = {m: [statistics.median(x) for x in zip(*v, strict=True)] for m, v in got.items()}
            for mode in ("c", "py"):
                cpu, rss, pps = med[mode]
                share = "\t".join(f"{x:.1%}" for x in _share(spy, mode, pcap, work)) if spy else ""
                ratio = med["py"][0] / med["c"][0]
                print(
                    f"{pcap.name}\t{mode}\t{cpu:.2f}\t{rss:.0f}\t{pps:,.0f}\t{ratio:.2f}\t{share}"
                )
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
