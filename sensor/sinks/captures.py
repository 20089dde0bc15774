"""CaptureLedger: which capture files a store holds, so replaying one twice is not silent.

A replay records each capture's SHA-256 in the `captures` table (a segment like any other,
under this sensor's partition). Before the next replay the CLI asks the ledger: a capture the
store already holds for this sensor is skipped unless the user says `--again`, so re-running a
command never doubles the store's rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sensor.sinks.schema import CAPTURE_COLUMNS, arrow_schema
from sensor.sinks.segments import SegmentWriter, StoreConfig

__all__ = ["CaptureEntry", "CaptureLedger", "file_sha256"]

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a regular file's bytes (None for a pipe or FIFO, which cannot be re-read)."""
    try:
        if not path.is_file():
            return None
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None  # open_capture reports the problem with the file in one line


@dataclass(frozen=True, slots=True)
class CaptureEntry:
    """What the store says about a capture it holds."""

    sha256: str
    name: str
    status: str
    replayed_at: dt.datetime | None


class CaptureLedger:
    """Reads and appends the `captures` table of one sensor's partition."""

    def __init__(self, cfg: StoreConfig) -> None:
        self._writer = SegmentWriter(cfg, "captures", arrow_schema(CAPTURE_COLUMNS), "ts")
        self._site = cfg.site
        self.stats = self._writer.stats

    def held(self) -> dict[str, CaptureEntry]:
        """Every capture this sensor's partition holds, by SHA-256 (latest entry wins)."""
        root = self._writer.data_dir / "captures" / f"sensor={self._writer.sensor_partition}"
        out: dict[str, CaptureEntry] = {}
        for seg in sorted(root.glob("date=*/*.parquet")):
            try:
                rows = pq.read_table(seg, columns=["sha256", "name", "status", "replayed_at"])
            except (OSError, pa.ArrowException) as e:
                log.warning("captures: cannot read %s (%s); ignored", seg, e)
                continue
            for r in rows.to_pylist():
                prev = out.get(r["sha256"])
                if prev is None or prev.status != "complete":
                    out[r["sha256"]] = CaptureEntry(
                        r["sha256"], r["name"], r["status"], r["replayed_at"]
                    )
        return out

    def record(self, entries: list[dict[str, object]]) -> None:
        """Append rows (keys as CAPTURE_COLUMNS, `ts` and `replayed_at` in µs) and write them."""
        if not entries:
            return
        now_us = int(time.time() * 1e6)
        rows = [{**e, "replayed_at": now_us, "site": self._site} for e in entries]
        self._writer.add(pa.Table.from_pylist(rows, schema=self._writer.schema))
        self._writer.write_pending(final=True)
