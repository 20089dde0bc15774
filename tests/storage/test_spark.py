"""A real Spark (PySpark in local mode on Debian's OpenJDK) reads the central tree two sensors
shipped to, with partition discovery, and agrees with DuckDB's central catalog: records and
bytes per site and provision, and the leader queries of docs/storage.md, which the test runs
verbatim in both engines. The column types Spark sees are the ones the docs list."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import REPO
from tests.storage.fleet import build_fleet

DOCS = (REPO / "docs" / "storage.md").read_text()
DOC_ROOT = "/srv/fleet"


def _doc_block(marker: str) -> str:
    """The fenced code block right after `<!-- marker -->` in docs/storage.md."""
    m = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", DOCS, re.S)
    assert m, f"docs/storage.md has no block marked {marker}"
    return m.group(1)


def _statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must have pyspark (pyproject test extras)")
        pytest.skip("needs pyspark (pip install -e '.[test]')")
    if shutil.which("java") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have java (tests/run.sh installs openjdk-17-jre-headless)")
        pytest.skip("needs java (apt install openjdk-17-jre-headless)")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("policy-2503-fleet-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fleet")
    root = tmp / "fleet"
    build_fleet(tmp, root)
    return root


def _duck(fleet: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(fleet.with_name("fleet.duckdb")), read_only=True)
    con.execute("SET TimeZone = 'UTC'")  # the same calendar as the Spark session's
    return con


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in rows]


@pytest.mark.slow
def test_spark_and_duckdb_agree_over_the_shipped_tree(spark: Any, fleet: Path) -> None:
    exec(_doc_block("pyspark-register").replace(DOC_ROOT, str(fleet)), {"spark": spark})
    per = """SELECT site, provision, count(*) AS records,
                    sum(bytes_toserver + bytes_toclient) AS bytes
             FROM flows GROUP BY site, provision ORDER BY site, provision NULLS FIRST"""
    got = _rows(spark.sql(per).collect())
    want = _duck(fleet).execute(per).fetchall()
    assert got == want
    assert {r[0] for r in got} == {"north-district", "south-district"}
    assert sum(r[2] for r in got) > 20 and any(r[1] for r in got)
    sensors = spark.sql("SELECT DISTINCT sensor FROM flows WHERE sensor <> '_schema'").collect()
    assert sorted(r[0] for r in sensors) == ["north", "south"]  # from the path: sensor=

    for q in _statements(_doc_block("leader-queries")):
        got = _rows(spark.sql(q).collect())
        assert got == _duck(fleet).execute(q).fetchall(), q
        assert got, f"the leader query returned nothing on the test tree: {q}"


@pytest.mark.slow
def test_spark_sql_views_and_the_types_spark_sees(spark: Any, fleet: Path) -> None:
    for stmt in _statements(_doc_block("spark-sql-register").replace(DOC_ROOT, str(fleet))):
        spark.sql(stmt)
    n = spark.sql("SELECT count(*) FROM flows").collect()[0][0]
    assert n == _duck(fleet).execute("SELECT count(*) FROM flows").fetchone()[0]  # type: ignore[index]

    documented = dict(re.findall(r"^\| `(\w+\.\w+)` \| `([^`]+)` \|", DOCS, re.M))
    assert documented, "docs/storage.md lists no Spark column types"
    seen = {}
    for table in ("flows", "alerts", "rollups"):
        for f in spark.table(table).schema.fields:
            seen[f"{table}.{f.name}"] = f.dataType.simpleString()
    assert {k: seen.get(k) for k in documented} == documented
