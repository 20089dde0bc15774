"""The report as one self-contained HTML page: no script, no network at view time, and a
print stylesheet that gives the same content on Letter or A4 paper.

Every string that can come from the wire or the store (site names, services, SSIDs,
evidence, addresses in the detail view) goes through `_e`: control characters made visible,
then HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html

from sensor.report import charts
from sensor.report.data import Report
from sensor.report.text import headline, period_line, seen_line, sites_of
from sensor.report.words import OUTCOMES, Names, change, clean, count, size, when

__all__ = ["render_html"]

_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;color:#222;max-width:62em;margin:1.5em auto;
padding:0 1em;font-size:14px}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;margin:1.4em 0 .4em;
border-bottom:1px solid #ccc}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:.8em}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em .8em}
.card b{display:block;font-size:1.7em}.card small{color:#555}
.fall{color:#2b7a3d}.rise{color:#b3261e}
table{border-collapse:collapse;width:100%}td,th{padding:.25em .6em;text-align:left;
vertical-align:top}td.n,th.n{text-align:right;white-space:nowrap}td.k{white-space:nowrap}
tr:nth-child(even){background:#f4f4f4}th{border-bottom:1px solid #bbb}
.two{display:grid;grid-template-columns:1fr 1fr;gap:1.2em}
svg{max-width:100%;height:auto}.note{color:#555;font-size:.9em}
section{break-inside:avoid}
@media print{@page{margin:12mm}body{max-width:none;margin:0;padding:0;font-size:11px}
.cards{grid-template-columns:repeat(4,1fr)}.two{grid-template-columns:1fr}
tr,section,svg{break-inside:avoid}}
"""


def _e(value: object) -> str:
    return html.escape(clean(value))


def _table(head: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """`rows` are already escaped cells; columns from `numeric_from` are right-aligned."""
    if not rows:
        return '<p class="note">None in this period.</p>'

    def cls(i: int) -> str:
        return (
            ' class="n"'
            if i >= numeric_from
            else ' class="k"'
            if i == 0 and numeric_from > 1
            else ""
        )

    th = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _cards(r: Report) -> str:
    out = []
    for label, value, delta in headline(r):
        trend = "fall" if delta.startswith("\u2212") else "rise" if delta[:1] == "+" else ""
        out.append(
            f'<div class="card"><small>{_e(label)}</small><b>{_e(value)}</b>'
            f'<span class="{trend}">{_e(delta)}</span></div>'
        )
    return '<div class="cards">' + "".join(out) + "</div>"


def _provisions(r: Report, names: Names) -> str:
    rows = [
        [
            f"{_e(p.provision)} {_e(names.provision(p.provision))}",
            count(p.violations),
            count(p.hosts),
            _e(size(p.bytes)),
            count(p.approved),
            count(p.personal_use),
            _e(change(p.violations, p.previous)),
        ]
        for p in r.provisions
    ]
    head = ["Policy item", "Rule breaks", "Hosts", "Traffic", "Approved", "Personal use", "Change"]
    return _table(head, rows)


def _periods(r: Report) -> list[dt.date]:
    """Every local day (or Monday) of the period, empty ones included."""
    step = dt.timedelta(weeks=1) if r.weekly else dt.timedelta(days=1)
    first = r.period.local(r.period.start).date()
    last = r.period.local(r.period.end - dt.timedelta(microseconds=1)).date()
    if r.weekly:
        first -= dt.timedelta(days=first.weekday())
    out = []
    while first <= last:
        out.append(first)
        first += step
    return out


def _days(r: Report) -> str:
    sites = sites_of(r)
    labels = {d: f"{d:%a %d %b}" for d in _periods(r)}
    values = {(labels[d], s): n for d, s, n in r.days if d in labels}
    clean_values = {(k, clean(s)): v for (k, s), v in values.items()}
    return charts.stacked_days(list(labels.values()), [clean(s) for s in sites], clean_values)


def _sites(r: Report, names: Names) -> str:
    sites = sites_of(r)
    cells = {(s, p): n for s, p, n in r.sites}
    provs = sorted({p for _, p, _ in r.sites})
    rows = [
        [f"{_e(p)} {_e(names.provision(p))}"] + [count(cells.get((s, p), 0)) for s in sites]
        for p in provs
    ]
    return _table(["Policy item", *(_e(s) for s in sites)], rows)


def _services(r: Report, names: Names, top: int = 3) -> str:
    rows: list[list[str]] = []
    shown: dict[str, int] = {}
    for p, s, n, b in r.services:
        shown[p] = shown.get(p, 0) + 1
        if shown[p] <= top:
            rows.append([_e(p), _e(names.service(s)), count(n), _e(size(b))])
    return _table(["Item", "Service", "Connections", "Traffic"], rows, numeric_from=2)


def _rogue(r: Report, names: Names) -> str:
    rows = [
        [
            "over the air" if src == "radio" else "on the wire",
            _e(names.signature(kind)),
            f"{count(n)} {'access point' if src == 'radio' else 'connection'}{'s' * (n != 1)}",
            _e(when(t, r.period.tz)),
        ]
        for src, kind, n, t in r.rogue
    ]
    return _table(["Seen", "Finding", "Count", "First seen"], rows, numeric_from=2)


def render_html(r: Report, names: Names, detail: bool = False) -> str:
    by_prov = [
        (f"{p.provision} {names.provision(p.provision)}", p.violations)
        for p in r.provisions
        if p.violations
    ]
    outcomes = [[_e(OUTCOMES.get(a, a)), count(n)] for a, n in r.outcomes]
    hosts = ""
    if detail:
        rows = [
            [_e(p), _e(s), _e(ip), count(n), _e(size(b)), _e(ev)] for p, s, ip, n, b, ev in r.hosts
        ]
        hosts = "<section><h2>Hosts (analyst detail)</h2>" + _table(
            ["Item", "Site", "Host", "Connections", "Traffic", "Evidence"], rows, numeric_from=3
        ) + "</section>"  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Policy 2503 report</title>
<style>{_CSS}</style></head><body>
<h1>Policy 2503: network use report</h1>
<p>{_e(period_line(r))}</p>
{_cards(r)}
<p class="note">A rule break is one connection that broke a numbered item of Personnel
Policy 2503. Hosts are devices counted per site, never named here.</p>
<section><h2>Rule breaks by policy item</h2>{charts.bars(by_prov, count)}</section>
<section><h2>Per policy item, with allowed use beside rule breaks</h2>
{_provisions(r, names)}</section>
<section><h2>Rule breaks per {"week" if r.weekly else "day"} and site</h2>{_days(r)}</section>
<div class="two"><section><h2>Per site</h2>{_sites(r, names)}</section>
<section><h2>Top services per item</h2>{_services(r, names)}</section></div>
<section><h2>Rogue access points</h2>{_rogue(r, names)}</section>
<div class="two"><section><h2>Connections by outcome</h2>
{_table(["Outcome", "Connections"], outcomes)}</section>
<section><h2>What the sensor saw</h2><p>{_e(seen_line(r))}</p></section></div>
{hosts}
</body></html>
"""
