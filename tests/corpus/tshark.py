"""tshark as the oracle: per-packet fields of a capture, cached per file for the session."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest

FIELDS = (
    "frame.len",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "communityid",
    "ip.proto",
    "ipv6.nxt",
)


def require_tshark() -> None:
    """Skip when tshark is not installed (tests/run.sh installs it)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")


@functools.cache
def packet_fields(path: Path, display_filter: str = "tcp or udp") -> tuple[dict[str, str], ...]:
    """One dict per packet matching the filter; multi-valued fields give their last
    (innermost) occurrence, as the sensor decodes the innermost packet of a tunnel."""
    cmd = [
        "tshark",
        "-n",
        "-r",
        str(path),
        "--enable-protocol",
        "communityid",
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=l",
    ]
    for f in FIELDS:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    rows = []
    for line in res.stdout.splitlines():
        vals = line.split("\t")
        rows.append(dict(zip(FIELDS, vals + [""] * (len(FIELDS) - len(vals)), strict=True)))
    return tuple(rows)
