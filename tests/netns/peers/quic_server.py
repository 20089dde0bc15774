"""An aioquic server (HTTP/3 ALPN) on HOST:PORT with CERT/KEY, until killed."""

from __future__ import annotations

import asyncio
import sys

from aioquic.asyncio import serve
from aioquic.quic.configuration import QuicConfiguration


async def main(host: str, port: int, cert: str, key: str) -> None:
    cfg = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
    cfg.load_cert_chain(cert, key)
    await serve(host, port, configuration=cfg)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
