"""`sensor query`: the analysts' view of the catalog (`sensor report` is sensor/report/).

It opens the catalog read-only, so it runs beside a sensor that keeps writing segments.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import duckdb

from sensor.errors import StorageError

__all__ = ["query"]


def _connect(catalog: Path) -> duckdb.DuckDBPyConnection:
    if not catalog.exists():
        raise StorageError(
            f"{catalog}: no such catalog (run `sensor replay` or `sensor run` first)"
        )
    try:
        return duckdb.connect(str(catalog), read_only=True)
    except duckdb.Error as e:
        raise StorageError(f"{catalog}: cannot open the catalog: {e}") from None


def query(catalog: Path, sql: str, fmt: str, out: Path | None, stream: TextIO = sys.stdout) -> int:
    """Run one SQL statement; print it as a table, CSV or JSON, or write Parquet to `out`."""
    con = _connect(catalog)
    try:
        rel = con.sql(sql)
    except duckdb.Error as e:
        raise StorageError(f"query failed: {e}") from None
    if rel is None:
        return 0
    if fmt == "parquet":
        if out is None:
            raise StorageError("--format parquet needs --output FILE")
        rel.write_parquet(str(out))
        return 0
    if fmt == "csv":
        target = out.open("w", newline="") if out else stream
        w = csv.writer(target)
        w.writerow(rel.columns)
        w.writerows(rel.fetchall())
        if out:
            target.close()
        return 0
    if fmt == "json":
        rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
        text = "".join(json.dumps(r, default=str) + "\n" for r in rows)
        if out:
            out.write_text(text)
        else:
            stream.write(text)
        return 0
    text = _table(rel.columns, rel.fetchall())
    if out:
        out.write_text(text)
    else:
        stream.write(text)
    return 0


def _table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Plain aligned text: every row, nothing elided (unlike DuckDB's box rendering)."""
    cells = [[str(c) for c in columns]] + [
        ["NULL" if v is None else str(v) for v in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(rows)} rows)\n"
