"""How far to trust a period's figures: what the sensor read and what it missed, by SQL over
the `health` table (one row per worker and flush interval, holding deltas, so sums are right).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

__all__ = ["HealthRow", "has_health", "health_rows"]

# share of what reached the sensor that it lost: kernel drops never reached it; undecodable
# frames were read (so they are in `packets`) but could not be counted in any flow
_SQL = """
SELECT site, count(DISTINCT sensor), coalesce(sum(packets), 0), coalesce(sum(bytes), 0),
       coalesce(sum(kernel_drops), 0),
       sum(kernel_drops) / nullif(sum(packets) + sum(kernel_drops), 0),
       coalesce(sum(decode_errors), 0), coalesce(sum(capture_errors), 0),
       coalesce(sum(rows_lost), 0),
       (sum(kernel_drops) + sum(decode_errors)) / nullif(sum(packets) + sum(kernel_drops), 0)
FROM health WHERE {where}
GROUP BY GROUPING SETS ((site), ()) ORDER BY grouping(site), site
"""


@dataclass(frozen=True, slots=True)
class HealthRow:
    """One site's (or, with `site` None, every site's) capture health over a period."""

    site: str | None
    sensors: int
    packets: int
    """Frames read, decodable or not."""
    bytes: int
    kernel_drops: int
    drop_share: float | None
    """Kernel drops over the packets that reached the sensor (read + dropped); None: none."""
    decode_errors: int
    capture_errors: int
    """Damaged records in capture files (replay)."""
    rows_lost: int
    missed_share: float | None
    """Drops and undecodable frames over the packets that reached the sensor."""


def has_health(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the catalog has the `health` view (a store written before it existed has not)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = 'health' AND NOT internal"
    ).fetchone()
    return bool(row and row[0])


def health_rows(
    con: duckdb.DuckDBPyConnection, where: str, params: list[Any]
) -> tuple[HealthRow, ...]:
    """Per site, then the total (last); empty when no row falls in the period."""
    rows = con.execute(_SQL.replace("{where}", where), params).fetchall()
    if not rows or rows[-1][1] == 0:  # the total of nothing: no sensor wrote a row
        return ()
    return tuple(HealthRow(*r) for r in rows)
