"""Policy outcomes end to end: crafted conversations replayed through the real pipeline into
the flow store, read back by an analyst's query. Times are America/Chicago (the default)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from scapy.utils import wrpcap

from sensor.cli import main
from sensor.config import load_config
from tests.conftest import REPO, Replay
from tests.tools.synth import client_hello, tcp_session

WORK = 1_764_086_400.0  # Tue 2025-11-25 10:00 in Chicago
LUNCH = WORK + 2 * 3600 + 15 * 60  # 12:15
WS = "10.20.1.15"


def _tls(path: Path, t: float, sni: str, server: str = "203.0.113.10") -> Path:
    reply = b"\x16\x03\x03\x00\x5a\x02" + b"\0" * 90
    wrpcap(
        str(path),
        tcp_session((WS, 50100), (server, 443), t, [(True, client_hello(sni)), (False, reply)]),
    )
    return path


def _icy(path: Path, t: float) -> Path:
    req = b"GET /stream HTTP/1.1\r\nHost: radio.example.net\r\nIcy-MetaData: 1\r\n\r\n"
    rep = b"ICY 200 OK\r\nicy-name: Test FM\r\nicy-br: 128\r\n\r\n"
    data = [(True, req), (False, rep), *[(False, b"\xff\xfb" + b"U" * 1000)] * 5]
    wrpcap(str(path), tcp_session((WS, 50102), ("203.0.113.12", 8000), t, data))
    return path


def _row(db: duckdb.DuckDBPyConnection) -> tuple[object, ...]:
    rows = db.execute(
        "SELECT category, provision, action, signature_id, evidence FROM flows"
    ).fetchall()
    assert len(rows) == 1
    return rows[0]


def test_messaging_is_a_violation_at_ten_and_personal_use_at_a_quarter_past_twelve(
    tmp_path: Path, replay: Replay
) -> None:
    db, _ = replay([_tls(tmp_path / "a.pcap", WORK, "web.whatsapp.com")], name="work")
    assert _row(db)[:3] == ("messaging", "2503-15", "violation")
    db, _ = replay([_tls(tmp_path / "b.pcap", LUNCH, "web.whatsapp.com")], name="lunch")
    cat, prov, action, _, evidence = _row(db)
    assert (cat, prov, action) == ("messaging", "2503-15", "personal_use_window")
    assert "personal time" in str(evidence)


def test_internet_radio_stays_a_violation_at_lunch(tmp_path: Path, replay: Replay) -> None:
    db, _ = replay([_icy(tmp_path / "r.pcap", LUNCH)])
    assert _row(db)[:4] == ("radio", "2503-9b", "violation", 2001)


def test_the_departments_teams_is_approved(tmp_path: Path, replay: Replay) -> None:
    cfg = load_config(REPO / "systemd" / "sensor.yaml")
    pcap = _tls(tmp_path / "t.pcap", WORK, "teams.microsoft.com", "52.113.194.132")
    db, _ = replay([pcap], cfg)
    cat, prov, action, _, evidence = _row(db)
    assert (cat, prov, action) == ("messaging", "2503-15", "approved")
    assert "Department Microsoft 365 tenant" in str(evidence)
    db, _ = replay([_tls(tmp_path / "u.pcap", WORK, "teams.microsoft.com")], name="default")
    assert _row(db)[2] == "violation"  # without the site's approval


@pytest.mark.parametrize(
    ("sni", "category", "provision", "service"),
    [
        ("chatgpt.com", "ai", "2503-ai", "chatgpt"),
        ("api.openai.com", "ai", "2503-ai", "openai-api"),
        ("claude.ai", "ai", "2503-ai", "claude"),
        ("gemini.google.com", "ai", "2503-ai", "gemini"),
        ("copilot.microsoft.com", "ai", "2503-ai", "copilot"),
        ("dns.google", "circumvention", "2503-7m", "dns-over-https"),
        ("api.tunnelbear.com", "circumvention", "2503-7m", "vpn-service"),
        ("rs-ny.rustdesk.com", "remote_access", "2503-21", "remote-tool"),
        ("mail.google.com", "external_email", "2503-13", "webmail"),
        ("opml.radiotime.com", "radio", "2503-9b", "radio-service"),
    ],
)
def test_services_by_name(
    tmp_path: Path, replay: Replay, sni: str, category: str, provision: str, service: str
) -> None:
    db, _ = replay([_tls(tmp_path / "s.pcap", WORK, sni)])
    row = db.execute("SELECT category, provision, service, tls_sni FROM flows").fetchone()
    assert row == (category, provision, service, sni)


def test_alerts_reach_the_table_and_the_json_stream_once_per_host(tmp_path: Path) -> None:
    pcaps = [_tls(tmp_path / f"{i}.pcap", WORK + i * 60, "chatgpt.com") for i in range(3)]
    pcaps.append(_tls(tmp_path / "x.pcap", WORK + 3 * 3600, "chatgpt.com"))  # past dedup
    db = tmp_path / "s.duckdb"
    assert main(["replay", "-q", "--db", str(db), *map(str, pcaps)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM flows WHERE action = 'violation'").fetchone() == (4,)
    rows = con.execute(
        "SELECT a.provision, a.severity, a.suppressed, f.community_id = a.community_id "
        "FROM alerts a JOIN flows f USING (flow_id) ORDER BY a.ts"
    ).fetchall()
    assert rows == [("2503-ai", "medium", 0, True), ("2503-ai", "medium", 2, True)]
    lines = (tmp_path / "s.alerts.jsonl").read_text().splitlines()
    assert len(lines) == 2
    event = json.loads(lines[1])
    assert event["event_type"] == "alert" and event["src_ip"] == WS
    meta = event["alert"]["metadata"]
    assert meta["provision"] == ["2503-ai"] and meta["suppressed"] == ["2"]
    assert meta["evidence"] == ["tls.sni=chatgpt.com"]
    assert event["community_id"].startswith("1:")


def test_the_dedup_table_forgets_its_oldest_pair_and_counts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table is bounded (spoofed clients could fill it): past its size the oldest
    (signature, host) pair is forgotten and counted, so its next repeat alerts again."""
    from dataclasses import replace

    from sensor.capture.pcapfile import open_capture
    from sensor.classify import build_classifier
    from sensor.config import SensorConfig
    from sensor.pipeline import Pipeline
    from sensor.sinks import alerts as alerts_mod
    from sensor.sinks import default_sinks

    monkeypatch.setattr(alerts_mod, "_MAX_KEYS", 1)
    names = ["chatgpt.com", "claude.ai", "chatgpt.com"]  # within the hour: a repeat
    pcaps = [_tls(tmp_path / f"{i}.pcap", WORK + i * 60, n) for i, n in enumerate(names)]
    cfg = SensorConfig()
    cfg = replace(cfg, storage=replace(cfg.storage, catalog=tmp_path / "s.duckdb"))
    classifier = build_classifier(cfg.signatures, cfg.policy)
    sinks = default_sinks(cfg, dict(classifier.provisions))
    Pipeline(cfg, sinks, classifier).run([open_capture(p) for p in pcaps])
    assert (sinks.alerts.stats.forgotten, sinks.alerts.stats.suppressed) == (2, 0)
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM alerts").fetchone() == (3,)
