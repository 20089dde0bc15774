"""EVE lines validate against Suricata's published schema, and flow lines pivot to the store."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.cli import demo_capture
from sensor.config import OutputsConfig, SensorConfig
from sensor.sinks.eve import SEVERITY, eve_timestamp, flow_lines
from sensor.sinks.schema import RECORD_COLUMNS, arrow_schema
from tests.conftest import SHARED, Replay, corpus_pcaps

SCHEMA = SHARED / "reference" / "suricata-eve-schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    if not SCHEMA.is_file():
        pytest.skip("../shared/reference/suricata-eve-schema.json is absent")
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _replay_eve(
    replay: Replay, tmp_path: Path, pcaps: list[Path]
) -> tuple[Any, list[Any], list[Any]]:
    flows_file = tmp_path / "eve-flows.json"
    cfg = replace(SensorConfig(), outputs=OutputsConfig(eve_flows=str(flows_file)))
    db, _ = replay(pcaps, cfg, name="eve")
    alerts = [json.loads(x) for x in (tmp_path / "eve.alerts.jsonl").read_text().splitlines()]
    flows = [json.loads(x) for x in flows_file.read_text().splitlines()]
    return db, alerts, flows


def _errors(validator: jsonschema.protocols.Validator, events: list[Any]) -> list[str]:
    return [
        f"{ev['event_type']} {ev.get('flow_id')}: {e.json_path}: {e.message}"
        for ev in events
        for e in validator.iter_errors(ev)
    ]


def _check_pivots(db: Any, flows: list[Any]) -> None:
    """Every flow line is one row of the store, with the same flow_id and community_id."""
    rows = db.execute(
        "SELECT flow_id, community_id, pkts_toserver, bytes_toclient FROM flows"
    ).fetchall()
    store = sorted((f, c or None, p, b) for f, c, p, b in rows)
    lines = sorted(
        (
            ev["flow_id"],
            ev.get("community_id"),
            ev["flow"]["pkts_toserver"],
            ev["flow"]["bytes_toclient"],
        )
        for ev in flows
    )
    assert lines == store


def test_demo_alert_and_flow_lines_validate(
    replay: Replay, tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    db, alerts, flows = _replay_eve(replay, tmp_path, [demo_capture()])
    assert len(alerts) == 5 and len(flows) > 5
    assert _errors(validator, alerts + flows) == []
    _check_pivots(db, flows)
    chatgpt = next(a for a in alerts if a["alert"]["metadata"]["provision"] == ["2503-ai"])
    assert chatgpt["alert"]["severity"] == 2 and chatgpt["host"] == "test"
    assert chatgpt["alert"]["metadata"]["evidence"] == ["tls.sni=chatgpt.com"]
    tls = [f for f in flows if f["flow_id"] == chatgpt["flow_id"]]
    assert tls[0]["tls"]["sni"] == "chatgpt.com" and tls[0]["app_proto"] == "tls"


@pytest.mark.corpus
def test_corpus_alert_and_flow_lines_validate(
    replay: Replay, tmp_path: Path, validator: jsonschema.protocols.Validator, corpus_dir: Path
) -> None:
    """All 136 corpus captures in one replay: every alert and flow line validates."""
    db, alerts, flows = _replay_eve(replay, tmp_path, corpus_pcaps())
    assert len(alerts) >= 50 and len(flows) >= 2000
    kinds = {k for f in flows for k in ("tls", "quic", "dns", "http") if k in f}
    assert kinds == {"tls", "quic", "dns", "http"}  # the app objects are exercised too
    assert _errors(validator, alerts + flows) == []
    _check_pivots(db, flows)
    (alert_rows,) = db.execute("SELECT count(*) FROM alerts").fetchone()
    assert len(alerts) == alert_rows


def test_a_word_severity_is_what_the_schema_rejects(
    validator: jsonschema.protocols.Validator,
) -> None:
    """The check has teeth: the old envelope shape fails, the new one passes."""
    ev = {"timestamp": eve_timestamp(1_700_000_000_123_456), "event_type": "alert"}
    assert ev["timestamp"] == "2023-11-14T22:13:20.123456+0000"
    good = {**ev, "alert": {"signature_id": 1, "severity": SEVERITY["high"]}}
    assert _errors(validator, [good]) == []
    bad = {**ev, "alert": {"signature_id": 1, "severity": "medium"}, "site": "x"}
    assert len(_errors(validator, [bad])) == 2


TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(sni=TEXT, uri=TEXT, ua=TEXT, query=TEXT, evidence=TEXT, alpn=TEXT)
def test_any_text_the_traffic_carries_gives_a_valid_line(
    validator: jsonschema.protocols.Validator,
    sni: str,
    uri: str,
    ua: str,
    query: str,
    evidence: str,
    alpn: str,
) -> None:
    """Names come from the wire: quotes, backslashes, control characters, characters of
    any script must still give one JSON line that validates and reads back unchanged."""
    cols = {c.name: pa.nulls(1, c.arrow_type) for c in RECORD_COLUMNS}
    cols.update(
        flow_id=pa.array([1], pa.int64()),
        ts_start=pa.array([1_700_000_000_000_000], pa.timestamp("us", tz="UTC")),
        ts_end=pa.array([1_700_000_001_000_000], pa.timestamp("us", tz="UTC")),
        proto=pa.array(["TCP"]), ip_version=pa.array([4], pa.int8()),
        src_ip=pa.array(["10.0.0.1"]), dest_ip=pa.array(["10.0.0.2"]),
        pkts_toserver=pa.array([1], pa.int64()), pkts_toclient=pa.array([0], pa.int64()),
        bytes_toserver=pa.array([60], pa.int64()), bytes_toclient=pa.array([0], pa.int64()),
        end_reason=pa.array(["idle"]), tls_sni=pa.array([sni]), http_uri=pa.array([uri]),
        http_user_agent=pa.array([ua]), dns_query=pa.array([query]),
        evidence=pa.array([evidence]), tls_alpn=pa.array([alpn]),
    )  # fmt: skip
    table = pa.table(
        {k: v.cast(arrow_schema(RECORD_COLUMNS).field(k).type) for k, v in cols.items()}
    )
    (line,) = flow_lines(table, "h")
    assert line.endswith("}\n") and "\n" not in line[:-1]
    ev = json.loads(line)
    assert _errors(validator, [ev]) == []
    assert ev.get("tls", {}).get("sni", "") == sni
    assert ev.get("http", {}).get("url", "") == uri
    assert ev.get("dns", {}).get("queries", [{}])[0].get("rrname", "") == query
    flowvars = {v["key"]: v["value"] for v in ev["metadata"]["flowvars"]}
    assert flowvars.get("evidence", "") == evidence
