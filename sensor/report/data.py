"""Every figure of `sensor report`, each computed by one SQL statement over the catalog.

The renderers (text, HTML) format these values and compute nothing, so a test can recompute
every number the reader sees from the store. Definitions that the page states in words:
a *connection* is a flow counted once, in the period its first record began (`segment = 0`;
interim records add bytes, never connections); *hosts* are distinct client addresses per
site; *bytes* are both directions of every record that began in the period.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from sensor.errors import UsageError
from sensor.report.health import HealthRow, has_health, health_rows

__all__ = [
    "Figures",
    "HealthRow",
    "Period",
    "ProvisionRow",
    "Report",
    "compute",
    "resolve_period",
]

ROGUE_PROVISION = "2503-22"
HOSTS = "count(DISTINCT (site, src_ip))"
BYTES = "coalesce(sum(bytes_toserver + bytes_toclient), 0)"


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC, shown in `tz`; `site` None means every site."""

    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo
    site: str | None = None

    def previous(self) -> Period:
        """The period of equal length just before, for the change figures."""
        return Period(self.start - (self.end - self.start), self.start, self.tz, self.site)

    def local(self, t: dt.datetime) -> dt.datetime:
        return t.astimezone(self.tz)


def _duration(text: str) -> dt.timedelta | None:
    m = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if not m:
        return None
    name = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
    return dt.timedelta(**{name: int(m.group(1))})


def _local_day(text: str, tz: ZoneInfo, option: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option}: expected a duration (30m, 12h, 7d, 2w) or a date (2026-11-24), got {text!r}"
        ) from None
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


_NEWEST_PARTS = (
    "(SELECT max(ts_end) FROM flows WHERE sensor <> '_schema')",
    "(SELECT max(last_seen) FROM wireless_aps WHERE sensor <> '_schema')",
)
_NEWEST_NO_HEALTH = f"SELECT greatest({', '.join(_NEWEST_PARTS)})"
_NEWEST = (
    f"SELECT greatest({', '.join(_NEWEST_PARTS)}, "
    "(SELECT max(ts) FROM health WHERE sensor <> '_schema'))"
)


def resolve_period(
    con: duckdb.DuckDBPyConnection, since: str, until: str | None, tz: ZoneInfo, site: str | None
) -> Period | None:
    """`--since 7d|2026-11-01` and `--until 2026-11-30` (a local day, inclusive) into a
    period; without --until the period ends at the newest record (flow, access point heard
    or health row), so a replayed capture reports on its own time: an access point heard
    after the last flow ended was left out. None when the store has no such record."""
    if until is not None:
        end = _local_day(until, tz, "--until") + dt.timedelta(days=1)
    else:
        row = con.execute(_NEWEST if has_health(con) else _NEWEST_NO_HEALTH).fetchone()
        if not row or row[0] is None:
            return None
        end = row[0].astimezone(dt.UTC) + dt.timedelta(microseconds=1)
    length = _duration(since)
    start = end - length if length is not None else _local_day(since, tz, "--since")
    if start >= end:
        raise UsageError(f"--since {since} is not before --until {until}")
    return Period(start, end, tz, site)


@dataclass(frozen=True, slots=True)
class Figures:
    """Headline figures of one period."""

    connections: int
    violations: int
    hosts: int
    violation_bytes: int
    rogue_aps: int


@dataclass(frozen=True, slots=True)
class ProvisionRow:
    provision: str
    violations: int
    hosts: int
    bytes: int
    approved: int
    personal_use: int
    previous: int


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a renderer shows; times are UTC datetimes, days are local dates."""

    period: Period
    now: Figures
    before: Figures
    provisions: tuple[ProvisionRow, ...]
    sites: tuple[tuple[str, str, int], ...]  # site, provision, violations
    days: tuple[tuple[dt.date, str, int], ...]  # local day or week start, site, violations
    weekly: bool
    services: tuple[tuple[str, str, int, int], ...]  # provision, service, connections, bytes
    rogue: tuple[tuple[str, str, int, dt.datetime], ...]  # source, kind, count, first seen
    seen: tuple[int, int, int, int]  # packets, bytes, flow records, sensors
    outcomes: tuple[tuple[str, int], ...]  # action, connections
    health: tuple[HealthRow, ...] | None  # per site, then all; None: the store keeps none
    hosts: tuple[tuple[str, str, str, int, int, str], ...]  # detail only


def _where(p: Period, ts: str = "ts_start") -> tuple[str, list[Any]]:
    sql = f"sensor <> '_schema' AND {ts} >= ? AND {ts} < ?"
    params: list[Any] = [p.start, p.end]
    if p.site is not None:
        sql += " AND site = ?"
        params.append(p.site)
    return sql, params


def _all(con: duckdb.DuckDBPyConnection, sql: str, p: Period) -> list[tuple[Any, ...]]:
    where, params = _where(p)
    return con.execute(sql.replace("{where}", where), params).fetchall()


def _figures(con: duckdb.DuckDBPyConnection, p: Period) -> Figures:
    row = _all(
        con,
        "SELECT count(*) FILTER (WHERE segment = 0), "
        "count(*) FILTER (WHERE segment = 0 AND action = 'violation'), "
        f"{HOSTS} FILTER (WHERE action = 'violation'), "
        "sum(bytes_toserver + bytes_toclient) FILTER (WHERE action = 'violation') "
        "FROM flows WHERE {where}",
        p,
    )[0]
    return Figures(row[0], row[1], row[2], row[3] or 0, sum(r[2] for r in _rogue(con, p)))


def _provisions(con: duckdb.DuckDBPyConnection, p: Period) -> tuple[ProvisionRow, ...]:
    sql = (
        "SELECT provision, count(*) FILTER (WHERE segment = 0 AND action = 'violation'), "
        f"{HOSTS} FILTER (WHERE action = 'violation'), "
        "coalesce(sum(bytes_toserver + bytes_toclient) FILTER (WHERE action = 'violation'), 0), "
        "count(*) FILTER (WHERE segment = 0 AND action = 'approved'), "
        "count(*) FILTER (WHERE segment = 0 AND action = 'personal_use_window') "
        "FROM flows WHERE {where} AND provision IS NOT NULL AND provision <> 'none' "
        "GROUP BY provision"
    )
    before = {r[0]: r[1] for r in _all(con, sql, p.previous())}
    rows = [
        ProvisionRow(r[0], r[1], r[2], r[3], r[4], r[5], before.get(r[0], 0))
        for r in _all(con, sql, p)
    ]
    rows.sort(key=lambda r: (-r.violations, -r.approved - r.personal_use, r.provision))
    return tuple(rows)


def _rogue(con: duckdb.DuckDBPyConnection, p: Period) -> list[tuple[str, str, int, dt.datetime]]:
    """Rogue access points: heard over the air (distinct BSSIDs per check that fired) and
    found on the wire (connections of provision 22's signatures, e.g. a rogue DHCP server)."""
    where, params = _where(p, "last_seen")
    radio = con.execute(
        "SELECT 'radio', trim(i), count(DISTINCT bssid), min(first_seen) FROM "
        f"(SELECT *, unnest(string_split(indicators, ',')) AS i FROM wireless_aps WHERE {where} "
        "AND indicators IS NOT NULL AND indicators <> '') GROUP BY ALL",
        params,
    ).fetchall()
    wire = _all(
        con,
        "SELECT 'wire', coalesce(signature, 'unknown'), count(*) FILTER (WHERE segment = 0), "
        "min(ts_start) FROM flows WHERE {where} AND provision = '"
        + ROGUE_PROVISION
        + "' AND action = 'violation' GROUP BY ALL",
        p,
    )
    rows = [r for r in radio + wire if r[2]]
    return sorted(rows, key=lambda r: (r[0], -r[2], r[1]))


def _days(con: duckdb.DuckDBPyConnection, p: Period, weekly: bool) -> list[Any]:
    unit = "week" if weekly else "day"
    where, params = _where(p)
    return con.execute(
        f"SELECT CAST(date_trunc('{unit}', timezone(?, ts_start)) AS DATE) AS d, site, "
        f"count(*) FILTER (WHERE segment = 0) FROM flows WHERE {where} "
        "AND action = 'violation' GROUP BY ALL ORDER BY d, site",
        [p.tz.key, *params],
    ).fetchall()


# The tables of the report: name -> SQL over one period's records ({where}).
_TABLES = {
    "sites": "SELECT site, provision, count(*) FILTER (WHERE segment = 0) FROM flows "
    "WHERE {where} AND action = 'violation' GROUP BY ALL ORDER BY 1, 2",
    "services": "SELECT provision, coalesce(service, signature, 'unnamed') AS s, "
    f"count(*) FILTER (WHERE segment = 0), {BYTES} FROM flows WHERE {{where}} "
    "AND action = 'violation' GROUP BY ALL ORDER BY 1, 3 DESC, 4 DESC, 2",
    "outcomes": "SELECT action, count(*) FILTER (WHERE segment = 0) AS n FROM flows "
    "WHERE {where} GROUP BY ALL ORDER BY n DESC, action",
    "seen": "SELECT coalesce(sum(pkts_toserver + pkts_toclient), 0), "
    f"{BYTES}, count(*), count(DISTINCT sensor) FROM flows WHERE {{where}}",
    "hosts": "SELECT provision, site, src_ip, count(*) FILTER (WHERE segment = 0), "
    f"{BYTES}, string_agg(DISTINCT evidence, '; ') FROM flows WHERE {{where}} "
    "AND action = 'violation' GROUP BY ALL ORDER BY 1, 4 DESC, 3",
}


def compute(con: duckdb.DuckDBPyConnection, p: Period, detail: bool) -> Report:
    """Run every statement for period `p` (and the one before it)."""
    weekly = p.end - p.start > dt.timedelta(days=31)
    seen = _all(con, _TABLES["seen"], p)[0]
    return Report(
        period=p,
        now=_figures(con, p),
        before=_figures(con, p.previous()),
        provisions=_provisions(con, p),
        sites=tuple(_all(con, _TABLES["sites"], p)),
        days=tuple(_days(con, p, weekly)),
        weekly=weekly,
        services=tuple(_all(con, _TABLES["services"], p)),
        rogue=tuple(_rogue(con, p)),
        seen=(seen[0], seen[1], seen[2], seen[3]),
        outcomes=tuple(_all(con, _TABLES["outcomes"], p)),
        health=health_rows(con, *_where(p, "ts")) if has_health(con) else None,
        hosts=tuple(_all(con, _TABLES["hosts"], p)) if detail else (),
    )
