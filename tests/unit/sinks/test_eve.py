"""EVE lines validate against Suricata's published schema, and flow lines pivot to the store."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sensor.cli import demo_capture
from sensor.config import OutputsConfig, SensorConfig
from sensor.sinks.eve import SEVERITY, eve_timestamp
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
