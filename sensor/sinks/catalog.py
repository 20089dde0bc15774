"""The analysts' catalog: a small DuckDB file of views over the Parquet segment tree.

The sensor never keeps this file open, nor locks it: it writes a fresh catalog beside it and
renames it into place, so analysts can open it at any time while the sensor writes segments.

Nothing here destroys what the sensor did not create: a path given as the catalog that is
not a DuckDB file (a capture passed as --db by mistake) is refused; a DuckDB database without
the sensor's marker table is refused unless the user says --force, and then only gets the
sensor's views added; objects an analyst added to a sensor catalog are carried over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

import duckdb

from sensor.errors import StorageError
from sensor.sinks.views import (
    LEGACY_NAMES,
    READY_MADE,
    TABLES,
    oui_sql,
    schema_markers,
    view_sql,
)
from sensor.text import first_line

__all__ = [
    "MARKER",
    "READY_MADE",
    "STORAGE_VERSION",
    "Catalog",
    "catalog_kind",
    "check_catalog_path",
    "ensure_catalog",
    "view_sql",
]

log = logging.getLogger(__name__)

MARKER = "sensor_catalog"
"""Table listing (kind, name) of every object the sensor made in the catalog: what it may
replace or drop. Everything else in the file is someone else's and is kept."""
STORAGE_VERSION = "v1.0.0"
"""On-disk format of new catalogs: the oldest that has what the catalog uses, so the DuckDB
CLI and older Python libraries open it too (a 2.x default file is refused by 1.x clients)."""


class Catalog:
    """The catalog at `path` over the segment tree `data_dir`, kept by one owner (a sensor's
    stores, a live sensor and its workers): it remembers the file it left, so asking again
    while nobody replaced or changed that file costs one stat, not a rebuild.

    The flow, alert and access point stores each make sure of the catalog as they start;
    one rebuild (a DuckDB connection, every view bound over the segments) is enough while
    the file is the one written. Each owner has its own memory of that: no process-wide
    state, and a second sensor in the same process (a test, a tool) writes its own once."""

    __slots__ = ("_left", "data_dir", "force", "path", "writes")

    def __init__(self, path: Path, data_dir: Path, force: bool = False) -> None:
        self.path = path
        self.data_dir = data_dir
        self.force = force
        """Add the sensor's views to a DuckDB database it did not create (`--force`)."""
        self._left: tuple[int, int, int, int] | None = None
        """Identity of the file this object last wrote (None: not written yet)."""
        self.writes = 0
        """Times it wrote the file (each a DuckDB connection and every view bound)."""

    def ensure(self) -> None:
        """Write the catalog's views unless the file is still the one this object left."""
        schema_markers(self.data_dir)
        if self._left is not None and self._left == _identity(self.path):
            return  # written here and nobody changed it since: the views are there
        if _write(self.path, self.data_dir, self.force):
            self._left = _identity(self.path)
            self.writes += 1


def ensure_catalog(catalog: Path, data_dir: Path, force: bool = False) -> None:
    """Write the catalog's views once (a one-off: `sensor ship --catalog`, a report test);
    an owner that asks again keeps a `Catalog`."""
    Catalog(catalog, data_dir, force).ensure()


def _write(catalog: Path, data_dir: Path, force: bool) -> bool:
    """Write the catalog's views and macros into a copy of it and rename the copy into place;
    True when the new file is in place (False: a sensor catalog that could not be refreshed
    is kept, with a warning).

    The sensor never holds a lock on the catalog analysts open: readers that have the old
    file open keep it, new ones get the new one. Only objects the sensor made (listed in its
    `sensor_catalog` table) are replaced or dropped; an analyst's own tables and views in the
    file are carried over. A path that is not a sensor catalog is refused (module docstring).
    """
    tmp = catalog.with_name(f".{catalog.name}.{os.getpid()}.tmp")
    try:
        fresh = _start_copy(catalog, tmp)
    except OSError as e:
        _remove(tmp)
        if catalog_kind(catalog) == "sensor":
            log.warning("catalog %s not refreshed (%s); keeping its views", catalog, e.strerror)
            return False
        raise StorageError(f"{catalog}: cannot write the catalog: {e.strerror}") from None
    try:
        _rebuild(tmp, catalog, data_dir, fresh, force)
    except BaseException:
        _remove(tmp)
        raise
    try:
        os.replace(tmp, catalog)
    except OSError as e:
        _remove(tmp)
        if catalog.exists():
            log.warning("catalog %s not refreshed (%s); keeping its views", catalog, e.strerror)
            return False
        raise StorageError(f"{catalog}: cannot write the catalog: {e.strerror}") from None
    return True


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """Device, inode, size and modification time: a file replaced or changed is another."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.with_name(path.name + ".wal").unlink(missing_ok=True)


def _start_copy(catalog: Path, tmp: Path) -> bool:
    """Copy the existing catalog to `tmp` (True: there was none, `tmp` is new)."""
    _remove(tmp)
    if not catalog.exists():
        return True
    shutil.copyfile(catalog, tmp)
    return False


def _connect_new(tmp: Path) -> duckdb.DuckDBPyConnection:
    """A new catalog in a storage version that DuckDB 1.x clients read as well as 2.x."""
    con = duckdb.connect()
    path = str(tmp).replace("'", "''")
    con.execute(f"ATTACH '{path}' AS catalog (STORAGE_VERSION '{STORAGE_VERSION}')")
    con.execute("USE catalog")
    return con


def _rebuild(tmp: Path, catalog: Path, data_dir: Path, fresh: bool, force: bool) -> None:
    try:
        con = _connect_new(tmp) if fresh else duckdb.connect(str(tmp))
    except duckdb.Error as e:
        raise StorageError(f"{catalog}: cannot open the catalog: {first_line(e)}") from None
    try:
        objects = set() if fresh else _objects(con)  # a file just made holds nothing yet
        ours = _claim(con, catalog, force, objects)
        made = _create_objects(con, data_dir, ours, objects)
        for kind, name in ours - made:  # made before, not any more (a table went away)
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP {_DROP[kind]} IF EXISTS {_ident(name)}")
        con.execute(f"CREATE OR REPLACE TABLE {MARKER} (kind VARCHAR, name VARCHAR)")
        con.executemany(f"INSERT INTO {MARKER} VALUES (?, ?)", sorted(made))
    finally:
        con.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_DROP = {"view": "VIEW", "table": "TABLE", "macro": "MACRO TABLE"}


def _objects(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """Every user object of the open database as (kind, name). Asked once per rebuild: the
    query walks every DuckDB function, built-in ones too (about 10 ms)."""
    rows = con.execute(
        "SELECT 'table', table_name FROM duckdb_tables() WHERE database_name = current_database()"
        " UNION ALL SELECT 'view', view_name FROM duckdb_views() WHERE NOT internal"
        " AND database_name = current_database()"
        " UNION ALL SELECT 'macro', function_name FROM duckdb_functions()"
        " WHERE function_type = 'table_macro' AND NOT internal"
        " AND database_name = current_database()"
    ).fetchall()
    return {(str(k), str(n)) for k, n in rows}


def _claim(
    con: duckdb.DuckDBPyConnection, catalog: Path, force: bool, objects: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The objects the sensor made in this catalog before (of `objects`, all there are);
    refuse a database it did not make."""
    if ("table", MARKER) in objects:
        rows = con.execute(f"SELECT kind, name FROM {MARKER}").fetchall()
        return {(str(k), str(n)) for k, n in rows} & objects
    if not objects or _legacy(objects):  # new, empty, or made before the marker table
        return objects
    if not force:
        names = {n for _, n in objects}
        shown = ", ".join(sorted(names - LEGACY_NAMES or names)[:5])
        raise StorageError(
            f"{catalog}: a DuckDB database the sensor did not create (it holds {shown}); "
            "refusing to adopt it. Give --db a new file, or --force to add the sensor's views "
            "to it (its own objects are kept)"
        )
    return set()


def _legacy(objects: set[tuple[str, str]]) -> bool:
    """Only what an older sensor made, each of its kind: the `flows` view, views and macros
    of the sensor's names, the `oui` table. An analyst's own table called `flows` is not."""
    return ("view", "flows") in objects and all(
        (k == "table" and n == "oui") or (k in ("view", "macro") and n in LEGACY_NAMES)
        for k, n in objects
    )


def _create_objects(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    ours: set[tuple[str, str]],
    objects: set[tuple[str, str]],
) -> set[tuple[str, str]]:
    """Create the sensor's objects, never replacing one of the same name it did not make
    (`objects`: all there are)."""
    taken = {n for _, n in objects} - {n for _, n in ours}
    made: set[tuple[str, str]] = set()

    def create(kind: str, name: str, sql: str) -> None:
        if name in taken:
            log.error("catalog: %s exists and is not the sensor's; %s not created", name, kind)
            return
        try:
            for other in _DROP.keys() - {kind}:  # ours, of another kind before (oui table)
                if (other, name) in ours:
                    con.execute(f"DROP {_DROP[other]} IF EXISTS {_ident(name)}")
            con.execute(sql)
            made.add((kind, name))
        except duckdb.Error as e:  # a view is a convenience, never a reason to stop
            log.error("catalog: cannot create %s: %s", name, first_line(e))

    try:
        create("view", "oui", oui_sql(data_dir))
    except OSError as e:  # vendor names are a convenience: the views must still be made
        log.error("catalog: cannot write the OUI table: %s", e)
    present = {t for t in TABLES if (data_dir / t).is_dir()}
    for table in sorted(present):  # a table no sink of this sensor writes: no view
        create("view", table, view_sql(table, data_dir))
    for needs, sql in READY_MADE:
        if set(needs) <= present:
            kind, name = _kind_name(sql)
            create(kind, name, sql)
    return made


def _kind_name(sql: str) -> tuple[str, str]:
    """('view', 'violations') from 'CREATE OR REPLACE VIEW violations AS ...'."""
    words = sql.split()
    return words[3].lower(), words[4].split("(")[0]


def catalog_kind(path: Path) -> str:
    """What a path given as the catalog is: 'absent', 'duckdb', or a phrase saying what else.

    Only the first bytes are read: a DuckDB file has 'DUCK' at offset 8.
    """
    if not path.exists() and not path.is_symlink():
        return "absent"
    if path.is_dir():
        return "a directory"
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if head[8:12] == b"DUCK":
        return "duckdb"
    if not head:
        return "an empty file"
    return _looks_like(head)


def _looks_like(head: bytes) -> str:
    kinds = {
        b"\xd4\xc3\xb2\xa1": "a pcap capture",
        b"\xa1\xb2\xc3\xd4": "a pcap capture",
        b"\x4d\x3c\xb2\xa1": "a pcap capture",
        b"\xa1\xb2\x3c\x4d": "a pcap capture",
        b"\x0a\x0d\x0d\x0a": "a pcapng capture",
        b"SQLi": "an SQLite database",
        b"PAR1": "a Parquet file",
    }
    if head[:2] == b"\x1f\x8b":
        return "a gzip file"
    return kinds.get(head[:4], "not a DuckDB database")


def check_catalog_path(catalog: Path, adopt: bool = False) -> None:
    """Refuse, before anything is written, a catalog path the sensor must not touch: a file
    that is not a DuckDB database (a capture given as --db by mistake), a DuckDB database the
    sensor did not create (unless `adopt`), or a folder that does not exist (a typo would
    otherwise create a whole tree)."""
    kind = catalog_kind(catalog)
    if kind == "absent":
        parent = catalog.parent
        if not parent.is_dir():
            raise StorageError(f"{catalog}: folder {parent} does not exist (create it first)")
        return
    if kind != "duckdb":
        raise StorageError(
            f"{catalog}: is {kind}, not a sensor catalog; refusing to overwrite it "
            "(give --db a new file name)"
        )
    if adopt:
        return
    tmp = catalog.with_name(f".{catalog.name}.{os.getpid()}.check.tmp")
    try:
        _start_copy(catalog, tmp)  # a copy: no lock taken on a file someone has open
        con = duckdb.connect(str(tmp))
    except (OSError, duckdb.Error) as e:
        _remove(tmp)
        raise StorageError(f"{catalog}: cannot open the catalog: {first_line(e)}") from None
    try:
        _claim(con, catalog, adopt, _objects(con))
    finally:
        con.close()
        _remove(tmp)
