"""A small IRC client (RFC 2812): register, wait for the welcome, join a channel, say one
line, quit. Usage: irc_client.py HOST PORT NICK."""

from __future__ import annotations

import socket
import sys


def main(host: str, port: int, nick: str) -> None:
    with socket.create_connection((host, port), 5) as s:
        s.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        got = b""
        while b" 001 " not in got:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit(f"no welcome: {got!r}")
            got += chunk
            for line in got.split(b"\r\n"):
                if line.startswith(b"PING "):
                    s.sendall(b"PONG " + line[5:] + b"\r\n")
        s.sendall(b"JOIN #lab\r\nPRIVMSG #lab :hello\r\nQUIT :bye\r\n")
        while s.recv(4096):
            pass


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
