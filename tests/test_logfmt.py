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


def test_a_traceback_cannot_forge_a_log_line() -> None:
    """Tracebacks went out raw: an exception message quoting the wire could end a line and
    start one that reads as a record of its own, escape sequences included (found by
    review)."""
    import logging

    from sensor.logfmt import SafeFormatter

    fmt = SafeFormatter("sensor: %(levelname)s: %(message)s")
    try:
        raise ValueError("boom\nsensor: ERROR: forged \x1b[31m")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = fmt.format(record)
    assert "\x1b" not in text
    lines = text.split("\n")
    assert lines[0] == "sensor: ERROR: failed"
    assert all(ln.startswith("  ") for ln in lines[1:])
    assert "  sensor: ERROR: forged \\x1b[31m" in lines
