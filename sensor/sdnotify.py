"""The systemd notify protocol (sd_notify(3)) without libsystemd: READY, STATUS, WATCHDOG."""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "watchdog_seconds"]


def notify(message: str) -> bool:
    """Send one notification ("READY=1", "STATUS=...", "WATCHDOG=1"); False outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):  # abstract socket namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(message.encode(), addr)
    except OSError:
        return False
    return True


def watchdog_seconds() -> float | None:
    """How often systemd wants WATCHDOG=1 (half its WatchdogSec), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None
