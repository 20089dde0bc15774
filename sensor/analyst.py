"""`sensor query` and `sensor report`: the analysts' and leaders' views of the catalog.

Both open the catalog read-only, so they run beside a sensor that keeps writing segments.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import duckdb
import numpy as np

from sensor.errors import StorageError, UsageError
from sensor.text import escape_text

__all__ = ["parse_since", "query", "report"]


def _connect(catalog: Path) -> duckdb.DuckDBPyConnection:
    if not catalog.exists():
        raise StorageError(
            f"{catalog}: no such catalog (run `sensor replay` or `sensor run` first)"
        )
    try:
        return duckdb.connect(str(catalog), read_only=True)
    except duckdb.Error as e:
        raise StorageError(f"{catalog}: cannot open the catalog: {_first_line(e)}") from None


def query(catalog: Path, sql: str, fmt: str, out: Path | None, stream: TextIO = sys.stdout) -> int:
    """Run SQL (one statement or several, each result printed in turn) as a table, CSV or
    JSON, or write Parquet to `out`. Text from the wire is escaped in table and CSV output:
    a control character in a User-Agent or DNS name never reaches the terminal raw."""
    if fmt == "parquet" and out is None:
        raise UsageError("--format parquet needs --output FILE")
    if out is not None and not out.parent.is_dir():
        raise StorageError(f"{out}: folder {out.parent} does not exist")
    con = _connect(catalog)
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise UsageError(f"query failed: {_first_line(e)}") from None
    texts: list[str] = []
    for st in statements:
        try:
            rel = con.sql(st.query)
        except duckdb.Error as e:
            raise UsageError(f"query failed: {_first_line(e)}") from None
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


def _first_line(e: BaseException) -> str:
    return escape_text(str(e).strip().splitlines()[0]) if str(e).strip() else type(e).__name__


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


def parse_since(text: str) -> dt.timedelta:
    """`7d`, `12h`, `30m`, `2w` -> timedelta."""
    m = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if not m:
        raise UsageError(f"--since: expected a number and m/h/d/w (7d, 12h), got {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    name = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]
    return dt.timedelta(**{name: n})


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return con.execute(sql, params).fetchall()


def report(catalog: Path, since: dt.timedelta, html_out: Path | None, stream: TextIO) -> int:
    """A summary per provision and site over the last `since` of data (relative to the newest
    record, so a replayed capture reports on its own period)."""
    con = _connect(catalog)
    newest = con.execute("SELECT max(ts_end) FROM flows").fetchone()
    if not newest or newest[0] is None:
        stream.write("no flow records yet\n")
        return 0
    end = newest[0]
    start = end - since
    p = [start, end]
    titles = _titles()
    by_prov = _rows(
        con,
        "SELECT provision, site, count(DISTINCT flow_id), count(DISTINCT src_ip), "
        "sum(bytes_toserver + bytes_toclient) FROM flows WHERE action = 'violation' "
        "AND ts_start BETWEEN ? AND ? GROUP BY ALL ORDER BY 3 DESC",
        p,
    )
    by_action = _rows(
        con,
        "SELECT action, count(DISTINCT flow_id) FROM flows WHERE ts_start BETWEEN ? AND ? "
        "GROUP BY ALL ORDER BY 2 DESC",
        p,
    )
    by_cat = _rows(
        con,
        "SELECT coalesce(category, 'none'), sum(bytes_toserver + bytes_toclient) FROM flows "
        "WHERE ts_start BETWEEN ? AND ? GROUP BY ALL ORDER BY 2 DESC",
        p,
    )
    per_day = _rows(
        con,
        "SELECT date, count(DISTINCT flow_id) FROM flows WHERE action = 'violation' "
        "AND ts_start BETWEEN ? AND ? GROUP BY ALL ORDER BY 1",
        p,
    )
    lines = [
        f"Policy 2503 report: {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        "",
        "Rule breaks by provision and site (connections, hosts, bytes):",
    ]
    lines += [
        f"  {prov:8} {titles.get(prov, ''):40} {site:14} {n:8,} {h:6,} {b:15,}"
        for prov, site, n, h, b in by_prov
    ] or ["  none"]
    lines += ["", "Connections by outcome:"]
    lines += [f"  {a:20} {n:10,}" for a, n in by_action]
    lines += ["", "Traffic by category (bytes):"]
    lines += [f"  {c:20} {b:15,}" for c, b in by_cat]
    stream.write("\n".join(lines) + "\n")
    if html_out is not None:
        html_out.write_text(_html(start, end, by_prov, by_cat, per_day, titles))
        stream.write(f"HTML report: {html_out}\n")
    return 0


def _titles() -> dict[str, str]:
    from sensor.classify import SignaturesConfig, load_rules

    provisions, _ = load_rules(SignaturesConfig(shipped=False))
    return {p.id: p.title for p in provisions.values()}


def _bars(rows: list[tuple[str, float]], unit: str = "") -> str:
    """A horizontal bar chart as inline SVG: no scripts, no network, prints as is."""
    if not rows:
        return "<p>No data.</p>"
    top = max(v for _, v in rows) or 1
    h = 22
    out = [f'<svg width="720" height="{h * len(rows) + 4}" role="img">']
    for i, (label, v) in enumerate(rows):
        w = int(460 * v / top)
        y = i * h + 2
        out.append(
            f'<text x="0" y="{y + 15}" font-size="13">{html.escape(str(label))}</text>'
            f'<rect x="200" y="{y + 3}" width="{w}" height="15" fill="#3b6ea5"/>'
            f'<text x="{205 + w}" y="{y + 15}" font-size="12">{v:,.0f}{unit}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _html(
    start: Any, end: Any, by_prov: list[Any], by_cat: list[Any], per_day: list[Any],
    titles: dict[str, str],
) -> str:  # fmt: skip
    prov_totals: dict[str, float] = {}
    for prov, _, n, _, _ in by_prov:
        prov_totals[prov] = prov_totals.get(prov, 0) + n
    rows = "".join(
        f"<tr><td>{html.escape(p)}</td><td>{html.escape(titles.get(p, ''))}</td>"
        f"<td>{html.escape(s)}</td><td>{n:,}</td><td>{h:,}</td></tr>"
        for p, s, n, h, _ in by_prov
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Policy 2503 report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em;
text-align:left}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#f2f2f2}}</style>
</head><body>
<h1>Policy 2503: network use report</h1>
<p>{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC. One count is one connection that broke a
numbered item of Personnel Policy 2503.</p>
<h2>Rule breaks by policy item</h2>
{_bars([(f"{p} {titles.get(p, '')[:24]}", v) for p, v in prov_totals.items()])}
<h2>Rule breaks per day</h2>
{_bars([(str(d), n) for d, n in per_day])}
<h2>Traffic by kind</h2>
{_bars([(c, b / 1e6) for c, b in by_cat], " MB")}
<h2>Detail by site</h2>
<table><tr><th>Provision</th><th>Title</th><th>Site</th><th>Connections</th><th>Hosts</th></tr>
{rows}</table>
</body></html>
"""
