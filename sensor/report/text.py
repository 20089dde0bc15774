"""The report as plain text, for a terminal or an e-mail. Figures come from `data.Report`
unchanged; this module only lays them out."""

from __future__ import annotations

from sensor.report.data import Report
from sensor.report.words import OUTCOMES, Names, change, clean, count, size, when

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
    out += ["", "What the sensor saw", "  " + seen_line(r)]
    if detail:
        hosts = [
            [p, clean(s), clean(ip), count(n), size(b), clean(ev)] for p, s, ip, n, b, ev in r.hosts
        ]
        out += ["", "Hosts (analyst detail)", *_columns(hosts, right_from=3, right_to=5)]
    return "\n".join(out) + "\n"


def seen_line(r: Report) -> str:
    pk, by, recs, sensors = r.seen
    return (
        f"{count(pk)} packets, {size(by)} in {count(recs)} flow records from {count(sensors)} "
        "sensor(s). Kernel drops and decode errors are not kept in the store: the sensor "
        "dashboards (sensor_capture_kernel_drops_total, sensor_decode_errors_total) show them."
    )
