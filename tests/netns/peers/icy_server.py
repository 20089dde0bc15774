"""A SHOUTcast/Icecast-style server: answers any GET with `ICY 200 OK` and streams MP3-like
frames at 128 kbit/s until the client goes away."""

from __future__ import annotations

import socket
import sys
import threading
import time

HEADERS = (
    b"ICY 200 OK\r\nicy-notice1: This stream requires Winamp\r\nicy-name: Lab FM\r\n"
    b"icy-genre: Test\r\nicy-br: 128\r\ncontent-type: audio/mpeg\r\nicy-metaint: 16000\r\n\r\n"
)
FRAME = b"\xff\xfb\x90\x64" + bytes(413)  # one 128 kbit/s MPEG-1 layer III frame


def serve(conn: socket.socket) -> None:
    with conn:
        conn.recv(4096)
        conn.sendall(HEADERS)
        try:
            while True:
                conn.sendall(FRAME * 4)
                time.sleep(4 * 417 * 8 / 128_000)
        except OSError:
            pass


def main(host: str, port: int) -> None:
    srv = socket.create_server((host, port))
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
