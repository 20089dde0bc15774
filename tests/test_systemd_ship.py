"""The shipping units: `systemd-analyze verify` passes for the timer and its service, and
the service's exposure is 2.5 or lower (it needs no capability at all)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNITS = ("sensor-ship.service", "sensor-ship.timer")
pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="needs systemd-analyze"
)


def _units_here(tmp_path: Path) -> list[Path]:
    exe = Path(sys.executable).parent / "sensor"
    out = []
    for name in UNITS:
        text = (REPO / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace("/opt/policy-sensor/bin/sensor", str(exe)))
        out.append(tmp_path / name)
    return out


def test_verify_passes(tmp_path: Path) -> None:
    res = subprocess.run(
        ["systemd-analyze", "verify", *map(str, _units_here(tmp_path))],
        capture_output=True,
        text=True,
    )
    problems = [ln for ln in (res.stdout + res.stderr).splitlines() if "sensor-ship" in ln]
    assert res.returncode == 0 and not problems, problems


def test_exposure_is_2_5_or_lower(tmp_path: Path) -> None:
    service = _units_here(tmp_path)[0]
    res = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(service)],
        capture_output=True,
        text=True,
    )
    m = re.search(r"Overall exposure level for sensor-ship\.service: ([0-9.]+)", res.stdout)
    assert m, res.stdout + res.stderr
    assert float(m.group(1)) <= 2.5, res.stdout


def test_the_service_ships_with_the_sensors_config() -> None:
    text = (REPO / "systemd" / "sensor-ship.service").read_text()
    assert "ExecStart=/opt/policy-sensor/bin/sensor ship -c /etc/sensor/sensor.yaml" in text
    assert "StateDirectory=sensor" in text and "User=sensor" in text
    assert "Type=oneshot" in text
