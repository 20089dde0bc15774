"""Messaging, a fully encrypted proxy and a TTL-0 name, made by real software in the test's
own network namespaces: prosody (XMPP with STARTTLS) and a small XMPP client, ngircd (IRC) and
a small IRC client, shadowsocks-libev (ss-local and ss-server, AEAD chacha20) carrying curl,
and dnsmasq answering with TTL 0 before a TLS connection without SNI. dumpcap records the
veth, and the capture is replayed through the sensor. Addresses stay in the lab's subnet; the
site config makes the client the only internal host, so the server side is "outside"."""

from __future__ import annotations

import datetime
import os
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
REPO = Path(__file__).resolve().parents[2]
OPTIONAL = REPO / "signatures" / "optional" / "fully-encrypted.yaml"


def _need(*programs: str) -> None:
    """Skip outside CI when a program is missing; in CI (tests/run.sh installs them) fail."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"missing {missing}: tests/run.sh installs them")
        pytest.skip(f"needs {', '.join(missing)}")


def _cert(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(11)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
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


def _replay(lab: Lab, tmp: Path, pcap: Path, extra: str = "") -> duckdb.DuckDBPyConnection:
    """Replay with the client as the only internal host and no personal-use window."""
    db = tmp / "lab.duckdb"
    cfg = tmp / "site.yaml"
    provs = "".join(
        f"    {p}: {{personal_use: false}}\n" for p in ("2503-7m", "2503-15", "2503-ai")
    )
    cfg.write_text(
        f"storage:\n  catalog: {db}\n{extra}policy:\n"
        f"  networks:\n    internal: [{lab.client_ip}/32]\n  provisions:\n{provs}"
    )
    assert main(["replay", "-q", "-c", str(cfg), str(pcap)]) == 0
    return duckdb.connect(str(db), read_only=True)


def _flow(con: duckdb.DuckDBPyConnection, port: int) -> tuple[object, ...]:
    rows = con.execute(
        "SELECT app_proto, server_name, provision, action, signature_id FROM flows "
        "WHERE dest_port = ? AND proto = 'TCP'",
        [port],
    ).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_xmpp_with_starttls_from_prosody(lab: Lab, tmp_path: Path) -> None:
    _need("prosody", "dumpcap")
    cert, key = _cert(tmp_path, "example.net")
    (tmp_path / "data").mkdir()
    conf = tmp_path / "prosody.cfg.lua"
    conf.write_text(
        f'run_as_root = true\npidfile = "{tmp_path}/prosody.pid"\n'
        f'data_path = "{tmp_path}/data"\n'
        'log = { { levels = { min = "warn" }, to = "console" } }\n'
        f'interfaces = {{ "{lab.server_ip}" }}\nc2s_ports = {{ 5222 }}\n'
        "s2s_ports = { }\nhttp_ports = { }\nhttps_ports = { }\nc2s_direct_tls_ports = { }\n"
        'modules_enabled = { "tls", "saslauth", "disco" }\nc2s_require_encryption = true\n'
        f'VirtualHost "example.net"\n  ssl = {{ key = "{key}"; certificate = "{cert}"; }}\n'
    )
    lab.start("server", ["prosody", "--config", str(conf), "-F"])
    wait_port(lab, lab.server_ip, 5222)
    pcap = tmp_path / "xmpp.pcap"
    with lab.capture(pcap):
        lab.run("client", [sys.executable, str(PEERS / "xmpp_client.py"), lab.server_ip,
                           "5222", "example.net"])  # fmt: skip
    con = _replay(lab, tmp_path, pcap)
    assert _flow(con, 5222) == ("xmpp/tls", "example.net", "2503-15", "violation", 5020)


def test_irc_from_ngircd(lab: Lab, tmp_path: Path) -> None:
    _need("ngircd", "dumpcap")
    conf = tmp_path / "ngircd.conf"
    conf.write_text(
        f"[Global]\nName = irc.example.net\nInfo = lab\nListen = {lab.server_ip}\n"
        f"Ports = 6667\nPidFile = {tmp_path}/ngircd.pid\nMotdPhrase = lab\n"
        "[Options]\nDNS = no\nIdent = no\nPAM = no\n"
    )
    lab.start("server", ["ngircd", "-n", "-f", str(conf)])
    wait_port(lab, lab.server_ip, 6667)
    pcap = tmp_path / "irc.pcap"
    with lab.capture(pcap):
        lab.run("client", [sys.executable, str(PEERS / "irc_client.py"), lab.server_ip,
                           "6667", "alice"])  # fmt: skip
    row = _flow(_replay(lab, tmp_path, pcap), 6667)
    assert row[2:] == ("2503-15", "violation", 5021)


TUNNELS = 8


def test_shadowsocks_aead_tunnel_is_fully_encrypted(lab: Lab, tmp_path: Path) -> None:
    """ss-local and ss-server (chacha20-ietf-poly1305) carry HTTP downloads, one tunnel
    connection each; with the opt-in fully-encrypted signature they are circumvention (7m).

    Random first payloads are exempt by chance now and then, as in Wu et al.'s measurement:
    more than half of 64 random bytes are printable (Ex3) with probability ~1.2 % per side,
    so ~2.4 % of tunnels. One tunnel made that a flaky test; of 8, at least 6 must be named
    (3 or more exempt: about 1 run in 1,000)."""
    _need("ss-server", "ss-local", "curl", "dumpcap")
    srv = lab.server_ip
    ss = ["-k", "lab-secret-14", "-m", "chacha20-ietf-poly1305"]
    lab.start("server", ["ss-server", "-s", srv, "-p", "8388", *ss])
    lab.start("client", ["ss-local", "-s", srv, "-p", "8388", "-b", "127.0.0.1", "-l", "1080",
                         *ss])  # fmt: skip
    lab.start("server", [sys.executable, "-m", "http.server", "-b", srv, "8080", "-d",
                         str(tmp_path)])  # fmt: skip
    (tmp_path / "page.html").write_bytes(os.urandom(20_000))
    wait_port(lab, srv, 8388)
    wait_port(lab, srv, 8080)
    pcap = tmp_path / "ss.pcap"
    fetch = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--socks5-hostname",
             "127.0.0.1:1080", f"http://{srv}:8080/page.html"]  # fmt: skip
    with lab.capture(pcap):
        for _ in range(50):  # until ss-local listens
            got = lab.run("client", fetch, check=False)
            if got.stdout == b"200":
                break
        assert got.stdout == b"200"
        for _ in range(TUNNELS - 1):
            assert lab.run("client", fetch, check=False).stdout == b"200"
    extra = f"signatures:\n  paths: [{OPTIONAL}]\n"
    con = _replay(lab, tmp_path, pcap, extra)
    rows = con.execute(
        "SELECT provision, action, signature_id, evidence FROM flows WHERE dest_port = 8388"
    ).fetchall()
    named = [r for r in rows if r[:3] == ("2503-7m", "violation", 7060)]
    assert len(rows) == TUNNELS and len(named) >= TUNNELS - 2, rows
    assert all(r[1] == "none" for r in rows if r not in named), rows
    # without the opt-in file the same tunnel is nothing the sensor names
    (tmp_path / "plain").mkdir()
    plain = _replay(lab, tmp_path / "plain", pcap)
    named = "SELECT count(*) FROM flows WHERE dest_port = 8388 AND provision IS NOT NULL"
    assert plain.execute(named).fetchone() == (0,)


def test_ttl_zero_answer_then_tls_without_sni(lab: Lab, tmp_path: Path) -> None:
    """dnsmasq answers api.openai.com with TTL 0; the client connects at once, without SNI."""
    _need("dnsmasq", "openssl", "dumpcap")
    cert, key = _cert(tmp_path, "api.openai.com")
    api = lab.add_server_address(7)
    lab.start("server", ["dnsmasq", "-k", "--no-resolv", "--no-hosts", "--bind-interfaces",
                         f"--listen-address={lab.server_ip}", "--local-ttl=0",
                         f"--host-record=api.openai.com,{api}",
                         f"--pid-file={tmp_path}/dnsmasq.pid"])  # fmt: skip
    lab.start("server", ["openssl", "s_server", "-quiet", "-accept", f"{api}:443", "-cert",
                         str(cert), "-key", str(key), "-www"])  # fmt: skip
    lab.client_resolver(lab.server_ip)
    wait_port(lab, api, 443)
    wait_port(lab, lab.server_ip, 53, udp=True)
    pcap = tmp_path / "ttl0.pcap"
    with lab.capture(pcap):
        lab.run("client", [sys.executable, str(PEERS / "resolve_then_tls.py"), "api.openai.com"])
    con = _replay(lab, tmp_path, pcap)
    ttl = con.execute("SELECT dns_query FROM flows WHERE dest_port = 53").fetchall()
    assert ("api.openai.com",) in ttl
    row = _flow(con, 443)
    assert row[1:4] == ("api.openai.com", "2503-ai", "violation"), row
