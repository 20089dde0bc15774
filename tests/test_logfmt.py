"""Log lines escape control characters that came off the wire (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.tools.hostile import pcap


def test_a_capture_name_with_escapes_logs_one_safe_line(tmp_path: Path) -> None:
    bad = tmp_path / "x\x1b]0;pwned\x07\nsensor: INFO: forged.pcap"
    bad.write_bytes(pcap([(1.0, b"\0" * 60)])[:-10])  # cut inside its record: a warning
    res = subprocess.run(
        [sys.executable, "-m", "sensor", "replay", "-q", str(bad), "--db", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln]
    assert lines and all(ln.startswith("sensor: ") for ln in lines), res.stderr
    assert len([ln for ln in lines if "forged" in ln]) == 1
