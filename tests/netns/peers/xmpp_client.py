"""A small XMPP client (RFC 6120): open a stream, upgrade it with STARTTLS, open the stream
again over TLS (SNI = the domain), then close. Usage: xmpp_client.py HOST PORT DOMAIN."""

from __future__ import annotations

import socket
import ssl
import sys

NS = "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'"


def _until(sock: socket.socket | ssl.SSLSocket, token: bytes) -> bytes:
    got = b""
    while token not in got:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(f"closed before {token!r}: {got!r}")
        got += chunk
    return got


def main(host: str, port: int, domain: str) -> None:
    head = f"<?xml version='1.0'?><stream:stream to='{domain}' {NS}>".encode()
    with socket.create_connection((host, port), 5) as raw:
        raw.sendall(head)
        _until(raw, b"</stream:features>")
        raw.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        _until(raw, b"<proceed")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(raw, server_hostname=domain) as tls:
            tls.sendall(head)
            _until(tls, b"</stream:features>")
            tls.sendall(b"</stream:stream>")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
