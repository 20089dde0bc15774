"""Each extractor recognises its protocol in real captures of the corpus.

(capture, app_proto, a field that must be filled on at least one such flow)
"""

from __future__ import annotations

from pathlib import Path

import pytest

CASES = [
    ("rdp3.pcap", "rdp", "app_meta['rdp.cookie']"),
    ("ssh.pcap", "ssh", "app_meta['ssh.server_banner']"),
    ("sip.pcap", "sip", "app_meta['sip.method']"),
    ("stun_signal.pcapng", "stun", "app_meta['stun.method']"),
    ("stun_zoom.pcapng", "stun", "app_meta['stun.class']"),
    ("bittorrent.pcap", "bittorrent", "app_meta['bittorrent.info_hash']"),
    ("bittorrent_utp.pcap", "bittorrent-dht", "app_meta['bittorrent.dht_query']"),
    ("bt_search.pcap", "bittorrent-lsd", "app_proto"),
    ("gnutella.pcap", "gnutella", "user_agent"),
    ("ssdp-m-search.pcap", "ssdp", "app_meta['ssdp.method']"),  # bare M-SEARCH, no headers
    ("NTPv4.pcap", "ntp", "app_meta['ntp.mode']"),
    ("iphone.pcap", "dhcp", "app_meta['dhcp.params']"),
    ("openvpn.pcap", "openvpn", "app_meta['openvpn.key_method']"),
    ("socks-http-example.pcap", "socks/http", "app_meta['socks.target']"),
    ("http_connect.pcap", "http/tls", "ja4"),
    ("quic-29.pcap", "quic", "quic_sni"),
    ("dns_dot.pcap", "tls", "app_meta['tls.cert_subject']"),
    ("chrome.pcap", "tls", "tls_sni"),
]


@pytest.mark.corpus
@pytest.mark.parametrize("name,proto,field", CASES, ids=[c[0] + ":" + c[1] for c in CASES])
def test_protocol_is_recognised(
    name: str, proto: str, field: str, corpus_dir: Path, replay
) -> None:  # type: ignore[no-untyped-def]
    db, summary = replay([corpus_dir / "pcaps" / name])
    n = db.execute(f"SELECT count(*) FROM flows WHERE app_proto = ? AND {field} IS NOT NULL",
                   [proto]).fetchone()  # fmt: skip
    assert n is not None and n[0] >= 1, db.execute(
        "SELECT app_proto, count(*) FROM flows GROUP BY 1"
    ).fetchall()
    assert not summary.extractor_errors
