"""The report as plain text, for a terminal or an e-mail. Figures come from `data.Report`
unchanged; this module only lays them out."""

from __future__ import annotations

import textwrap

from sensor.report.data import HealthRow, Report
from sensor.report.words import (
    OUTCOMES,
    Names,
    amount,
    change,
    clean,
    count,
    share,
    size,
    when,
)

__all__ = ["render_text"]


def _columns(rows: list[list[str]], right_from: int = 1, right_to: int = 99) -> list[str]:
    """Aligned columns: numbers (`right_from` to `right_to`) right-aligned, text left."""
    if not rows:
        return ["  none"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            v.rjust(w) if right_from <= i < right_to else v.ljust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def headline(r: Report) -> list[list[str]]:
    """The four headline figures with their change; shared by the text and HTML views."""
    n, b = r.now, r.before
    return [
        ["Rule breaks (connections)", count(n.violations), change(n.violations, b.violations)],
        ["Hosts involved", count(n.hosts), change(n.hosts, b.hosts)],
        ["Traffic of rule breaks", size(n.violation_bytes), f"was {size(b.violation_bytes)}"],
        ["Rogue access point findings", count(n.rogue_aps), change(n.rogue_aps, b.rogue_aps)],
    ]


def period_line(r: Report) -> str:
    p = r.period
    days = (p.end - p.start).total_seconds() / 86400
    length = f"{days:.0f} days" if days >= 1 else f"{days * 24:.0f} hours"
    where = f"site {clean(p.site)}" if p.site else "all sites"
    return (
        f"{when(p.start, p.tz)} to {when(p.end, p.tz)} ({p.tz.key}), {where}; changes compare "
        f"with the {length} before."
    )


def sites_of(r: Report) -> list[str]:
    return sorted({s for _, s, _ in r.days} | {s for s, _, _ in r.sites})


def _per_provision(r: Report, names: Names) -> list[str]:
    rows = [["item", "breaks", "hosts", "traffic", "approved", "personal use", "change"]]
    rows += [
        [
            f"{p.provision} {names.provision(p.provision)}",
            count(p.violations),
            count(p.hosts),
            size(p.bytes),
            count(p.approved),
            count(p.personal_use),
            change(p.violations, p.previous),
        ]
        for p in r.provisions
    ]
    return _columns(rows)


def _per_site(r: Report, names: Names) -> list[str]:
    sites = sites_of(r)
    cells = {(s, p): n for s, p, n in r.sites}
    grid = [["item", *map(clean, sites)]]
    grid += [
        [f"{p} {names.provision(p)}"] + [count(cells.get((s, p), 0)) for s in sites]
        for p in sorted({p for _, p, _ in r.sites})
    ]
    return _columns(grid)


def _rogue(r: Report, names: Names) -> list[str]:
    rows = [
        [
            "over the air" if src == "radio" else "on the wire",
            names.signature(kind),
            count(n),
            "first seen " + when(t, r.period.tz),
        ]
        for src, kind, n, t in r.rogue
    ]
    return _columns(rows, right_from=2, right_to=3)


def render_text(r: Report, names: Names, detail: bool = False) -> str:
    out = ["Policy 2503 report", period_line(r), "", "Headline", *_columns(headline(r))]
    out += ["", "Per policy item: rule breaks, hosts, traffic, and allowed use beside them"]
    out += _per_provision(r, names)
    out += ["", "Rule breaks per site", *_per_site(r, names)]
    out += ["", f"Rule breaks per {'week (from Monday)' if r.weekly else 'day'}"]
    out += _columns([[f"{d:%a %d %b %Y}", clean(s), count(n)] for d, s, n in r.days], right_from=2)
    out += ["", "Top services per policy item (connections, traffic)"]
    out += _columns(
        [[p, names.service(s), count(n), size(b)] for p, s, n, b in r.services], right_from=2
    )
    out += ["", "Rogue access points (over the air: access points; on the wire: connections)"]
    out += _rogue(r, names)
    out += ["", "Connections by outcome"]
    out += _columns([[OUTCOMES.get(a, clean(a)), count(n)] for a, n in r.outcomes])
    out += ["", "What the sensor saw and missed", *_wrap(seen_line(r))]
    head, rows = health_table(r)
    if rows:
        out += _columns([head, *rows])
    for line in trust_lines(r):
        out += _wrap(line)
    if detail:
        hosts = [
            [p, clean(s), clean(ip), count(n), size(b), clean(ev)] for p, s, ip, n, b, ev in r.hosts
        ]
        out += ["", "Hosts (analyst detail)", *_columns(hosts, right_from=3, right_to=5)]
    return "\n".join(out) + "\n"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, 98, initial_indent="  ", subsequent_indent="  ")


def seen_line(r: Report) -> str:
    pk, by, recs, sensors = r.seen
    return (
        f"{count(recs)} flow records from {count(sensors)} sensor(s), holding {count(pk)} "
        f"packets and {size(by)}."
    )


HEALTH_HEAD = ["site", "read", "kernel drops", "undecodable", "damaged records", "rows lost"]


def health_table(r: Report) -> tuple[list[str], list[list[str]]]:
    """What each site's sensors read and missed (and all sites, when there are several);
    shared by the text and HTML views."""
    rows = list(r.health or ())
    if len(rows) == 2:  # one site: its row is the total
        rows = rows[:1]
    return HEALTH_HEAD, [_health_cells(h) for h in rows]


def _health_cells(h: HealthRow) -> list[str]:
    drops = amount(h.kernel_drops, "packet")
    if h.kernel_drops and h.drop_share is not None:
        drops += f" ({share(h.drop_share)})"
    return [
        "all sites" if h.site is None else clean(h.site),
        f"{amount(h.packets, 'packet')} ({size(h.bytes)})",
        drops,
        amount(h.decode_errors, "frame"),
        amount(h.capture_errors, "record"),
        amount(h.rows_lost, "row"),
    ]


def trust_lines(r: Report) -> list[str]:
    """How far to trust the figures above, in sentences, from the period's totals."""
    if r.health is None:
        return [
            "This store keeps no record of what the sensor missed (written by a sensor "
            "version without the health table): how complete the figures are is unknown."
        ]
    if not r.health:
        return [
            "No sensor reported what it read or missed in this period: how complete the "
            "figures are is unknown."
        ]
    t = r.health[-1]
    if not (t.kernel_drops or t.decode_errors or t.capture_errors or t.rows_lost):
        return [
            f"{_TRUST}nothing missed that the sensor can count (no kernel drops, "
            "undecodable frames, damaged capture records or lost rows)."
        ]
    out = []
    if t.missed_share:
        out.append(
            f"the sensor missed {share(t.missed_share)} of the packets "
            "that reached it (dropped or undecodable); counts above may be low by as much."
        )
    if t.capture_errors:
        out.append(
            f"{amount(t.capture_errors, 'damaged capture record')}: a capture file was cut "
            "short or corrupt, and what it held past the damage was not read."
        )
    if t.rows_lost:
        out.append(
            f"{amount(t.rows_lost, 'row')} could not be written to the store and are missing "
            "from the figures above."
        )
    return [_TRUST + out[0], *out[1:]]


_TRUST = "How far to trust it: "
