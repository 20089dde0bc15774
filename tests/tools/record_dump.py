"""Every flow record (all columns) of every capture in the shared corpora, under the default
config, for a before/after comparison of a change that must not alter records.

Run `python -m tests.tools.record_dump dump OUT.pickle` with PYTHONPATH set to each checkout
(it imports `sensor` and nothing else of the tests), then
`python -m tests.tools.record_dump compare BEFORE.pickle AFTER.pickle`, which prints the
captures whose records differ (with the differing columns) and the total.
Captures: ../shared/corpus/pcaps and ../shared/corpus-ndpi/pcaps (SENSOR_SHARED overrides).
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

from sensor.capture.pcapfile import open_capture
from sensor.config import SensorConfig
from sensor.flow.pending import EndedBatch
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline
from sensor.sinks.records import RecordBuffer

SHARED = Path(os.environ.get("SENSOR_SHARED", Path(__file__).resolve().parents[3] / "shared"))
CORPORA = ("corpus", "corpus-ndpi")

Records = list[dict[str, Any]]


class Collect:
    """A sink that keeps every record as the store would write it."""

    name = "collect"

    def __init__(self) -> None:
        self.buf = RecordBuffer()

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self.buf.append(flow, reason)

    def write_bare(self, batch: EndedBatch) -> None:
        self.buf.append_bare(batch.record_numbers(), batch.reasons)

    def flush(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def records(path: Path) -> tuple[Records, dict[str, int]]:
    """The capture's records, sorted, and what the handshake budget held at its peak and
    at the end, and refused."""
    sink = Collect()
    pipe = Pipeline(SensorConfig(), [sink])
    pipe.run([open_capture(path)])
    rows = (sink.buf.take() or pa.table({})).to_pylist()
    rows.sort(key=lambda r: (r["flow_id"], r["segment"]))
    b = pipe.buffers
    return rows, {"peak": b.peak, "held": b.held, "refused": b.refused}


def captures() -> list[Path]:
    out: list[Path] = []
    for name in CORPORA:
        d = SHARED / name / "pcaps"
        out += sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
    return out


def dump(out: Path) -> None:
    result: dict[str, Any] = {}
    for path in captures():
        try:
            result[f"{path.parent.parent.name}/{path.name}"] = records(path)
        except Exception as e:  # a capture the sensor refuses: compare the refusal
            result[f"{path.parent.parent.name}/{path.name}"] = (repr(e), {})
    out.write_bytes(pickle.dumps(result))
    print(f"{len(result)} captures dumped to {out}")


def compare(before: Path, after: Path) -> int:
    a, b = pickle.loads(before.read_bytes()), pickle.loads(after.read_bytes())
    differ = 0
    for name in sorted(a.keys() | b.keys()):
        ra, rb = a.get(name, (None, {}))[0], b.get(name, (None, {}))[0]
        if ra == rb:
            continue
        differ += 1
        cols = sorted({k for x, y in zip(ra or [], rb or [], strict=False) for k in x
                       if x.get(k) != y.get(k)})  # fmt: skip
        print(f"{name}: {len(ra or [])} vs {len(rb or [])} records; columns {cols}")
    peaks = [(a[n][1].get("peak", 0), b[n][1].get("peak", 0)) for n in a.keys() & b.keys()]
    print(f"{len(a)} vs {len(b)} captures, {differ} differ; "
          f"handshake buffer peaks summed: {sum(p for p, _ in peaks)} -> "
          f"{sum(q for _, q in peaks)} bytes")  # fmt: skip
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"]:
        dump(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["compare"]:
        raise SystemExit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        raise SystemExit(__doc__)
