"""An aioquic client: complete a QUIC handshake with HOST:PORT as SERVER_NAME, then close."""

from __future__ import annotations

import asyncio
import ssl
import sys

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration


async def main(host: str, port: int, name: str) -> None:
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=name)
    cfg.verify_mode = ssl.CERT_NONE
    async with connect(host, port, configuration=cfg) as conn:
        await conn.ping()


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]), 10))
