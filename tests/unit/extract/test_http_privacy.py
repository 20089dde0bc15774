"""The request target's query string is content (Policy 2503): not stored unless the site
says so, though signatures still match on it. Host names are cut like URIs are."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from scapy.utils import wrpcap

from sensor.config import SensorConfig
from tests.tools.synth import client_hello, tcp_session

C, S = "10.20.1.11", "93.184.216.34"
ANNOUNCE = (
    b"GET /announce?info_hash=%12%34secret&peer_id=-qB4650-abcdefghijkl&port=6881 HTTP/1.1\r\n"
    b"Host: tracker.example.org:6969\r\nUser-Agent: qBittorrent/4.6.5\r\n\r\n"
)


def _row(tmp_path: Path, replay, payload: bytes, cfg: SensorConfig | None = None) -> dict:  # type: ignore[no-untyped-def]
    path = tmp_path / "http.pcap"
    wrpcap(str(path), tcp_session((C, 50000), (S, 6969), 1000.0, [(True, payload)]))
    db, _ = replay([path], cfg=cfg)
    cur = db.execute("SELECT * FROM flows")
    names = [d[0] for d in cur.description]
    (row,) = cur.fetchall()
    return dict(zip(names, row, strict=True))


def test_query_string_not_stored_but_still_matched(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    row = _row(tmp_path, replay, ANNOUNCE)
    assert row["http_uri"] == "/announce"
    assert row["provision"] == "2503-9f"  # the tracker signature saw info_hash=
    assert "secret" not in str(row["evidence"]) and "http.uri=/announce" in row["evidence"]


def test_site_may_keep_the_query_string(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    cfg = SensorConfig()
    cfg = replace(cfg, policy=replace(cfg.policy, store_uri_query=True))
    row = _row(tmp_path, replay, ANNOUNCE, cfg)
    assert row["http_uri"].startswith("/announce?info_hash=%12%34secret")
    assert "secret" in row["evidence"]


def test_host_and_sni_are_cut_to_a_name_length(tmp_path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    host = b"a" * 16_000 + b".example.org"
    row = _row(tmp_path, replay, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert len(row["http_host"]) == 255
    path = tmp_path / "tls.pcap"
    hello = client_hello(".".join(["b" * 63] * 16) + ".example.org")  # 1,035 characters
    wrpcap(str(path), tcp_session((C, 50001), (S, 443), 1000.0, [(True, hello)]))
    db, _ = replay([path], name="tls")
    (sni,) = db.execute("SELECT tls_sni FROM flows").fetchone()
    assert len(sni) == 255 and sni.startswith("b" * 63 + ".")
