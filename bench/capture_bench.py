"""Memory over capture length, pcap against pcapng, and start-up time (issue 15).

    .venv/bin/python bench/capture_bench.py [--pcap P] [--work DIR] [--rounds 3]

Builds once, beside the 2,000,000-packet capture (`--work`, default /tmp/sensor-bench):

- `<name>.pcapng`: the same packets as pcapng (`editcap -F pcapng`);
- `<name>-4x.pcap`: four times as long: the capture, then three copies with addresses
  rewritten (`tcprewrite --seed=1..3`, so hosts and flows are new in each copy) and times
  shifted past the previous copy's end (`editcap -t`), concatenated (`mergecap -a`);
- `<name>-10.pcap`: its first 10 packets, for start-up time.

Then, in interleaved rounds (each run a fresh store): `sensor replay` of the 1x pcap, the 1x
pcapng and the 4x pcap; the capture reader alone on the pcap and the pcapng; ndpiReader on
the 1x pcap; `sensor replay` of the 10 packets; `sensor --help`. Each figure is the child's
CPU time (user + system, from wait4), peak RSS and wall time; the medians are printed and
written to bench/results/capture-<date>.tsv. Nothing here is a test: timings are never
asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SENSOR = [sys.executable, "-m", "sensor"]
READER = """
import sys
from sensor.capture.pcapfile import open_capture
src = open_capture(sys.argv[1])
n = sum(len(b) for b in src.batches())
assert n and not src.stats.errors, (n, src.stats.errors)
"""


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _seconds_span(pcap: Path) -> int:
    out = subprocess.run(["capinfos", "-u", "-T", "-r", str(pcap)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return int(float(out.split("\t")[-1])) + 1


def build(pcap: Path, work: Path) -> tuple[Path, Path, Path]:
    """The pcapng twin, the 4x capture and the 10-packet capture (made once)."""
    ng = work / (pcap.stem + ".pcapng")
    x4 = work / (pcap.stem + "-4x.pcap")
    ten = work / (pcap.stem + "-10.pcap")
    if not ng.exists():
        _sh("editcap", "-F", "pcapng", str(pcap), str(ng))
    if not ten.exists():
        _sh("editcap", "-r", str(pcap), str(ten), "1-10")
    if not x4.exists():
        span = _seconds_span(pcap)
        parts = [pcap]
        for i in (1, 2, 3):
            rw, shifted = work / f".rw{i}.pcap", work / f".shift{i}.pcap"
            _sh("tcprewrite", f"--seed={i}", f"--infile={pcap}", f"--outfile={rw}")
            _sh("editcap", "-t", str(i * span), str(rw), str(shifted))
            rw.unlink()
            parts.append(shifted)
        _sh("mergecap", "-a", "-F", "pcap", "-w", str(x4), *map(str, parts))
        for p in parts[1:]:
            p.unlink()
    return ng, x4, ten


def measure(cmd: list[str], tree: Path) -> tuple[float, int, float]:
    """CPU seconds (user + system), peak RSS (MB) and wall seconds of one child process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=tree, env=env)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pcap", type=Path, default=Path("/tmp/sensor-bench/bench-2000000.pcap"))
    ap.add_argument("--work", type=Path, default=None, help="default: the capture's directory")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-ndpi", action="store_true", help="skip ndpiReader")
    ap.add_argument(
        "--tree",
        type=Path,
        default=HERE.parent,
        help="source tree whose `sensor` runs (another checkout: before/after)",
    )
    ap.add_argument("--only", default="", help="comma-separated cases to run (default: all)")
    ap.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another tree (the code before a change): each sensor case is run "
        "with both, alternately, as `case` and `case @before`",
    )
    args = ap.parse_args()
    work = args.work or args.pcap.parent
    work.mkdir(parents=True, exist_ok=True)
    ng, x4, ten = build(args.pcap, work)
    db = work / "capture-bench.duckdb"

    def replay(p: Path) -> list[str]:
        for old in (db, db.with_name(db.stem + ".data"), db.with_suffix(".alerts.jsonl")):
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(True)
        return [*SENSOR, "replay", str(p), "--db", str(db), "--progress", "never", "-q"]

    cases: dict[str, list[str] | None] = {
        "replay 1x pcap": None,
        "replay 1x pcapng": None,
        "replay 4x pcap": None,
        "reader pcap": [sys.executable, "-c", READER, str(args.pcap)],
        "reader pcapng": [sys.executable, "-c", READER, str(ng)],
        "replay 10 packets": None,
        "sensor --help": [*SENSOR, "--help"],
    }
    if not args.no_ndpi and shutil.which("ndpiReader"):
        cases["ndpiReader 1x pcap"] = ["ndpiReader", "-i", str(args.pcap), "-q"]
    if args.only:
        cases = {k: v for k, v in cases.items() if k in args.only.split(",")}
    inputs = {"replay 1x pcap": args.pcap, "replay 1x pcapng": ng, "replay 4x pcap": x4,
              "replay 10 packets": ten}  # fmt: skip
    runs = [(name, cmd, args.tree.resolve()) for name, cmd in cases.items()]
    if args.against is not None:
        runs = [r for name, cmd, tree in runs for r in (
            (name, cmd, tree), *([(f"{name} @before", cmd, args.against.resolve())]
                                 if not name.startswith("ndpi") else []))]  # fmt: skip
    got: dict[str, list[tuple[float, int, float]]] = {name: [] for name, _, _ in runs}
    for r in range(args.rounds):
        for name, cmd, tree in runs:
            got[name].append(measure(cmd or replay(inputs[name.split(" @")[0]]), tree))
            cpu, rss, wall = got[name][-1]
            print(f"round {r + 1} {name}: {cpu:.2f} CPU s, {rss} MB, {wall:.2f} s wall",
                  file=sys.stderr, flush=True)  # fmt: skip
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = HERE / "results" / f"capture-{when}.tsv"
    print(f"tree {args.tree.resolve()}, {args.rounds} rounds, medians"
          + (f"; @before: {args.against.resolve()}" if args.against else ""))  # fmt: skip
    out.parent.mkdir(exist_ok=True)
    lines = ["case\tcpu_s_median\tpeak_rss_mb_median\tcpu_s_rounds\trss_mb_rounds"
             "\twall_s_median"]  # fmt: skip
    print(f"{'case':<30} {'CPU s':>7} {'peak RSS MB':>12} {'wall s':>7}   rounds (CPU s)")
    for name, got_runs in got.items():
        cpu = statistics.median(c for c, _, _ in got_runs)
        rss = int(statistics.median(m for _, m, _ in got_runs))
        wall = statistics.median(w for _, _, w in got_runs)
        each = " ".join(f"{c:.3f}" for c, _, _ in got_runs)
        rsss = " ".join(str(m) for _, m, _ in got_runs)
        print(f"{name:<30} {cpu:>7.3f} {rss:>12} {wall:>7.3f}   {each}")
        lines.append(f"{name}\t{cpu:.3f}\t{rss}\t{each}\t{rsss}\t{wall:.3f}")
    out.write_text("\n".join(lines) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
