"""A multi-site, multi-week store from corpus captures: each capture replayed with its packet
times shifted, by sensors with different names and sites (the pipeline takes both from the
config), into one segment tree and catalog.

    python -m tests.tools.shifted_store OUT_DIR      # builds OUT_DIR/fleet.duckdb

Packet time is the sensor's only clock, so shifting the capture is all it takes to put a
Tuesday-morning capture on another day, another week or into the lunch hour.
"""

from __future__ import annotations

import datetime as dt
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sensor.capture import open_capture
from sensor.cli import demo_capture, main

__all__ = ["Replay", "build_store", "fleet_plan", "shift_capture"]

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "pcaps"


def shift_capture(
    src: Path, dst: Path, offset: dt.timedelta, span: dt.timedelta = dt.timedelta(days=1)
) -> list[Path]:
    """Write `src`'s frames with times moved by `offset` as classic nanosecond pcap files,
    one per link type (`dst`, then `dst` with `.lt<N>` for any further link type). Frames
    more than `span` after the first are left out (a few corpus captures hold a stray frame
    a year or a decade later, which would stretch the store's period)."""
    shift = int(offset.total_seconds() * 1e9)
    first: int | None = None
    outs: dict[int, tuple[Path, BinaryIO]] = {}
    source = open_capture(src)
    try:
        for batch in source.batches():
            if batch.linktype not in outs:
                path = dst if not outs else dst.with_suffix(f".lt{batch.linktype}.pcap")
                new: BinaryIO = path.open("wb")
                new.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, batch.linktype))
                outs[batch.linktype] = (path, new)
            f = outs[batch.linktype][1]
            view = memoryview(batch.data)
            for i in range(len(batch)):
                first = int(batch.ts[i]) if first is None else first
                if int(batch.ts[i]) - first > span.total_seconds() * 1e9:
                    continue
                ts = int(batch.ts[i]) + shift
                off, cap = int(batch.offsets[i]), int(batch.caplens[i])
                hdr = struct.pack("<IIII", ts // 10**9, ts % 10**9, cap, int(batch.wirelens[i]))
                f.write(hdr)
                f.write(view[off : off + cap])
    finally:
        source.close()
        for _, out in outs.values():
            out.close()
    return [p for p, _ in outs.values()]


@dataclass(frozen=True, slots=True)
class Replay:
    """One capture replayed by one sensor, `offset` after its recorded time."""

    capture: Path
    sensor: str
    offset: dt.timedelta


def fleet_plan(corpus: Path = CORPUS) -> list[Replay]:
    """Two sites over three weeks: the demo's Tuesday morning each week at HQ (and at lunch,
    where messaging is personal use), a quieter north site, plus corpus captures of
    peer-to-peer, radio-adjacent and access-point traffic when the corpus is present."""
    demo = demo_capture()
    week, day = dt.timedelta(weeks=1), dt.timedelta(days=1)
    plan = [Replay(demo, "district-7", w * week) for w in range(3)]
    plan += [
        Replay(demo, "district-7", w * week + dt.timedelta(hours=2, minutes=15)) for w in (1, 2)
    ]
    plan += [Replay(demo, "district-4", w * week + day) for w in (0, 2)]
    extra = {
        "district-4": ["bittorrent.pcap", "wpa-psk-linksys.cap", "natpmp.pcap"],
        "district-7": ["rdp.pcap", "wep.open.system.authentication.cap", "upnp.pcap"],
    }
    for sensor, names in extra.items():
        plan += [
            Replay(corpus / n, sensor, dt.timedelta(0)) for n in names if (corpus / n).exists()
        ]
    return plan


def _first(capture: Path) -> dt.datetime:
    """Time of the first frame of `capture`."""
    source = open_capture(capture)
    try:
        first = next(iter(source.batches())).ts[0]
    finally:
        source.close()
    return dt.datetime.fromtimestamp(int(first) / 1e9, dt.UTC)


def build_store(out: Path, plan: list[Replay] | None = None) -> Path:
    """Replay `plan` into `out/fleet.duckdb` (one segment tree): one replay per sensor of
    its shifted captures in time order. Corpus captures, whatever their year, are first
    moved into the demo's weeks so the report sees one period."""
    out.mkdir(parents=True, exist_ok=True)
    catalog, data = out / "fleet.duckdb", out / "fleet.data"
    anchor = _first(demo_capture())
    per_sensor: dict[str, list[tuple[dt.datetime, Path]]] = {}
    for i, r in enumerate(plan if plan is not None else fleet_plan()):
        offset = r.offset
        if r.capture != demo_capture():  # its start moved to a weekday morning of the 3 weeks
            day = dt.timedelta(days=(1, 7, 9, 15)[i % 4])
            offset = anchor + day + r.offset - _first(r.capture)
        start = _first(r.capture) + offset
        for f in shift_capture(r.capture, out / f"r{i}.pcap", offset):
            per_sensor.setdefault(r.sensor, []).append((start, f))
    for sensor, files in per_sensor.items():
        cfg = out / f"{sensor}.yaml"
        cfg.write_text(
            f"sensor: {{name: {sensor}, site: {sensor}}}\n"
            f"storage: {{catalog: {catalog}, data_dir: {data}}}\n"
        )
        ordered = [str(f) for _, f in sorted(files)]
        if main(["replay", "-q", "-c", str(cfg), *ordered]) != 0:
            raise RuntimeError(f"replay for {sensor} failed")
    return catalog


if __name__ == "__main__":
    print(build_store(Path(sys.argv[1])))
