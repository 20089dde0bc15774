"""`sensor query`: the analysts' view of the catalog (`sensor report` is sensor/report/).

It opens the catalog read-only, so it runs beside a sensor that keeps writing segments.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import duckdb
import numpy as np

from sensor.errors import StorageError, UsageError
from sensor.text import escape_text, first_line

__all__ = ["open_catalog", "query"]


def open_catalog(catalog: Path) -> duckdb.DuckDBPyConnection:
    """The catalog opened read-only (beside a running sensor), or a one-line StorageError."""
    if not catalog.exists():
        raise StorageError(
            f"{catalog}: no such catalog (run `sensor replay` or `sensor run` first)"
        )
    try:
        return duckdb.connect(str(catalog), read_only=True)
    except duckdb.Error as e:
        raise StorageError(f"{catalog}: cannot open the catalog: {first_line(e)}") from None


def query(catalog: Path, sql: str, fmt: str, out: Path | None, stream: TextIO = sys.stdout) -> int:
    """Run SQL (one statement or several, each result printed in turn) as a table, CSV or
    JSON, or write Parquet to `out`. Text from the wire is escaped in table and CSV output:
    a control character in a User-Agent or DNS name never reaches the terminal raw."""
    if fmt == "parquet" and out is None:
        raise UsageError("--format parquet needs --output FILE")
    if out is not None and not out.parent.is_dir():
        raise StorageError(f"{out}: folder {out.parent} does not exist")
    con = open_catalog(catalog)
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise UsageError(f"query failed: {first_line(e)}") from None
    texts: list[str] = []
    for st in statements:
        try:
            rel = con.sql(st.query)
        except duckdb.Error as e:
            raise UsageError(f"query failed: {first_line(e)}") from None
        if rel is None:
            continue
        if fmt == "parquet":
            assert out is not None
            rel.write_parquet(str(out))
            continue
        texts.append(_render(rel, fmt))
    text = "\n".join(texts) if fmt == "table" else "".join(texts)
    if fmt == "parquet":
        return 0
    if out is not None:
        out.write_text(text, encoding="utf-8", newline="")
    else:
        stream.write(text)
    return 0


def _render(rel: duckdb.DuckDBPyRelation, fmt: str) -> str:
    cols = [str(c) for c in rel.columns]
    singles = {i for i, t in enumerate(rel.types) if str(t) == "FLOAT"}
    rows = rel.fetchall()
    if fmt == "json":
        return "".join(
            json.dumps(dict(zip(cols, _json_row(r, singles), strict=True)), default=str) + "\n"
            for r in rows
        )
    cells = [[_cell(v, i in singles) for i, v in enumerate(r)] for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([escape_text(c) for c in cols])
        w.writerows(cells)
        return buf.getvalue()
    return _table([escape_text(c) for c in cols], cells)


def _cell(v: Any, single: bool) -> str:
    """One value as a person reads it: NULL, floats without storage noise, text escaped."""
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return _float(v, single)
    return escape_text(str(v))


def _float(v: float, single: bool) -> str:
    """A FLOAT column holds 32 bits: 0.85 is stored as 0.8500000238418579; print 0.85."""
    return str(np.float32(v)) if single else repr(v)


def _json_row(r: tuple[Any, ...], singles: set[int]) -> list[Any]:
    return [float(_float(v, True)) if i in singles and v is not None else v for i, v in
            enumerate(r)]  # fmt: skip


def _table(columns: list[str], cells: list[list[str]]) -> str:
    """Plain aligned text: every row, nothing elided (unlike DuckDB's box rendering)."""
    allrows = [columns, *cells]
    widths = [max(len(r[i]) for r in allrows) for i in range(len(columns))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in allrows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(cells)} rows)\n"
