"""Retention: delete whole `date=` partitions past their table's age, and the oldest raw
flow days when the tree outgrows its bound. Only this sensor's own partitions are touched,
so sensors sharing central storage never delete each other's data. Deleting a directory
never disturbs a reader that already listed it (the files stay until closed)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["apply_retention", "compact", "tree_bytes"]

log = logging.getLogger(__name__)

_ORDER = ("flows", "alerts", "rollups")  # what goes first when the disk bound is hit


def _days(data_dir: Path, table: str, sensor: str) -> list[tuple[dt.date, Path]]:
    root = data_dir / table / f"sensor={sensor}"
    out = []
    if root.is_dir():
        for d in root.iterdir():
            if d.name.startswith("date="):
                try:
                    out.append((dt.date.fromisoformat(d.name[5:]), d))
                except ValueError:
                    continue
    return sorted(out)


def tree_bytes(paths: Iterable[Path]) -> int:
    """Bytes of every file under the given directories."""
    return sum(f.stat().st_size for p in paths for f in p.rglob("*") if f.is_file())


def apply_retention(
    data_dir: Path,
    sensor: str,
    days: dict[str, int],
    today: dt.date,
    max_bytes: int = 0,
) -> list[Path]:
    """Remove expired (and, past `max_bytes`, the oldest) day partitions; return them."""
    removed: list[Path] = []
    for table, keep in days.items():
        if keep <= 0:
            continue
        limit = today - dt.timedelta(days=keep)
        for day, path in _days(data_dir, table, sensor):
            if day < limit:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    if max_bytes > 0:
        mine = [data_dir / t / f"sensor={sensor}" for t in _ORDER]
        size = tree_bytes(p for p in mine if p.is_dir())
        for table in _ORDER:
            for day, path in _days(data_dir, table, sensor):
                if size <= max_bytes or day >= today:  # never today's data
                    break
                freed = tree_bytes([path])
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
                size -= freed
    for p in removed:
        log.info("retention: removed %s", p)
    return removed


def compact(
    data_dir: Path, table: str, sensor: str, today: dt.date, min_files: int = 32
) -> list[Path]:
    """Merge the segments of each past day that has at least `min_files` of them into one.

    The merged file is written under a hidden name first; then the small files move into a
    hidden folder (out of every reader's glob), the merged file takes its place, and the small
    files are deleted. A query running in the instant between the two renames can miss that
    day; it never counts a row twice.
    """
    merged: list[Path] = []
    for day, folder in _days(data_dir, table, sensor):
        if day >= today:
            continue  # today's folder is still being written
        files = sorted(folder.glob("*.parquet"))
        if len(files) < min_files:
            continue
        name = f"compacted-{day.isoformat()}-{len(files)}.parquet"
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            tables = [pq.read_table(f) for f in files]
            pq.write_table(pa.concat_tables(tables, promote_options="default"), tmp,
                           compression="zstd")  # fmt: skip
            old = folder / f".old-{os.getpid()}"
            old.mkdir(exist_ok=True)
            for f in files:
                f.rename(old / f.name)
            tmp.rename(folder / name)
            shutil.rmtree(old, ignore_errors=True)
        except (OSError, ValueError) as e:
            log.error("compaction of %s failed: %s", folder, e)
            tmp.unlink(missing_ok=True)
            continue
        merged.append(folder / name)
        log.info("compacted %d segments of %s into %s", len(files), folder, name)
    return merged
