"""Start-up of `sensor replay` (issue 15): what it must not import, and what it does once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from sensor.config import SensorConfig
from sensor.sinks import catalog, default_sinks, views
from sensor.sinks.catalog import Catalog

NEVER = (
    "matplotlib",
    "scapy",
    "sensor.report",
    "sensor.ship",
    "sensor.live",
    "sensor.feedupdate",
    "sensor.analyst",
    "sensor.sigtools",
    "sensor.metrics",
    "prometheus_client",
    "urllib.request",
)


def test_replay_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from sensor.cli import main\n"
        f"rc = main(['replay', '--db', {str(tmp_path / 'x.duckdb')!r}, '-q'])\n"
        "print(json.dumps([rc, sorted(sys.modules)]))\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout  # fmt: skip
    rc, modules = json.loads(out.splitlines()[-1])
    assert rc == 0
    loaded = [m for m in modules if any(m == n or m.startswith(n + ".") for n in NEVER)]
    assert loaded == []


def _child(code: str, tmp_path: Path, **env: str) -> list[object]:
    """Run `code` in a fresh interpreter (its last line printed as JSON) and return that."""
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env = {**clean, "XDG_CACHE_HOME": str(tmp_path / "cache"), **env}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    result: list[object] = json.loads(out.splitlines()[-1])
    return result


def test_help_and_version_load_none_of_the_pipeline(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from sensor.cli import main\n"
        "for argv in (['--help'], ['--version'], ['replay', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    modules = _child(code, tmp_path)
    heavy = ("numpy", "pyarrow", "duckdb", "yaml", "cryptography", "sensor.pipeline")
    assert [m for m in modules if str(m).split(".")[0] in heavy or m in heavy] == []


def test_replay_keeps_numpys_blas_to_one_thread_unless_told(tmp_path: Path) -> None:
    """OpenBLAS starts (and spins) a worker per core when numpy loads; the sensor multiplies
    no matrices. An operator's own OPENBLAS_NUM_THREADS is kept."""
    code = (
        "import json, os, sys\n"
        "from sensor.cli import main\n"
        "loaded = 'numpy' in sys.modules\n"
        f"rc = main(['replay', '--db', {str(tmp_path / 'x.duckdb')!r}, '-q', '--again'])\n"
        "import numpy\n"
        "blas = numpy.__config__.CONFIG['Build Dependencies']['blas']['name']\n"
        "threads = len(os.listdir('/proc/self/task'))\n"
        "print(json.dumps([rc, loaded, os.environ.get('OPENBLAS_NUM_THREADS'), blas, threads]))\n"
    )
    rc, loaded, setting, blas, threads = _child(code, tmp_path)
    assert (rc, loaded, setting) == (0, False, "1")
    rc, _, setting, _, threads_told = _child(code, tmp_path, OPENBLAS_NUM_THREADS="2")
    assert (rc, setting) == (0, "2")
    if "openblas" in str(blas).lower() and (os.cpu_count() or 1) >= 2:
        assert isinstance(threads, int) and isinstance(threads_told, int)
        assert threads < threads_told


def test_the_catalog_is_built_once_per_owner_while_unchanged(tmp_path: Path) -> None:
    db, data = tmp_path / "c.duckdb", tmp_path / "c.data"
    owner = Catalog(db, data)
    owner.ensure()
    first = db.stat()
    owner.ensure()  # the next store starting: nothing to do
    again = db.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert owner.writes == 1
    Catalog(db, data).ensure()  # another owner (no process-wide memory): writes its own
    assert db.stat().st_ino != first.st_ino
    db.unlink()  # deleted (a clean-up job): made again
    owner.ensure()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM flows").fetchone() == (0,)
    con.close()
    con = duckdb.connect(str(db))  # changed by someone else: rebuilt, their table kept
    con.execute("CREATE TABLE mine AS SELECT 1 AS x")
    con.execute("DROP VIEW flows")
    con.close()
    owner.ensure()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM flows").fetchone() == (0,)
    assert con.execute("SELECT x FROM mine").fetchone() == (1,)
    con.close()
    assert owner.writes == 3


def test_a_sensors_stores_share_one_catalog_written_once(tmp_path: Path) -> None:
    """The flow, alert and access point stores each make sure of the catalog as they start:
    one owner, so one rebuild, with the views of all three tables."""
    db = tmp_path / "s.duckdb"
    cfg = SensorConfig()
    cfg = replace(cfg, storage=replace(cfg.storage, catalog=db))
    sinks = default_sinks(cfg, {})
    try:
        owner = sinks.flows.catalog
        assert owner is sinks.alerts.catalog is sinks.wireless.catalog
        assert owner.writes == 1
        con = duckdb.connect(str(db), read_only=True)
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        con.close()
        assert {"flows", "alerts", "wireless_aps"} <= views
    finally:
        for sink in sinks:
            sink.close()


def test_the_vendor_table_is_cached_between_stores(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = views._oui_cache()
    if cached is None:
        return  # no manuf file on this machine: nothing to cache
    built = views._oui_file(tmp_path / "a")
    assert cached.exists()
    copied = views._oui_file(tmp_path / "b")
    assert pq.read_table(copied).equals(pq.read_table(built))
    assert built.read_bytes() == copied.read_bytes() == cached.read_bytes()


def test_a_new_catalog_holds_what_a_rebuilt_one_holds(tmp_path: Path) -> None:
    """A catalog file just made is not asked for its objects (it has none); the views,
    macros and ownership rows must be those of a rebuild that asks."""
    db, data = tmp_path / "c.duckdb", tmp_path / "c.data"
    for table in ("flows", "alerts"):
        (data / table).mkdir(parents=True)

    def contents() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        con = duckdb.connect(str(db), read_only=True)
        try:
            objects = catalog._objects(con)
            marker = con.execute(f"SELECT kind, name FROM {catalog.MARKER}").fetchall()
        finally:
            con.close()
        return sorted(objects), sorted(marker)

    Catalog(db, data).ensure()
    new = contents()
    again = Catalog(db, data)  # another owner: rebuilds from the file there, asking
    again.ensure()
    assert again.writes == 1 and contents() == new
    assert ("view", "flows") in new[0] and ("view", "flows") in new[1] and len(new[1]) > 5
