"""Data safety and bad input (issue 12): nothing the sensor did not create is destroyed,
re-running a command is idempotent, and every error is one line with a documented exit code.

Each test is a case a careless user met: the exact outcome is asserted (file bytes unchanged,
a table still there, equal row counts, the one-line message and its exit status).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from sensor.cli import main
from sensor.sinks.catalog import MARKER
from tests.conftest import REPO

DEMO = REPO / "sensor" / "data" / "demo.pcapng"


def _sensor(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensor", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def _one_line_error(res: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in err, err
    assert err.count("\n") == 0, err
    assert err.startswith("sensor: error: ") and text in err, err


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# -- 1: a path that is not the sensor's ------------------------------------------------------
def test_a_capture_given_as_the_store_is_refused_and_unchanged(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence.pcap"
    shutil.copy(DEMO, evidence)
    before = _digest(evidence)
    res = _sensor("replay", "--db", str(evidence), cwd=tmp_path)
    _one_line_error(res, 3, "is a pcapng capture, not a sensor catalog")
    assert _digest(evidence) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence.pcap"]  # nothing beside it
    res = _sensor("replay", "--db", str(evidence), "--force", cwd=tmp_path)  # not even forced
    _one_line_error(res, 3, "refusing to overwrite it")
    assert _digest(evidence) == before


def test_an_analysts_duckdb_is_refused_then_adopted_with_force_keeping_its_table(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "mine.duckdb"
    con = duckdb.connect(str(mine))
    con.execute("CREATE TABLE my_notes AS SELECT 42 AS x")
    con.close()
    before = _digest(mine)
    res = _sensor("replay", "--db", str(mine), cwd=tmp_path)
    _one_line_error(res, 3, "a DuckDB database the sensor did not create (it holds my_notes)")
    assert _digest(mine) == before
    assert not (tmp_path / "mine.data").exists()  # refused before anything was created
    assert main(["replay", "-q", "--force", "--db", str(mine)]) == 0
    con = duckdb.connect(str(mine), read_only=True)
    assert con.execute("SELECT x FROM my_notes").fetchall() == [(42,)]
    assert con.execute("SELECT count(*) FROM flows").fetchone() == (7,)
    ours = {n for (n,) in con.execute(f"SELECT name FROM {MARKER}").fetchall()}
    assert "my_notes" not in ours and {"flows", "violations", "oui"} <= ours


def test_objects_an_analyst_adds_to_a_sensor_catalog_survive_the_next_run(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert main(["replay", "-q", "--db", str(db)]) == 0
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE my_notes AS SELECT 'keep me' AS note")
    con.execute("CREATE VIEW my_view AS SELECT count(*) AS n FROM flows")
    con.close()
    assert main(["replay", "-q", "--again", "--db", str(db)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT note FROM my_notes").fetchall() == [("keep me",)]
    assert con.execute("SELECT n FROM my_view").fetchone() == (14,)


def test_a_store_in_a_missing_folder_is_refused_without_creating_it(tmp_path: Path) -> None:
    res = _sensor("replay", "--db", str(tmp_path / "no" / "such" / "x.duckdb"), cwd=tmp_path)
    _one_line_error(res, 3, "does not exist")
    assert not (tmp_path / "no").exists()


# -- 2: idempotent replay --------------------------------------------------------------------
def test_a_second_replay_of_the_same_capture_is_skipped_and_recorded_once(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    first = _sensor("replay", "--db", str(db), cwd=tmp_path)
    second = _sensor("replay", "--db", str(db), str(DEMO), str(DEMO), cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    assert "already in the store" in second.stderr and "--again" in second.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT flow_id) FROM flows").fetchone() == (7, 7)
    assert con.execute("SELECT count(*) FROM alerts").fetchone() == (5,)
    rows = con.execute("SELECT sha256, name, packets, status FROM captures").fetchall()
    assert rows == [(_digest(DEMO), "demo.pcapng", 83, "complete")]


# -- 4: one-line errors instead of tracebacks ------------------------------------------------
def test_query_output_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    assert main(["replay", "-q", "--db", str(db)]) == 0
    res = _sensor(
        "query", "--db", str(db), "-f", "csv", "-o", "/missing/dir/x.csv", "SELECT 1", cwd=tmp_path
    )
    _one_line_error(res, 3, "/missing/dir")


def test_report_html_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    assert main(["replay", "-q", "--db", str(db)]) == 0
    res = _sensor("report", "--db", str(db), "--html", str(tmp_path / "no" / "r.html"),
                  cwd=tmp_path)  # fmt: skip
    assert res.returncode == 3 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().count("\n") == 0 and "r.html" in res.stderr


needs_mounts = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a private mount",
)


@needs_mounts
def test_an_existing_store_on_a_read_only_file_system_is_one_line(tmp_path: Path) -> None:
    store = tmp_path / "ro"
    store.mkdir()
    assert main(["replay", "-q", "--db", str(store / "x.duckdb")]) == 0
    before = _digest(store / "x.duckdb")
    script = (
        'mount --bind "$D" "$D" && mount -o remount,ro,bind "$D" && '
        '"$PY" -m sensor replay --again --db "$D/x.duckdb"'
    )
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env={**os.environ, "D": str(store), "PY": sys.executable},
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode in (1, 3), res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert "Read-only file system" in res.stderr
    assert _digest(store / "x.duckdb") == before
    con = duckdb.connect(str(store / "x.duckdb"), read_only=True)  # still readable
    assert con.execute("SELECT count(*) FROM flows").fetchone() == (7,)


# -- 5: outputs go beside --db, and a failing output fails the run ---------------------------
def test_a_test_replay_with_the_site_config_keeps_alerts_beside_its_own_store(
    tmp_path: Path,
) -> None:
    prod = Path("/var/lib/sensor/alerts.jsonl")
    existed = prod.exists()
    before = prod.stat().st_mtime_ns if existed else None
    db = tmp_path / "x.duckdb"
    res = _sensor("replay", "-c", str(REPO / "systemd" / "sensor.yaml"), "--db", str(db),
                  cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (prod.stat().st_mtime_ns if prod.exists() else None) == before
    assert prod.exists() == existed
    beside = tmp_path / "x.alerts.jsonl"
    assert beside.exists() and len(beside.read_text().splitlines()) >= 1
    assert f"(also {beside}" in res.stdout


def test_an_alert_stream_that_cannot_be_written_fails_the_run(tmp_path: Path) -> None:
    stream = tmp_path / "alerts-here"
    stream.mkdir()  # a folder where the file should be: every write fails, also as root
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"storage: {{catalog: {tmp_path}/s.duckdb}}\n"
                   f"policy: {{alerts: {{jsonl: {stream}}}}}\n")  # fmt: skip
    res = _sensor("replay", "-c", str(cfg), cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "5 lines FAILED" in res.stdout and "LOSSES" in res.stdout
    assert res.stderr.count("alert stream") == 1  # said once, counted after that


# -- 6: signature tests ---------------------------------------------------------------------
def test_signature_test_of_an_unknown_id_is_a_usage_error(tmp_path: Path) -> None:
    res = _sensor("signatures", "test", "424242", cwd=tmp_path)
    _one_line_error(res, 2, "no signature with id 424242")


def test_signature_test_without_the_site_config_says_to_pass_one(tmp_path: Path) -> None:
    res = _sensor("signatures", "test", "9001", cwd=REPO)
    assert res.returncode == 1
    assert "uses the site's lists: boundary; pass -c CONFIG" in res.stdout
    ok = _sensor("signatures", "test", "-c", "systemd/sensor.yaml", "9001", cwd=REPO)
    assert ok.returncode == 0, ok.stdout


# -- 7: the README's analyst example works as written ----------------------------------------
def test_the_readmes_query_examples_run_after_the_first_command(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    examples = re.findall(r'^sensor query ((?:-f \w+ )?"[^"]+")$', readme, flags=re.M)
    assert examples, "the README shows how an analyst queries the store"
    assert main(["replay", "-q", "--db", str(tmp_path / "sensor.duckdb")]) == 0
    for ex in examples:
        res = subprocess.run(f"{sys.executable} -m sensor query {ex}", shell=True,
                             cwd=tmp_path, capture_output=True, text=True, check=False)  # fmt: skip
        assert res.returncode == 0, (ex, res.stderr)
        assert "rows)" in res.stdout or "2503-" in res.stdout, (ex, res.stdout)


def test_the_catalog_is_in_a_storage_format_duckdb_1x_clients_read(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    assert main(["replay", "-q", "--db", str(db)]) == 0
    head = db.read_bytes()[:20]
    assert head[8:12] == b"DUCK"
    assert struct.unpack_from("<Q", head, 12)[0] == 64  # DuckDB 1.0 .. 1.5 read 64-68


# -- 9: smaller ones -------------------------------------------------------------------------
def test_the_first_readme_command_leaves_nothing_git_would_commit(tmp_path: Path) -> None:
    for name in ("sensor.duckdb", "sensor.alerts.jsonl", "sensor.data/flows/x.parquet"):
        res = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO, check=False)
        assert res.returncode == 0, f"{name} is not git-ignored"


def test_an_empty_file_is_called_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    res = _sensor("replay", str(empty), "--db", str(tmp_path / "x.duckdb"), cwd=tmp_path)
    _one_line_error(res, 3, "empty file, not a capture")


def test_query_prints_every_statement_and_floats_without_noise(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    assert main(["replay", "-q", "--db", str(db)]) == 0
    res = _sensor("query", "--db", str(db), "SELECT 1 AS one; SELECT 0.85::FLOAT AS f",
                  cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0
    assert "one" in res.stdout and "0.85" in res.stdout and "0.8500000238" not in res.stdout
    res = _sensor("query", "--db", str(db), "-f", "csv",
                  "SELECT max(confidence) AS c FROM flows", cwd=tmp_path)  # fmt: skip
    assert re.fullmatch(r"c\r?\n\d\.\d{1,6}\r?\n", res.stdout), res.stdout


def test_query_never_prints_control_characters_raw(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    assert main(["replay", "-q", "--db", str(db)]) == 0
    sql = "SELECT 'evil' || chr(27) || '[2J' || chr(7) || chr(0) || chr(10) || 'forged' AS ua"
    for fmt in ("table", "csv"):
        res = _sensor("query", "--db", str(db), "-f", fmt, sql, cwd=tmp_path)
        assert res.returncode == 0
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", res.stdout), repr(res.stdout)
        assert "\\x1b[2J\\x07\\x00\\nforged" in res.stdout
        assert "\nforged" not in res.stdout  # no forged row


def test_the_summary_lists_rogue_access_points_with_their_alerts(tmp_path: Path) -> None:
    pcap = REPO / "pcaps" / "rogue" / "dhcp-offer.pcap"
    res = _sensor("replay", "-c", str(REPO / "systemd" / "sensor.yaml"), "--db",
                  str(tmp_path / "x.duckdb"), str(pcap), cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    m = re.search(r"alerts: (\d+) raised", res.stdout)
    listed = sum(int(n) for n in re.findall(r"alerts=(\d+)", res.stdout))
    assert m and int(m.group(1)) == listed > 0, res.stdout
    assert "2503-22" in res.stdout


# -- 10 and 11: nothing in flight is lost, and what is lost is said --------------------------
def _udp_flows_pcap(path: Path, n: int) -> None:
    """`n` one-packet UDP flows (distinct client ports and addresses), as classic pcap."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    for i in range(n):
        src = bytes([10, 99, (i >> 8) & 0xFF, i & 0xFF])
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 36, 0, 0, 64, 17, 0, src, b"\x0a\x63\xff\xfe")
        udp = struct.pack("!HHHH", 1024 + i % 60000, 9999, 16, 0) + b"payload!"
        frame = eth + ip + udp
        out += struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000, len(frame),
                           len(frame)) + frame  # fmt: skip
    path.write_bytes(bytes(out))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_replay_writes_every_flow_in_flight(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    pcap = tmp_path / "flows.pcap"
    _udp_flows_pcap(pcap, 20_000)
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    db = tmp_path / "x.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensor", "replay", "--db", str(db), str(fifo)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with fifo.open("wb") as feed:
        feed.write(pcap.read_bytes())  # every packet, and the pipe stays open: no EOF
        feed.flush()
        time.sleep(4)  # the sensor reads them and waits for more
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert "stopping: writing every open flow" in err  # said even when a read was interrupted
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT count(*), min(end_reason), max(end_reason) FROM flows").fetchone()
    assert rows == (20_000, "shutdown", "shutdown"), (rows, out, err)


@needs_mounts
def test_rows_that_cannot_be_written_at_exit_are_counted_and_fail_the_run(tmp_path: Path) -> None:
    pcap = tmp_path / "flows.pcap"
    _udp_flows_pcap(pcap, 50_000)
    small = tmp_path / "small"
    small.mkdir()
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"storage: {{catalog: {tmp_path}/s.duckdb, data_dir: {small}/data}}\n")
    script = 'mount -t tmpfs -o size=256k tmpfs "$D" && "$PY" -m sensor replay -c "$CFG" "$PCAP"'
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env={**os.environ, "D": str(small), "PY": sys.executable, "CFG": str(cfg),
             "PCAP": str(pcap)},
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    m = re.search(r"rows_written=(\d+) write_errors=(\d+) rows_lost=(\d+)", res.stdout)
    assert m, res.stdout
    assert int(m.group(1)) + int(m.group(3)) == 50_000 and int(m.group(3)) > 0
    assert "rows lost, cannot write them at exit" in res.stderr
    assert "will retry" not in res.stderr.splitlines()[-1]


# -- 12: config values that crashed or meant nothing ----------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flow:\n  timeouts:\n    tcp: .inf\n", "s.yaml:3: flow.timeouts.tcp: expected a finite"),
        ("flow:\n  timeouts:\n    udp: .nan\n", "s.yaml:3: flow.timeouts.udp: expected a finite"),
        ("storage:\n  flush_rows: 0\n", "flush_rows must be at least 1"),
        ("storage:\n  flush_seconds: -1\n", "flush_seconds must not be negative"),
        ("storage:\n  max_buffered_rows: -5\n", "max_buffered_rows must not be negative"),
        ("flow:\n  timeouts:\n    tcp: 1.0e+30\n", "at most a year"),
    ],
)
def test_meaningless_config_values_are_errors_with_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(text)
    res = _sensor("replay", "-c", str(cfg), "--db", str(tmp_path / "x.duckdb"), cwd=tmp_path)
    _one_line_error(res, 2, message)


def test_a_deeply_nested_config_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("[" * 100_000 + "]" * 100_000)
    res = _sensor("replay", "-c", str(cfg), cwd=tmp_path)
    _one_line_error(res, 2, "nested too deeply")


def test_a_config_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_bytes(b"sensor:\n  name: caf\xe9\n")
    res = _sensor("replay", "-c", str(cfg), cwd=tmp_path)
    _one_line_error(res, 2, "s.yaml:2: not UTF-8 text")


def test_the_central_catalog_never_overwrites_a_foreign_file(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    root.mkdir()
    notes = tmp_path / "fleet.duckdb"
    notes.write_text("the analyst's notes, not a database\n")
    res = _sensor("catalog", "--root", str(root), cwd=tmp_path)
    _one_line_error(res, 3, "refusing to overwrite it")
    assert notes.read_text() == "the analyst's notes, not a database\n"


def test_a_test_replay_with_the_site_config_feeds_no_site_system(tmp_path: Path) -> None:
    """--db names another store: syslog, IPFIX and shipping of the config are off for the run,
    EVE flow lines go beside that store."""
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        f"storage: {{catalog: {tmp_path}/prod.duckdb, ship: {{destination: {tmp_path}/fleet}}}}\n"
        "outputs:\n"
        f"  eve_flows: {tmp_path}/prod-flows.jsonl\n"
        "  syslog: {address: '127.0.0.1:9', transport: udp}\n"
        "  ipfix: {address: '127.0.0.1:9', transport: udp}\n"
    )
    db = tmp_path / "test.duckdb"
    res = _sensor("replay", "-c", str(cfg), "--db", str(db), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "syslog, IPFIX, shipping off for this run" in res.stderr
    assert not (tmp_path / "prod-flows.jsonl").exists()
    assert len((tmp_path / "test.eve-flows.jsonl").read_text().splitlines()) == 7
    assert not (tmp_path / "prod.duckdb").exists() and not (tmp_path / "fleet").exists()


def test_an_analysts_table_named_like_a_sensor_view_is_not_taken_for_a_catalog(
    tmp_path: Path,
) -> None:
    """Catalogs from before the marker table are recognised by their views; a database whose
    own *table* is called `flows` is someone else's and is refused, never dropped."""
    mine = tmp_path / "mine.duckdb"
    con = duckdb.connect(str(mine))
    con.execute("CREATE TABLE flows AS SELECT 'my own rows' AS note")
    con.close()
    before = _digest(mine)
    res = _sensor("replay", "--db", str(mine), cwd=tmp_path)
    _one_line_error(res, 3, "a DuckDB database the sensor did not create (it holds flows)")
    assert _digest(mine) == before
