"""The analysts' catalog: a small DuckDB file of views over the Parquet segment tree.

The sensor never keeps this file open: it creates or updates the views at start-up and closes
it, so analysts can open it (read-only or not) at any time while the sensor writes segments.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb

from sensor.errors import StorageError

__all__ = ["ensure_catalog", "view_sql"]

log = logging.getLogger(__name__)

TABLES = ("flows", "alerts")


def view_sql(table: str, data_dir: Path) -> str:
    """SQL of the view that reads every closed segment of `table` under `data_dir`."""
    glob = (data_dir.resolve() / table / "*" / "*" / "*.parquet").as_posix().replace("'", "''")
    return (
        f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{glob}', "
        "hive_partitioning = true, union_by_name = true)"
    )


def ensure_catalog(catalog: Path, data_dir: Path, attempts: int = 20) -> None:
    """Create or refresh the catalog's views; wait briefly if an analyst holds a write lock."""
    for attempt in range(attempts):
        try:
            con = duckdb.connect(str(catalog))
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or attempt == attempts - 1:
                if catalog.exists():
                    log.warning("catalog %s is locked; keeping its existing views", catalog)
                    return
                raise StorageError(f"{catalog}: cannot open the catalog: {e}") from None
            time.sleep(0.25)
            continue
        except duckdb.Error as e:
            raise StorageError(f"{catalog}: not a DuckDB database: {e}") from None
        try:
            for table in TABLES:
                if (data_dir / table).is_dir():  # a table no sink of this sensor writes
                    con.execute(view_sql(table, data_dir))
        finally:
            con.close()
        return
