"""Resolve NAME through the system resolver, then at once open TLS to the first address
without SNI (as a program that talks to a bare address does). Usage: resolve_then_tls.py NAME."""

from __future__ import annotations

import socket
import ssl
import sys


def main(name: str) -> None:
    addr = socket.getaddrinfo(name, 443, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((addr, 443), 5) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.recv(4096)


if __name__ == "__main__":
    main(sys.argv[1])
