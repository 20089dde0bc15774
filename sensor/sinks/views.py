"""What the analysts' catalog holds: the SQL of its views over the segment tree and of the
ready-made views and macros, and the files those read besides segments (an empty schema
marker per table, the OUI vendor table). Writing the catalog safely is sinks/catalog.py's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from sensor.errors import StorageError
from sensor.sinks import schema as s

__all__ = ["LEGACY_NAMES", "READY_MADE", "TABLES", "oui_sql", "schema_markers", "view_sql"]

TABLES = ("flows", "alerts", "rollups", "wireless_aps", "captures", "health")
# Ready-made views and macros for the common questions (docs/storage.md lists them). Each
# needs the tables it names; the catalog only creates those whose tables exist.
READY_MADE: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("flows",),
        """CREATE OR REPLACE VIEW violations AS
        SELECT * FROM flows WHERE action = 'violation'""",
    ),
    (
        ("flows",),
        """CREATE OR REPLACE VIEW violations_by_day AS
        SELECT date, site, provision, category, count(*) AS records,
               count(DISTINCT flow_id) AS flows, count(DISTINCT src_ip) AS hosts,
               sum(bytes_toserver + bytes_toclient) AS bytes
        FROM flows WHERE action = 'violation' GROUP BY ALL""",
    ),
    (
        ("flows",),
        """CREATE OR REPLACE VIEW top_hosts AS
        SELECT category, provision, src_ip, count(DISTINCT flow_id) AS flows,
               sum(bytes_toserver + bytes_toclient) AS bytes, min(ts_start) AS first_seen,
               max(ts_end) AS last_seen,
               row_number() OVER (PARTITION BY category ORDER BY count(DISTINCT flow_id) DESC,
                                  src_ip) AS rank
        FROM flows WHERE category IS NOT NULL GROUP BY category, provision, src_ip""",
    ),
    (
        ("flows",),
        """CREATE OR REPLACE VIEW bandwidth_by_category AS
        SELECT date, site, coalesce(category, 'none') AS category,
               sum(bytes_toserver + bytes_toclient) AS bytes,
               sum(bytes_toserver + bytes_toclient) * 1.0
                 / sum(sum(bytes_toserver + bytes_toclient)) OVER (PARTITION BY date, site)
                 AS share
        FROM flows GROUP BY date, site, coalesce(category, 'none')""",
    ),
    (
        ("flows",),
        """CREATE OR REPLACE VIEW new_devices AS
        SELECT src_ip AS address, site, min(ts_start) AS first_seen, max(ts_end) AS last_seen,
               count(DISTINCT flow_id) AS flows
        FROM flows GROUP BY src_ip, site""",
    ),
    (
        ("flows",),
        """CREATE OR REPLACE VIEW long_flows AS
        SELECT flow_id, any_value(src_ip) AS src_ip, any_value(dest_ip) AS dest_ip,
               any_value(dest_port) AS dest_port, any_value(server_name) AS server_name,
               any_value(category) AS category, min(ts_start) AS started,
               max(ts_end) AS last_seen, max(ts_end) - min(ts_start) AS duration,
               sum(bytes_toserver + bytes_toclient) AS bytes
        FROM flows GROUP BY flow_id
        HAVING max(ts_end) - min(ts_start) >= INTERVAL 1 HOUR""",
    ),
    (
        ("flows",),
        """CREATE OR REPLACE MACRO host_timeline(ip) AS TABLE
        SELECT ts_start, ts_end, src_ip, src_port, dest_ip, dest_port, proto, app_proto,
               server_name, category, provision, action, evidence, bytes_toserver,
               bytes_toclient, flow_id, community_id
        FROM flows WHERE src_ip = ip OR dest_ip = ip ORDER BY ts_start""",
    ),
    (
        ("flows",),
        """CREATE OR REPLACE MACRO top_hosts_in(cat, n) AS TABLE
        SELECT * FROM top_hosts WHERE category = cat AND rank <= n ORDER BY rank""",
    ),
    (
        ("flows", "wireless_aps"),
        """CREATE OR REPLACE VIEW devices AS
        WITH seen AS (
          SELECT lower(app_meta['dhcp.client_mac']) AS mac, src_ip AS ip,
                 app_meta['dhcp.hostname'] AS hostname, ts_start AS t0, ts_end AS t1,
                 'dhcp_client' AS indicator
          FROM flows WHERE app_meta['dhcp.client_mac'] IS NOT NULL AND src_port = 68
          UNION ALL
          SELECT bssid, NULL, ssid, first_seen, last_seen,
                 coalesce(indicators, 'access_point')
          FROM wireless_aps WHERE sensor <> '_schema'
          UNION ALL
          SELECT lower(device), NULL, NULL, ts, ts, signature
          FROM alerts WHERE device IS NOT NULL)
        SELECT s.mac, any_value(o.vendor) AS vendor,
               string_agg(DISTINCT s.ip, ',') FILTER (WHERE s.ip IS NOT NULL
                 AND s.ip <> '0.0.0.0') AS ips,
               any_value(s.hostname) AS hostname, min(s.t0) AS first_seen,
               max(s.t1) AS last_seen, string_agg(DISTINCT s.indicator, ',') AS indicators
        FROM seen s LEFT JOIN oui o ON o.prefix = substr(s.mac, 1, 8)
        GROUP BY s.mac""",
    ),
    (
        ("wireless_aps",),
        """CREATE OR REPLACE VIEW access_points AS
        SELECT * EXCLUDE (rn) FROM (
          SELECT *, row_number() OVER (PARTITION BY sensor, bssid ORDER BY ts DESC) AS rn
          FROM wireless_aps WHERE sensor <> '_schema') WHERE rn = 1""",
    ),
    (
        ("rollups",),
        """CREATE OR REPLACE VIEW rollup_minute AS
        SELECT minute, site, category, provision, action, sum(records) AS records,
               sum(bytes) AS bytes, max(hosts) AS hosts_at_least
        FROM rollups GROUP BY ALL""",
    ),
    (
        ("rollups",),
        """CREATE OR REPLACE VIEW rollup_hour AS
        SELECT date_trunc('hour', minute) AS hour, site, category, provision, action,
               sum(records) AS records, sum(bytes) AS bytes
        FROM rollups GROUP BY ALL""",
    ),
)


LEGACY_NAMES = frozenset({*TABLES, "oui", *(sql.split()[4].split("(")[0] for _, sql in READY_MADE)})
"""Every name a catalog written before the marker table could hold."""


def view_sql(table: str, data_dir: Path) -> str:
    """SQL of the view that reads every closed segment of `table` under `data_dir`."""
    glob = (data_dir.resolve() / table / "*" / "*" / "*.parquet").as_posix().replace("'", "''")
    return (
        f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{glob}', "
        "hive_partitioning = true, union_by_name = true)"
    )


def schema_markers(data_dir: Path) -> None:
    """An empty `schema.parquet` per table, so every view exists before the first segment."""
    columns = {
        "flows": s.RECORD_COLUMNS,
        "alerts": s.ALERT_COLUMNS,
        "rollups": s.ROLLUP_COLUMNS,
        "wireless_aps": s.WIRELESS_AP_COLUMNS,
        "captures": s.CAPTURE_COLUMNS,
        "health": s.HEALTH_COLUMNS,
    }
    for table in TABLES:
        folder = data_dir / table / "sensor=_schema" / "date=1970-01-01"
        marker = folder / "schema.parquet"
        if marker.exists():
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".schema.parquet.{os.getpid()}.tmp"
            pq.write_table(s.arrow_schema(columns[table]).empty_table(), tmp)
            os.replace(tmp, marker)
        except OSError as e:
            raise StorageError(f"{data_dir}: cannot create the segment tree: {e}") from None


def _oui_file(data_dir: Path) -> Path:
    """`<data>/reference/oui.parquet`: MAC prefix -> vendor (Wireshark's manuf), written once
    beside the segments so the catalog itself stays a few kB (it is copied on each refresh)."""
    path = data_dir / "reference" / "oui.parquet"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".oui.parquet.{os.getpid()}.tmp")
    cached = _oui_cache()
    if cached is not None and cached.exists():
        try:
            shutil.copyfile(cached, tmp)
            os.replace(tmp, path)
            return path
        except OSError:  # an unreadable cache: build the table as if there were none
            tmp.unlink(missing_ok=True)
    import pyarrow as pa

    from sensor.oui import prefixes

    rows = prefixes()
    table = pa.table({"prefix": [p for p, _ in rows], "vendor": [v for _, v in rows]})
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    if cached is not None:  # a convenience: a cache that cannot be written is no error
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            part = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            shutil.copyfile(path, part)
            os.replace(part, cached)
    return path


def _oui_cache() -> Path | None:
    """Where the table built from this `manuf` file is kept between runs (80 ms to build at
    each new store): `$XDG_CACHE_HOME/sensor/`, named by the file's size and modification
    time, so a Wireshark update makes a new one. None without a manuf file or a home."""
    from sensor.oui import MANUF

    try:
        st = MANUF.stat()
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except (OSError, RuntimeError, KeyError):
        return None
    return base / "sensor" / f"oui-{st.st_size}-{st.st_mtime_ns}.parquet"


def oui_sql(data_dir: Path) -> str:
    glob = _oui_file(data_dir).resolve().as_posix().replace("'", "''")
    return f"CREATE OR REPLACE VIEW oui AS SELECT * FROM read_parquet('{glob}')"
