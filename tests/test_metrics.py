"""Metrics: names and labels follow Prometheus conventions, promtool accepts the exposition,
every metric the dashboards and rules use exists, the rules pass their promtool tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.config import SensorConfig
from sensor.metrics import collector_for, parse_listen
from sensor.pipeline import Pipeline
from sensor.sinks import default_sinks
from tests.conftest import REPO
from tests.tools.make_dashboards import DASHBOARDS, render

DASH = REPO / "dashboards"
RULES = DASH / "prometheus" / "sensor-alerts.yml"
BANNED_LABELS = {"ip", "src_ip", "dest_ip", "host", "sni", "server_name", "name", "client"}


def _registry(tmp_path: Path) -> CollectorRegistry:
    from dataclasses import replace

    cfg = SensorConfig()
    cfg = replace(cfg, storage=replace(cfg.storage, catalog=tmp_path / "m.duckdb"))
    clf = build_classifier(cfg.signatures, cfg.policy)
    sinks = default_sinks(cfg, dict(clf.provisions))
    pipe = Pipeline(cfg, list(sinks), clf)
    from sensor.cli import demo_capture

    pipe.run([open_capture(demo_capture())])
    reg = CollectorRegistry()
    reg.register(collector_for(pipe, sinks, "t1", "district-4"))
    return reg


def _names(reg: CollectorRegistry) -> set[str]:
    out = set()
    suffix = {"counter": "_total", "info": "_info"}
    for fam in reg.collect():  # every family, also those without samples yet
        out.add(fam.name + suffix.get(fam.type, ""))
        out.update(s.name for s in fam.samples)
    return out


def test_exposition_has_the_core_metrics_with_bounded_labels(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    text = generate_latest(reg).decode()
    for name in (
        "sensor_packets_total",
        "sensor_capture_kernel_drops_total",
        "sensor_flows_active",
        "sensor_classified_records_total",
        "sensor_classified_bytes_total",
        "sensor_alerts_total",
        "sensor_store_backlog_rows",
        "sensor_hello_prints_evicted_total",
        "sensor_signature_set_info",
        "sensor_build_info",
    ):
        assert f"\n{name}{{" in text, name
    alert = 'sensor_alerts_total{provision="2503-ai",sensor="t1",severity="medium",'
    assert alert + 'site="district-4"} 1.0' in text
    assert 'sensor_classified_records_total{action="violation",category="radio"' in text
    labels = set(re.findall(r"[{,]([a-z_]+)=", text))
    assert not labels & BANNED_LABELS, labels & BANNED_LABELS
    assert all(re.fullmatch(r"sensor_[a-z0-9_]+", n) for n in _names(reg))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (prometheus)")
def test_the_readme_names_every_metric_the_sensor_exposes_and_no_other(tmp_path: Path) -> None:
    """Operators write alert rules and panels from the README's list: a new metric left out of
    it, or a renamed one still listed, fails here (the families as `collect` yields them,
    also those without samples in this replay)."""
    suffix = {"counter": "_total", "info": "_info"}
    exposed = {f.name + suffix.get(f.type, "") for f in _registry(tmp_path).collect()}
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Metrics and dashboards") : text.index("## Command line")]
    listed = set(re.findall(r"`(sensor_[a-z0-9_]+)", section))
    assert exposed - listed == set(), "exposed but not in the README"
    assert listed - exposed == set(), "in the README but not exposed"


def test_promtool_check_metrics_reports_nothing(tmp_path: Path) -> None:
    text = generate_latest(_registry(tmp_path))
    res = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    assert res.returncode == 0 and not res.stdout and not res.stderr, res.stdout + res.stderr


def _exprs() -> list[tuple[str, str, str]]:
    out = []
    for f in sorted(DASH.glob("*.json")):
        for p in json.loads(f.read_text())["panels"]:
            out += [(f.name, p["title"], t["expr"]) for t in p["targets"]]
    return out


def _rule_exprs() -> list[str]:
    import yaml

    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def test_every_metric_in_dashboards_and_rules_exists(tmp_path: Path) -> None:
    known = _names(_registry(tmp_path)) | {"up"}
    used = set()
    for _, _, expr in _exprs():
        used.update(re.findall(r"\b(sensor_[a-z0-9_]+|up)\b", expr))
    for expr in _rule_exprs():
        used.update(re.findall(r"\b(sensor_[a-z0-9_]+|up)\b", expr))
    assert used and not used - known, used - known


def test_dashboards_are_the_generators_output_and_well_formed() -> None:
    for name, build in DASHBOARDS.items():
        assert (DASH / name).read_text() == render(build), f"regenerate {name}"
        d = json.loads((DASH / name).read_text())
        names = [v["name"] for v in d["templating"]["list"]]
        assert names[:2] == ["DS_PROMETHEUS", "site"]
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids))
        for p in d["panels"]:
            assert p["datasource"]["uid"] == "${DS_PROMETHEUS}" and p["title"]
    assert {json.loads((DASH / n).read_text())["uid"] for n in DASHBOARDS} == {
        "sensor-district-overview",
        "sensor-security-analyst",
        "sensor-health",
    }


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (prometheus)")
def test_promtool_checks_and_tests_the_alert_rules() -> None:
    res = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(
        ["promtool", "test", "rules", "sensor-alerts.test.yml"],
        cwd=RULES.parent,
        capture_output=True,
    )
    assert res.returncode == 0 and b"SUCCESS" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("text", "want"),
    [("127.0.0.1:9108", ("127.0.0.1", 9108)), ("[::1]:9", ("::1", 9)), (":80", ("0.0.0.0", 80))],
)
def test_listen_addresses(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


def test_a_bad_listen_address_is_a_config_error() -> None:
    from sensor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"metrics\.listen"):
        parse_listen("localhost")


def test_output_metrics_count_sent_and_failed_messages(tmp_path: Path) -> None:
    """Syslog to a real UDP socket, IPFIX to a unix path nobody listens on: sent vs failed."""
    import socket
    from dataclasses import replace

    from sensor.cli import demo_capture
    from sensor.config import IpfixConfig, OutputsConfig, SyslogConfig

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]  # free again once closed: nobody listens there
        cfg = SensorConfig()
        cfg = replace(
            cfg,
            storage=replace(cfg.storage, catalog=tmp_path / "m.duckdb"),
            outputs=OutputsConfig(
                syslog=SyslogConfig(address=f"127.0.0.1:{port}"),
                ipfix=IpfixConfig(address=f"127.0.0.1:{closed}", transport="tcp"),
            ),
        )
        clf = build_classifier(cfg.signatures, cfg.policy)
        sinks = default_sinks(cfg, dict(clf.provisions))
        pipe = Pipeline(cfg, list(sinks), clf)
        pipe.run([open_capture(demo_capture())])  # closing waits 5 s for the collector
        reg = CollectorRegistry()
        reg.register(collector_for(pipe, sinks, "t1", "d"))
        text = generate_latest(reg).decode()
    base = 'sensor="t1",site="d"'
    assert f'sensor_output_messages_total{{output="syslog",result="sent",{base}}} 5.0' in text
    assert f'sensor_output_messages_total{{output="ipfix",result="sent",{base}}} 0.0' in text
    failed = re.search(
        rf'output_messages_total{{output="ipfix",result="failed",{base}}} (\S+)', text
    )
    assert failed and float(failed.group(1)) >= 1
    assert f'sensor_output_queue_depth{{output="syslog",{base}}} 0.0' in text


def _panel(dashboard: str, title_start: str) -> dict[str, Any]:
    panels = json.loads((DASH / dashboard).read_text())["panels"]
    return next(p for p in panels if p["title"].startswith(title_start))


def test_every_panel_follows_the_site_variable_and_legends_name_provisions() -> None:
    for name, title, expr in _exprs():
        assert 'site=~"$site"' in expr, (name, title)
    for f in sorted(DASH.glob("*.json")):
        for p in json.loads(f.read_text())["panels"]:
            for t in p["targets"]:
                if "{{provision}}" in t["legendFormat"]:  # the code and its title, never bare
                    assert "{{title}}" in t["legendFormat"] and "group_left (title)" in t["expr"]
    rogue = _panel("district-overview.json", "Rogue access points")
    assert all('provision="2503-22"' in t["expr"] for t in rogue["targets"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (prometheus)")
def test_week_over_week_shows_a_fall_as_a_negative_green_figure(tmp_path: Path) -> None:
    """promtool evaluates the panel's own expression over two weeks of series: 70 breaks in
    the first week and none in the second read -70, titled, on a green threshold."""
    panel = _panel("district-overview.json", "This week minus last week")
    expr = panel["targets"][0]["expr"].replace('"$site"', '".*"')
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert panel["type"] == "stat" and steps[0] == {"color": "green", "value": None}
    assert steps[1]["value"] == 0 and steps[2] == {"color": "red", "value": 1}
    base = 'sensor="s1", site="d4", category="p2p", provision="2503-9f"'
    test = {
        "rule_files": [],
        "evaluation_interval": "1d",
        "tests": [
            {
                "interval": "1d",
                "input_series": [
                    {
                        "series": f'sensor_classified_records_total{{{base}, action="violation"}}',
                        "values": "0+10x7 70x7",
                    },
                    {
                        "series": 'sensor_provision_info{sensor="s1", site="d4", '
                        'provision="2503-9f", title="Peer-to-peer file sharing"}',
                        "values": "1x14",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "14d",
                        "exp_samples": [
                            {
                                "labels": '{provision="2503-9f", '
                                'title="Peer-to-peer file sharing"}',
                                "value": -70,
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "wow.test.yml"
    path.write_text(json.dumps(test))  # JSON is YAML
    res = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True)
    assert res.returncode == 0 and b"SUCCESS" in res.stdout, res.stdout + res.stderr
