"""CPU cost of the payload inspection stage of `sensor replay` (the flow table handing
payload to the Inspector, the Inspector and the extractors, and releasing flows that end
while inspected), its share of the whole run, and its cost per payload packet handed over.

Run `python -m tests.tools.inspect_cost CAPTURE [replay options] [--count]`. It times the
stage with the thread's CPU clock around `FlowTable._inspect` and `Inspector.release` (each
timing costs ~1 us, about 0.1 s on the 2 M-packet bench capture: compare runs, not seconds),
and with `--count` counts the payload packets fed too (a cost of its own: time apart).
To compare two versions, run this file with PYTHONPATH set to each checkout, interleaved
(it imports only `sensor`).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sensor import cli
from sensor.extract.inspector import Inspector
from sensor.flow.table import FlowTable


def main(argv: list[str]) -> int:
    count = "--count" in argv
    args = [a for a in argv if a != "--count"]
    clock, spent, fed = time.thread_time, [0.0], [0]
    inspect, release, feed = FlowTable._inspect, Inspector.release, Inspector.feed

    def timed_inspect(self: FlowTable, *a: Any) -> None:
        t = clock()
        inspect(self, *a)
        spent[0] += clock() - t

    def timed_release(self: Inspector, flow: Any) -> None:
        t = clock()
        release(self, flow)
        spent[0] += clock() - t

    def counted_feed(self: Inspector, *a: Any) -> None:
        fed[0] += 1
        feed(self, *a)

    FlowTable._inspect = timed_inspect  # type: ignore[method-assign]
    Inspector.release = timed_release  # type: ignore[method-assign]
    if count:
        Inspector.feed = counted_feed  # type: ignore[method-assign]
    t0 = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        rc = cli.main(["replay", "--db", str(Path(tmp) / "x.duckdb"), "-q", *args])
    total = time.process_time() - t0
    line = f"total_cpu_s={total:.2f} stage_cpu_s={spent[0]:.2f} share={spent[0] / total:.1%}"
    if count:
        line += f" payload_packets_fed={fed[0]} us_per_packet={1e6 * spent[0] / fed[0]:.2f}"
    print(line)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
