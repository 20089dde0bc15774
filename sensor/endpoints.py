"""Endpoints of the outputs (syslog receiver, IPFIX collector): parsed once, at startup.

Config validation (syntax, with the file:line of the key) and the senders share this, so
what the config accepts is exactly what a sender can use.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from sensor.errors import ConfigError

__all__ = ["TRANSPORTS", "Address", "parse_address", "resolve"]

TRANSPORTS = ("udp", "tcp", "unix")


@dataclass(frozen=True, slots=True)
class Address:
    """Where a sender delivers: (host, port) for udp/tcp, a path for a unix datagram socket."""

    transport: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.transport}://{self.host}:{self.port}"


def parse_address(text: str, transport: str) -> Address:
    """`host:port`, `[v6]:port` (udp, tcp) or `/path` (unix); ValueError says what is wrong."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    if transport == "unix":
        if not text.startswith("/"):
            raise ValueError(f"address: expected an absolute socket path, got {text!r}")
        return Address("unix", path=text)
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"address: expected host:port, got {text!r}")
    return Address(transport, host, int(port))


def resolve(text: str, transport: str, key: str) -> Address:
    """Parse and, for udp/tcp, resolve the host now: a typo stops the sensor at startup.

    `key` is the config section (`outputs.syslog`) the error names.
    """
    try:
        addr = parse_address(text, transport)
    except ValueError as e:
        raise ConfigError(f"{key}: {e}") from None
    if addr.host:
        try:
            socket.getaddrinfo(addr.host, addr.port)
        except (socket.gaierror, UnicodeError) as e:
            raise ConfigError(f"{key}.address: cannot resolve {addr.host!r}: {e}") from None
    return addr
