"""`sensor query` and `sensor report`: the analysts' and leaders' views of the catalog.

Both open the catalog read-only, so they run beside a sensor that keeps writing segments.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import duckdb

from sensor.errors import StorageError

__all__ = ["parse_since", "query", "report"]


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


def parse_since(text: str) -> dt.timedelta:
    """`7d`, `12h`, `30m`, `2w` -> timedelta."""
    m = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if not m:
        raise StorageError(f"--since: expected a number and m/h/d/w (7d, 12h), got {text!r}")
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
