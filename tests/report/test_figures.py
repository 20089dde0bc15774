"""Every number of the report equals a recomputation from the store's raw rows, and the
text shows each of them with units that never turn a non-zero quantity into "0"."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from sensor.classify import SignaturesConfig
from sensor.report import build, names_for, render_text
from sensor.report.data import Period
from sensor.report.words import count, size

TZ = ZoneInfo("America/Chicago")


def _records(db: Path) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    rel = con.sql(
        "SELECT site, sensor, segment, action, provision, src_ip, service, signature, ts_start, "
        "bytes_toserver + bytes_toclient AS bytes, pkts_toserver + pkts_toclient AS pkts "
        "FROM flows WHERE sensor <> '_schema'"
    )
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def _expected(rows: list[dict[str, Any]], p: Period) -> dict[str, Any]:
    """The report's figures for `p`, by hand: connections are first records (segment 0)."""
    rs = [r for r in rows if p.start <= r["ts_start"] < p.end]
    conn = [r for r in rs if r["segment"] == 0]
    viol = [r for r in rs if r["action"] == "violation"]
    vconn = [r for r in viol if r["segment"] == 0]
    prov: dict[str, tuple[int, ...]] = {}
    for code in {r["provision"] for r in rs} - {None, "none"}:
        mine = [r for r in rs if r["provision"] == code]
        v = [r for r in mine if r["action"] == "violation"]
        prov[code] = (
            sum(r["segment"] == 0 for r in v),
            len({(r["site"], r["src_ip"]) for r in v}),
            sum(r["bytes"] for r in v),
            sum(r["segment"] == 0 and r["action"] == "approved" for r in mine),
            sum(r["segment"] == 0 and r["action"] == "personal_use_window" for r in mine),
        )
    days = Counter((r["ts_start"].astimezone(TZ).date(), r["site"]) for r in vconn)
    services: Counter[tuple[str, str]] = Counter()
    service_bytes: Counter[tuple[str, str]] = Counter()
    for r in viol:
        key = (r["provision"], r["service"] or r["signature"] or "unnamed")
        services[key] += r["segment"] == 0
        service_bytes[key] += r["bytes"]
    return {
        "connections": len(conn),
        "violations": len(vconn),
        "hosts": len({(r["site"], r["src_ip"]) for r in viol}),
        "bytes": sum(r["bytes"] for r in viol),
        "provisions": prov,
        "sites": Counter((r["site"], r["provision"]) for r in vconn),
        "days": days,
        "services": {k: (services[k], service_bytes[k]) for k in services},
        "outcomes": Counter(r["action"] for r in conn),
        "seen": (
            sum(r["pkts"] for r in rs),
            sum(r["bytes"] for r in rs),
            len(rs),
            len({r["sensor"] for r in rs}),
        ),
    }


def _nonzero(c: Counter[Any] | dict[Any, int]) -> dict[Any, int]:
    return {k: v for k, v in c.items() if v}


def test_every_figure_equals_the_store(fleet_store: Path) -> None:
    r = build(fleet_store, "2025-12-01", "2025-12-10", TZ.key, None, detail=True)
    assert r is not None
    # ten local days, and the ten before them for the changes
    assert r.period.start == dt.datetime(2025, 12, 1, tzinfo=TZ)
    assert r.period.end == dt.datetime(2025, 12, 11, tzinfo=TZ)
    rows = _records(fleet_store)
    for figures, period in ((r.now, r.period), (r.before, r.period.previous())):
        e = _expected(rows, period)
        assert e["violations"] > 0, "the fleet store has rule breaks in both periods"
        assert figures.connections == e["connections"]
        assert figures.violations == e["violations"]
        assert figures.hosts == e["hosts"]
        assert figures.violation_bytes == e["bytes"]
    e, before = _expected(rows, r.period), _expected(rows, r.period.previous())
    got = {
        p.provision: (p.violations, p.hosts, p.bytes, p.approved, p.personal_use)
        for p in r.provisions
    }
    assert got == e["provisions"]
    assert {p.provision: p.previous for p in r.provisions} == {
        k: before["provisions"].get(k, (0,))[0] for k in got
    }
    assert any(p.personal_use for p in r.provisions), "lunch-time replays give personal use"
    assert _nonzero({(s, p): n for s, p, n in r.sites}) == _nonzero(e["sites"])
    assert len({s for s, _, _ in r.sites}) == 2
    assert _nonzero({(d, s): n for d, s, n in r.days}) == _nonzero(e["days"])
    assert {(p, s): (n, b) for p, s, n, b in r.services} == e["services"]
    assert _nonzero(dict(r.outcomes)) == _nonzero(e["outcomes"])
    assert r.seen == e["seen"]
    assert {ip for _, _, ip, _, _, _ in r.hosts} == {
        x["src_ip"] for x in rows if r.period.start <= x["ts_start"] < r.period.end
        and x["action"] == "violation"
    }  # fmt: skip


def test_rogue_access_points_from_the_air_and_the_wire(fleet_store: Path) -> None:
    r = build(fleet_store, "3w", None, TZ.key, None, detail=False)
    assert r is not None
    con = duckdb.connect(str(fleet_store), read_only=True)
    radio = con.execute(
        "SELECT indicators, bssid, first_seen FROM wireless_aps "
        "WHERE sensor <> '_schema' AND indicators <> ''"
    ).fetchall()
    wire = con.execute(
        "SELECT signature, ts_start FROM flows WHERE provision = '2503-22' "
        "AND action = 'violation' AND segment = 0"
    ).fetchall()
    expected = Counter[tuple[str, str]]()
    first: dict[tuple[str, str], dt.datetime] = {}
    for ind, _, t in radio:
        for i in ind.split(","):
            expected["radio", i] += 1
            first["radio", i] = min(first.get(("radio", i), t), t)
    for sig, t in wire:
        expected["wire", sig] += 1
        first["wire", sig] = min(first.get(("wire", sig), t), t)
    assert {("radio", "open_or_wep"), ("wire", "rogue_ap.nat_pmp")} <= set(expected)
    assert {(s, k): (n, t) for s, k, n, t in r.rogue} == {
        k: (n, first[k]) for k, n in expected.items()
    }
    assert r.now.rogue_aps == sum(expected.values())


def test_text_report_reads_in_local_time_with_units(fleet_store: Path) -> None:
    r = build(fleet_store, "2025-12-01", "2025-12-10", TZ.key, None, detail=False)
    assert r is not None
    text = render_text(r, names_for(SignaturesConfig()))
    assert "Mon 01 Dec 2025 00:00 CST to Thu 11 Dec 2025 00:00 CST (America/Chicago)" in text
    for p in r.provisions:
        line = next(x for x in text.splitlines() if x.strip().startswith(p.provision + " "))
        assert count(p.violations) in line and size(p.bytes) in line
    assert "Tue 02 Dec 2025" in text and "Tue 09 Dec 2025" in text  # days with weekday
    # the demo's violations are at 10:00 in Missouri (16:00 UTC): the report says 10:00
    assert "10:00 CST" in text and "16:00" not in text
    assert "ChatGPT (web or app)" in text and "BitTorrent peer wire protocol" in text
    assert "10.20." not in text  # the leader view counts hosts, never names them


def test_units_never_show_a_non_zero_quantity_as_zero() -> None:
    assert size(0) == "0 B" and size(1) == "1 B" and size(999) == "999 B"
    assert size(50_851) == "50.9 kB" and size(1_000) == "1.00 kB" and size(999_999) == "1.00 MB"
    assert size(2_500_000_000) == "2.50 GB"
    for n in (1, 7, 512, 1001, 49_999, 10**7 + 3, 10**13):
        assert not size(n).startswith("0"), n


def test_a_long_period_counts_per_week_from_monday(fleet_store: Path) -> None:
    r = build(fleet_store, "10w", None, TZ.key, None, detail=False)
    assert r is not None and r.weekly
    assert all(d.weekday() == 0 for d, _, _ in r.days)
    weeks = Counter[tuple[dt.date, str]]()
    for x in _records(fleet_store):
        if x["action"] == "violation" and x["segment"] == 0:
            day = x["ts_start"].astimezone(TZ).date()
            weeks[day - dt.timedelta(days=day.weekday()), x["site"]] += 1
    assert {(d, s): n for d, s, n in r.days} == dict(weeks)
    assert len({d for d, _, _ in r.days}) == 3  # the three weeks of the fleet
