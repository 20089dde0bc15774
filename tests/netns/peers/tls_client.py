"""Python's ssl module as a client: TLS handshake with HOST:PORT as SERVER_NAME, one request."""

from __future__ import annotations

import socket
import ssl
import sys


def main(host: str, port: int, name: str) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), 5) as raw,
        ctx.wrap_socket(raw, server_hostname=name) as s,
    ):
        s.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        s.recv(4096)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
