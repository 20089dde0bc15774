"""Retention: delete whole `date=` partitions past their table's age, and the oldest raw
flow days when the tree outgrows its bound. Only this sensor's own partitions are touched,
so sensors sharing central storage never delete each other's data. Deleting a directory
never disturbs a reader that already listed it (the files stay until closed)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

__all__ = ["apply_retention", "tree_bytes"]

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
