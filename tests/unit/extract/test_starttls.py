"""STARTTLS: each protocol's upgrade is followed, and the ClientHello after it gives the
record its server name; a refused upgrade or a plaintext session leaves a plain record."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.utils import wrpcap

from tests.tools.synth import client_hello, tcp_session

C, S = "10.20.1.11", "198.51.100.25"
TLS_REPLY = b"\x16\x03\x03\x00\x5a\x02" + b"\0" * 90

# (protocol, port, dialogue before the ClientHello as (from_client, bytes))
DIALOGUES = [
    (
        "smtp",
        587,
        [
            (False, b"220 mx.example.net ESMTP Postfix\r\n"),
            (True, b"EHLO ws15.example.org\r\n"),
            (False, b"250-mx.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
            (True, b"STARTTLS\r\n"),
            (False, b"220 2.0.0 Ready to start TLS\r\n"),
        ],
    ),
    (
        "imap",
        143,
        [
            (False, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n"),
            (True, b"a1 STARTTLS\r\n"),
            (False, b"a1 OK Begin TLS negotiation now.\r\n"),
        ],
    ),
    (
        "pop3",
        110,
        [
            (False, b"+OK Dovecot ready.\r\n"),
            (True, b"STLS\r\n"),
            (False, b"+OK Begin TLS negotiation now.\r\n"),
        ],
    ),
    (
        "ftp",
        21,
        [
            (False, b"220 (vsFTPd 3.0.3)\r\n"),
            (True, b"AUTH TLS\r\n"),
            (False, b"234 Proceed with negotiation.\r\n"),
        ],
    ),
    (
        "xmpp",
        5222,
        [
            (
                True,
                b"<?xml version='1.0'?><stream:stream to='example.net' version='1.0' "
                b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
            ),
            (
                False,
                b"<?xml version='1.0'?><stream:stream from='example.net' id='x' version='1.0'>"
                b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                b"<required/></starttls></stream:features>",
            ),
            (True, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            (False, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
        ],
    ),
]


def _row(replay, path: Path) -> dict:  # type: ignore[no-untyped-def,type-arg]
    db, _ = replay([path])
    cur = db.execute("SELECT * FROM flows WHERE proto = 'TCP'")
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize(("proto", "port", "dialogue"), DIALOGUES, ids=[d[0] for d in DIALOGUES])
def test_the_name_after_the_upgrade_reaches_the_record(
    tmp_path: Path,
    replay,  # type: ignore[no-untyped-def]
    proto: str,
    port: int,
    dialogue: list[tuple[bool, bytes]],
) -> None:
    exchange = [*dialogue, (True, client_hello(f"{proto}.example.net")), (False, TLS_REPLY)]
    path = tmp_path / f"{proto}.pcap"
    wrpcap(str(path), tcp_session((C, 50200), (S, port), 1000.0, exchange))
    row = _row(replay, path)
    assert (row["app_proto"], row["tls_sni"], row["server_name"]) == (
        f"{proto}/tls",
        f"{proto}.example.net",
        f"{proto}.example.net",
    )


def test_a_refused_upgrade_or_plain_session_stays_plain(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    refused = [
        (False, b"220 mx.example.net ESMTP\r\n"),
        (True, b"EHLO ws\r\n"),
        (False, b"250 mx.example.net\r\n"),
        (True, b"STARTTLS\r\n"),
        (False, b"454 4.7.0 TLS not available\r\n"),
        (True, b"QUIT\r\n"),
    ]
    path = tmp_path / "refused.pcap"
    wrpcap(str(path), tcp_session((C, 50201), (S, 25), 1000.0, refused))
    row = _row(replay, path)
    assert (row["app_proto"], row["tls_sni"]) == ("smtp", None)
