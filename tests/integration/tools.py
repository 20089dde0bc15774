"""Helpers for tests that start real third-party daemons (rsyslog, nfcapd) on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable

import pytest


def need(binary: str, package: str) -> str:
    """Path of `binary`; outside CI a missing one skips, in CI it fails (tests/run.sh
    installs `package`, so absence there is a broken setup, not a reason to pass)."""
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if path is None:
        msg = f"needs {binary} (Debian package {package}; tests/run.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def free_port(kind: socket.SocketKind = socket.SOCK_DGRAM) -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll `cond` until it holds; fail the test naming `what` otherwise."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")
