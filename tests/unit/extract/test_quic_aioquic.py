"""Real QUIC software on loopback: an aioquic client greets an aioquic server as chatgpt.com;
the capture, replayed through the sensor, must show that name. Loopback only."""

from __future__ import annotations

import asyncio
import datetime
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

aioquic = pytest.importorskip("aioquic")
from aioquic.asyncio import connect, serve  # noqa: E402
from aioquic.quic.configuration import QuicConfiguration  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

NAME = "chatgpt.com"


def _cert(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))  # fmt: skip
    cpath, kpath = tmp / "cert.pem", tmp / "key.pem"
    cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kpath.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))  # fmt: skip
    return cpath, kpath


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _talk(port: int, cert: Path, key: Path) -> None:
    scfg = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
    scfg.load_cert_chain(str(cert), str(key))
    server = await serve("127.0.0.1", port, configuration=scfg)
    ccfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=NAME,
                             verify_mode=ssl.CERT_NONE)  # fmt: skip
    try:
        async with connect("127.0.0.1", port, configuration=ccfg) as client:
            await client.ping()
    finally:
        server.close()


def test_aioquic_client_hello_gives_quic_sni(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    dumpcap = shutil.which("dumpcap")
    if dumpcap is None:
        pytest.skip("dumpcap (wireshark-common) is not installed")
    port = _free_udp_port()
    pcap = tmp_path / "aioquic.pcapng"
    cap = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-f", f"udp port {port}", "-w", str(pcap)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not pcap.exists() and time.monotonic() < deadline and cap.poll() is None:
            time.sleep(0.05)
        if cap.poll() is not None or not pcap.exists():
            pytest.skip(
                f"cannot capture on lo: {cap.stderr.read().decode()[:200] if cap.stderr else ''}"
            )
        time.sleep(0.3)
        asyncio.run(asyncio.wait_for(_talk(port, *_cert(tmp_path)), 20))
        time.sleep(0.5)
    finally:
        cap.terminate()
        cap.wait(10)
    db, _ = replay([pcap])
    row = db.execute("SELECT app_proto, quic_sni, quic_version, ja4, dest_port FROM flows "
                     "WHERE app_proto = 'quic'").fetchone()  # fmt: skip
    assert row is not None, db.execute("SELECT * FROM flows").fetchall()
    assert row[:3] == ("quic", NAME, "0x00000001") and row[3].startswith("q13d")
    assert row[4] == port
