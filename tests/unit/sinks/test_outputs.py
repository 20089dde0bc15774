"""Outputs in the site config: off by default, one clear line for a bad address."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sensor.config import OutputsConfig, load_config
from sensor.errors import ConfigError
from sensor.sinks.outputs import build_outputs


def test_outputs_are_off_by_default() -> None:
    cfg = load_config(None)
    assert cfg.outputs == OutputsConfig()
    assert build_outputs(cfg.outputs, "s") == ([], [])


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "syslog: {address: siem}",
            "s.yaml:2: outputs.syslog: address: expected host:port, got 'siem'",
        ),
        (
            "syslog: {address: 'siem:99999'}",
            "s.yaml:2: outputs.syslog: address: expected host:port",
        ),
        (
            "syslog: {address: rel.sock, transport: unix}",
            "address: expected an absolute socket path",
        ),
        ("syslog: {address: /x, transport: sctp}", "s.yaml:2: outputs.syslog: transport must be"),
        ("ipfix: {address: '10.0.0.1'}", "s.yaml:2: outputs.ipfix: address: expected host:port"),
        ("ipfix: {address: '10.0.0.1:4739', transport: unix}", "transport must be udp or tcp"),
    ],
)
def test_a_bad_address_names_file_line_and_key(tmp_path: Path, yaml: str, message: str) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(f"outputs:\n  {yaml}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("syslog: {address: 'no-such-host.invalid:514'}", "outputs.syslog.address: cannot resolve"),
        ("syslog: {address: '127.0.0.1:514', facility: kern9}", "outputs.syslog.facility: unknown"),
    ],
)
def test_an_unknown_host_or_facility_stops_the_build(
    tmp_path: Path, yaml: str, message: str
) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(f"outputs:\n  {yaml}\n")
    with pytest.raises(ConfigError) as e:
        build_outputs(load_config(p).outputs, "s")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_sensor_refuses_to_start_with_a_bad_address(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(  # replaying into the config's own store: its outputs are on
        f"storage: {{catalog: {tmp_path / 'x.duckdb'}}}\n"
        "outputs:\n  syslog: {address: 'siem.example:514', transport: tcp}\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensor",
            "replay",
            "-c",
            str(p),
            "--db",
            str(tmp_path / "x.duckdb"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().startswith(
        "sensor: error: outputs.syslog.address: cannot resolve 'siem.example'"
    )
    assert res.stderr.strip().count("\n") == 0
    assert not (tmp_path / "x.duckdb").exists()  # stopped before creating anything
