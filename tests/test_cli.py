"""The command line as a user meets it: the README command, appending, bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from sensor.cli import main


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensor", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_replay_without_arguments_replays_the_demo_into_sensor_duckdb(tmp_path: Path) -> None:
    res = _run("replay", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "packets=83" in res.stdout and "flows=7" in res.stdout
    db = duckdb.connect(str(tmp_path / "sensor.duckdb"), read_only=True)
    assert db.execute("SELECT count(*) FROM flows").fetchone() == (7,)
    radio = db.execute("SELECT pkts_toclient FROM flows WHERE dest_port = 80").fetchone()
    assert radio == (43,)


def test_replay_appends_only_with_again(tmp_path: Path) -> None:
    """Re-running a replay is idempotent; --again appends the same capture once more."""
    db = tmp_path / "x.duckdb"
    assert main(["replay", "-q", "--db", str(db)]) == 0
    assert main(["replay", "-q", "--db", str(db)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT flow_id) FROM flows").fetchone() == (7, 7)
    con.close()
    assert main(["replay", "-q", "--again", "--db", str(db)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT flow_id) FROM flows").fetchone() == (14, 7)


def test_not_a_capture_is_one_line_and_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not a capture\n")
    res = _run("replay", str(bad), "--db", str(tmp_path / "x.duckdb"), cwd=tmp_path)
    assert res.returncode == 3
    assert res.stderr.strip().count("\n") == 0 and "not a pcap" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_file_is_one_line_and_exit_3(tmp_path: Path) -> None:
    res = _run("replay", str(tmp_path / "nope.pcap"), cwd=tmp_path)
    assert res.returncode == 3 and "cannot open" in res.stderr and "Traceback" not in res.stderr


def test_bad_config_names_file_line_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("flow:\n  timeouts:\n    udp: soon\n")
    res = _run("replay", "-c", str(cfg), cwd=tmp_path)
    assert res.returncode == 2
    assert f"{cfg}:3: flow.timeouts.udp: expected a float" in res.stderr


def test_help_lists_replay() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "sensor", "replay", "--help"],
        text=True,
        capture_output=True,
        check=True,
    )
    assert "--db" in res.stdout and "PCAP" in res.stdout


def test_signatures_check_reports_file_line_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(
        "schema: 1\nsignatures:\n  - id: 1000001\n    rev: 1\n    name: x\n"
        "    provision: 2503-99\n    match: {port: [1]}\n    tests: [a.pcap]\n"
    )
    res = _run("signatures", "check", str(bad), cwd=tmp_path)
    assert res.returncode == 1
    assert f"{bad}:3: signature 1000001: provision: unknown '2503-99'" in res.stdout
    assert "1 error(s)" in res.stdout
    res = _run("signatures", "check", cwd=tmp_path)
    assert res.returncode == 0 and "OK" in res.stdout


def test_signatures_test_fires_every_signature_and_nothing_on_benign() -> None:
    repo = Path(__file__).resolve().parent.parent
    res = _run("signatures", "test", "-c", "systemd/sensor.yaml", cwd=repo)
    assert res.returncode == 0, res.stdout[-3000:]
    last = res.stdout.strip().splitlines()[-1]
    assert last.endswith(" 0 failed, 0 skipped") or "skipped" in last
    assert "ok   benign: corpus:netflix.pcap" in res.stdout or "no corpus" in res.stdout


def test_signatures_test_fails_when_a_capture_does_not_fire(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "x.yaml").write_text(
        "schema: 1\nsignatures:\n  - id: 1000001\n    rev: 1\n    name: x\n"
        "    provision: 2503-15\n    match: {domain: [never.example]}\n"
        "    tests: [pcaps/benign/office-browsing.pcap]\n"
    )
    repo = Path(__file__).resolve().parent.parent
    (tmp_path / "pcaps").symlink_to(repo / "pcaps")
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"signatures:\n  paths: [{site}]\n")
    res = _run("signatures", "test", "-c", str(cfg), "1000001", cwd=repo)
    assert res.returncode == 1
    assert "FAIL signature 1000001: pcaps/benign/office-browsing.pcap no flow of" in res.stdout
