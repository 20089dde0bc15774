"""Classification cost per flow record (not a test): this checkout against another tree
(default /work/main, i.e. today's sensor), each classifying the records of both shared
corpora with its own code and its own shipped signatures.

    .venv/bin/python bench/classify_bench.py [--before /work/main] [--rounds 4] [--passes 5]
                                             [--pcap FILE]

Each round runs one process per tree, alternating (before, after, before, ...), so that a
loaded machine slows both alike. A process replays every capture of ../shared/corpus and
../shared/corpus-ndpi (or only `--pcap FILE`, e.g. the 2,000,000-packet bench capture)
through its pipeline once, then times `Classifier.classify` over all the records `--passes`
times, each pass with a new classifier (a memo starts empty, as after a start or a reload),
and reports the fastest pass in CPU microseconds per record. The script prints each tree's
median over the rounds and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure(passes: int, pcap: str) -> None:
    """In a child process: the tree on PYTHONPATH classifies the corpora's records."""
    from sensor.capture.pcapfile import open_capture
    from sensor.classify import build_classifier
    from sensor.config import SensorConfig
    from sensor.flow.state import FlowState
    from sensor.pipeline import Pipeline

    shared = Path(os.environ.get("SENSOR_SHARED", REPO.parent / "shared"))
    flows: list[FlowState] = []

    class Keep:
        name = "keep"

        def write_flow(self, flow: FlowState, reason: str) -> None:
            flows.append(flow)

        def flush(self, force: bool = False) -> None:
            pass

        def close(self) -> None:
            pass

    cfg = SensorConfig()
    classifier = build_classifier(cfg.signatures, cfg.policy)
    if pcap:
        captures = [Path(pcap)]
    else:
        captures = [
            p for c in ("corpus", "corpus-ndpi") for p in sorted((shared / c / "pcaps").iterdir())
        ]
    for capture in captures:
        Pipeline(cfg, [Keep()], classifier).run([open_capture(capture)])
    best = float("inf")
    for _ in range(passes):
        classifier = build_classifier(cfg.signatures, cfg.policy)
        t0 = time.process_time()
        for f in flows:
            classifier.classify(f)
        best = min(best, time.process_time() - t0)
    print(f"{best / len(flows) * 1e6:.3f} {len(flows)} {len(classifier.signatures)}")


def run(tree: Path, passes: int, pcap: str) -> tuple[float, int, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(passes), "--pcap", pcap],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, default=Path("/work/main"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--pcap", default="", help="the records of this capture only")
    ap.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.pcap)
        return 0
    res: dict[str, list[tuple[float, int, int]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        pcap = str(Path(args.pcap).resolve()) if args.pcap else ""
        res["before"].append(run(args.before.resolve(), args.passes, pcap))
        res["after"].append(run(REPO, args.passes, pcap))
    med = {k: statistics.median(r[0] for r in v) for k, v in res.items()}
    for k, tree in (("before", args.before), ("after", REPO)):
        _, n, sigs = res[k][0]
        runs = ", ".join(f"{r[0]:.2f}" for r in res[k])
        print(f"{k:<6} {tree} ({sigs} signatures, {n} records): {med[k]:.2f} us/record [{runs}]")
    print(f"ratio after/before: {med['after'] / med['before']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
