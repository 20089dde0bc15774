"""Print how many conversations agree with tshark's conv tables, per capture and in total.

The figure tests/corpus/test_tshark_conv.py asserts on, in a form to report: one line per
capture with TCP/UDP conversations, every excused difference with its reason, anything
unexplained, then the share per link type and overall.
Run `python -m tests.tools.conv_table_agreement` (needs tshark and ../shared/corpus).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from sensor.capture.pcapfile import open_capture
from sensor.config import SensorConfig
from sensor.pipeline import Pipeline
from sensor.sinks.flowstore import FlowStore, StoreConfig
from tests.conftest import corpus_pcaps
from tests.corpus.test_tshark_conv import Tally, TsharkPool, compare, our_conversations


def main() -> int:
    """Replay each capture while tshark reads the next ones; print the figures."""
    pcaps = corpus_pcaps()
    if not pcaps:
        print("no corpus: ../shared/corpus/pcaps is absent", file=sys.stderr)
        return 2
    tally, pool = Tally(), TsharkPool(pcaps)
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, path in enumerate(pcaps):
                run = pool.get(path)
                if run.error:
                    notes.append(f"{path.name}: tshark cannot read it: {run.error}")
                    continue
                catalog = Path(tmp) / f"c{i}.duckdb"
                store = FlowStore(StoreConfig(catalog=catalog, sensor="agreement"))
                Pipeline(SensorConfig(), [store]).run([open_capture(path)])
                with duckdb.connect(str(catalog), read_only=True) as db:
                    res = compare(path.name, our_conversations(db), run.convs)
                tally.files[path.name] = res
                notes += [f"{path.name}: excused: {d}\n    reason: {r}" for d, r in res.excused]
                notes += [f"{path.name}: UNEXPLAINED: {d}" for d in res.unexplained]
                notes += [f"{path.name}: stale KNOWN entry: {s}" for s in res.stale]
    finally:
        pool.close()
    lines = list(tally.lines(per_file=True))
    print("\n".join(lines[:-2] + notes + lines[-2:]))
    bad = any(r.unexplained or r.stale for r in tally.files.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
