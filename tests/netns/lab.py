"""A two-namespace lab: a client and a server namespace joined by a veth pair, with addresses
only in the lab's own subnet. Real software runs on each side; dumpcap records the wire.

Needs root and iproute2; tests using it are skipped otherwise. Every namespace and link is
removed when the lab closes, also after a failing test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

__all__ = ["Lab", "lab_available"]


def lab_available() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


class Lab:
    """Namespaces `<tag>c` (client) and `<tag>s` (server) on subnet 10.<a>.<b>.0/24."""

    def __init__(self, tag: str, subnet: int) -> None:
        self.client_ns, self.server_ns = f"{tag}c", f"{tag}s"
        self.net = f"10.231.{subnet}"
        self.client_ip, self.server_ip = f"{self.net}.2", f"{self.net}.1"
        self.client_if, self.server_if = f"{tag}-c", f"{tag}-s"
        self._procs: list[subprocess.Popen[bytes]] = []

    def up(self) -> None:
        for ns in (self.client_ns, self.server_ns):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", self.client_if, "type", "veth", "peer", "name", self.server_if)
        for ns, dev, addr in (
            (self.client_ns, self.client_if, self.client_ip),
            (self.server_ns, self.server_if, self.server_ip),
        ):
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            # offloads off: the capture then shows frames as they are on a real wire
            subprocess.run(
                ["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                 "gro", "off"],
                capture_output=True,
                check=False,
            )  # fmt: skip

    def client_resolver(self, nameserver: str) -> None:
        """The client namespace's resolv.conf (ip netns exec bind-mounts /etc/netns/NS/)."""
        d = Path("/etc/netns") / self.client_ns
        d.mkdir(parents=True, exist_ok=True)
        (d / "resolv.conf").write_text(f"nameserver {nameserver}\noptions timeout:2\n")

    def add_server_address(self, last_octet: int) -> str:
        addr = f"{self.net}.{last_octet}"
        _ip("-n", self.server_ns, "addr", "add", f"{addr}/24", "dev", self.server_if)
        return addr

    def down(self) -> None:
        for p in reversed(self._procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        for ns in (self.client_ns, self.server_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)

    def start(self, side: str, cmd: Sequence[str], **kw: object) -> subprocess.Popen[bytes]:
        """A long-running program in the client or server namespace."""
        ns = self.server_ns if side == "server" else self.client_ns
        p = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], **kw)  # type: ignore[call-overload]
        self._procs.append(p)
        return p  # type: ignore[no-any-return]

    def run(
        self, side: str, cmd: Sequence[str], timeout: float = 30, check: bool = True, **kw: object
    ) -> subprocess.CompletedProcess[bytes]:
        ns = self.server_ns if side == "server" else self.client_ns
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            ["ip", "netns", "exec", ns, *cmd],
            timeout=timeout,
            check=check,
            capture_output=True,
            **kw,
        )

    @contextlib.contextmanager
    def capture(self, path: Path) -> Iterator[Path]:
        """dumpcap on the client's veth for the duration of the block."""
        p = self.start(
            "client",
            ["dumpcap", "-q", "-P", "-i", self.client_if, "-w", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not (path.exists() and path.stat().st_size > 0):
            if p.poll() is not None or time.monotonic() > deadline:
                err = p.stderr.read().decode() if p.stderr else ""
                pytest.fail(f"dumpcap did not start: {err}")
            time.sleep(0.05)
        time.sleep(0.3)
        try:
            yield path
        finally:
            time.sleep(0.5)
            p.send_signal(signal.SIGINT)
            p.wait(10)


def wait_port(lab: Lab, host: str, port: int, udp: bool = False, timeout: float = 10) -> None:
    """Until something listens (TCP connect from the client namespace succeeds)."""
    if udp:
        time.sleep(1.0)
        return
    deadline = time.monotonic() + timeout
    probe = f"import socket; socket.create_connection(('{host}', {port}), 1).close()"
    while time.monotonic() < deadline:
        if lab.run("client", ["python3", "-c", probe], check=False).returncode == 0:
            return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on {host}:{port}")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)
