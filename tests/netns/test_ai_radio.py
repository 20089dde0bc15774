"""Public AI services and Internet radio, made by real software in the test's own network
namespaces (the corpus has no such captures): curl, openssl s_client, Python's ssl and an
aioquic QUIC client greet local servers as chatgpt.com, claude.ai, gemini.google.com and
copilot.microsoft.com; curl listens to an ICY (SHOUTcast) stream. dumpcap records the veth,
and the capture is replayed through the sensor. Addresses stay in the lab's subnet."""

from __future__ import annotations

import datetime
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sensor.cli import main
from tests.netns.lab import Lab, wait_port

PEERS = Path(__file__).resolve().parent / "peers"
NAMES = ["chatgpt.com", "claude.ai", "gemini.google.com", "copilot.microsoft.com"]

pytestmark = pytest.mark.skipif(
    not (shutil.which("openssl") and shutil.which("curl") and shutil.which("dumpcap")),
    reason="needs openssl, curl and dumpcap",
)


def _cert(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAMES[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in NAMES]), False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return c, k


def _site_config(tmp: Path, db: Path) -> Path:
    """Whatever the hour the test runs at, AI use is a violation (no personal-use window)."""
    cfg = tmp / "site.yaml"
    cfg.write_text(
        f"storage:\n  catalog: {db}\npolicy:\n  provisions:\n    2503-ai: {{personal_use: false}}\n"
    )
    return cfg


def test_ai_services_and_internet_radio_from_real_clients(lab: Lab, tmp_path: Path) -> None:
    cert, key = _cert(tmp_path)
    srv = lab.server_ip
    radio = lab.add_server_address(5)
    lab.start(
        "server",
        ["openssl", "s_server", "-quiet", "-accept", f"{srv}:443", "-cert", str(cert),
         "-key", str(key), "-www"],
    )  # fmt: skip
    lab.start("server", [sys.executable, str(PEERS / "quic_server.py"), srv, "443",
                         str(cert), str(key)])  # fmt: skip
    lab.start("server", [sys.executable, str(PEERS / "icy_server.py"), radio, "8000"])
    wait_port(lab, srv, 443)
    wait_port(lab, radio, 8000)
    wait_port(lab, srv, 443, udp=True)

    pcap = tmp_path / "lab.pcap"
    with lab.capture(pcap):
        lab.run("client", ["curl", "-sk", "--resolve", f"chatgpt.com:443:{srv}",
                           "https://chatgpt.com/", "-o", "/dev/null"])  # fmt: skip
        lab.run("client", ["openssl", "s_client", "-connect", f"{srv}:443", "-servername",
                           "claude.ai", "-brief"], input=b"Q\n")  # fmt: skip
        lab.run("client", [sys.executable, str(PEERS / "tls_client.py"), srv, "443",
                           "gemini.google.com"])  # fmt: skip
        lab.run("client", [sys.executable, str(PEERS / "quic_client.py"), srv, "443",
                           "copilot.microsoft.com"])  # fmt: skip
        lab.run("client", ["curl", "--http0.9", "-s", "-m", "3", "-o", "/dev/null",
                           f"http://{radio}:8000/stream"], check=False)  # fmt: skip

    db = tmp_path / "lab.duckdb"
    assert main(["replay", "-q", "-c", str(_site_config(tmp_path, db)), str(pcap)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT server_name, app_proto, category, provision, action, service "
        "FROM flows WHERE category IS NOT NULL ORDER BY ts_start"
    ).fetchall()
    got = {r[0] or r[5]: r[1:] for r in rows}
    assert got["chatgpt.com"] == ("tls", "ai", "2503-ai", "violation", "chatgpt")
    assert got["claude.ai"] == ("tls", "ai", "2503-ai", "violation", "claude")
    assert got["gemini.google.com"] == ("tls", "ai", "2503-ai", "violation", "gemini")
    assert got["copilot.microsoft.com"] == ("quic", "ai", "2503-ai", "violation", "copilot")
    radio_rows = [r for r in rows if r[2] == "radio"]
    assert radio_rows and radio_rows[0][2:5] == ("radio", "2503-9b", "violation")
    alerts = con.execute(
        "SELECT provision, count(*), count(DISTINCT signature_id) FROM alerts GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert alerts == [("2503-9b", 1, 1), ("2503-ai", 4, 4)]  # one per signature and host
