"""Write the Grafana dashboards in dashboards/*.json from the panel lists below.

Run `python -m tests.tools.make_dashboards`; a test checks the committed files equal this
output, that every metric they name exists in the sensor's registry, and (against a real
Prometheus) that every expression parses and returns data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "dashboards"
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
V = 'site=~"$site"'
REC = "sensor_classified_records_total"
BYT = "sensor_classified_bytes_total"
TITLED = "{{provision}} {{title}}"
"""Legend of a series joined with `titled`: `2503-9b Streaming Internet radio`."""


def titled(expr: str) -> str:
    """`expr` (one series per provision) with each provision's title as a label, joined from
    the sensor's `sensor_provision_info` (value 1, so the figures are unchanged, signs too)."""
    info = f"max by (provision, title) (sensor_provision_info{{{V}}})"
    return f"({expr}) * on (provision) group_left (title) {info}"


# Week over week as coloured numbers, not bars: a fall (negative) reads green, a rise red,
# no change grey; a bar gauge without a minimum drew a fall as nothing.
CHANGE = {
    "min": None,
    "decimals": 0,
    "thresholds": {
        "mode": "absolute",
        "steps": [
            {"color": "green", "value": None},
            {"color": "text", "value": 0},
            {"color": "red", "value": 1},
        ],
    },
}


def _vars(sensor_var: bool = False) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "name": "DS_PROMETHEUS",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        },
        {
            "name": "site",
            "label": "District / site",
            "type": "query",
            "datasource": DS,
            "query": {"query": "label_values(sensor_build_info, site)", "refId": "site"},
            "definition": "label_values(sensor_build_info, site)",
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
            "hide": 0,
        },
    ]
    if sensor_var:
        items.append(
            {
                "name": "sensor",
                "label": "Sensor",
                "type": "query",
                "datasource": DS,
                "query": {
                    "query": f"label_values(sensor_build_info{{{V}}}, sensor)",
                    "refId": "sensor",
                },
                "definition": f"label_values(sensor_build_info{{{V}}}, sensor)",
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "current": {"text": "All", "value": "$__all"},
                "refresh": 2,
                "hide": 0,
            }
        )
    return {"list": items}


def panel(
    pid: int,
    title: str,
    kind: str,
    exprs: list[tuple[str, str]],
    x: int,
    y: int,
    w: int = 12,
    h: int = 8,
    unit: str = "short",
    description: str = "",
    instant: bool = False,
    defaults: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit, **(defaults or {})}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, **(options or {})},
        "targets": [
            {
                "refId": chr(65 + i),
                "datasource": DS,
                "expr": expr,
                "legendFormat": legend,
                "instant": instant,
                "range": not instant,
            }
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard(
    uid: str, title: str, desc: str, panels: list[dict[str, Any]], **kw: Any
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": desc,
        "tags": ["policy-2503", "sensor"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": kw.get("since", "now-7d"), "to": "now"},
        "templating": _vars(kw.get("sensor_var", False)),
        "annotations": {"list": []},
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    viol = f'{REC}{{{V}, action="violation"}}'
    week = f"sum by (provision) (increase({viol}[7d]))"
    last = f"sum by (provision) (increase({viol}[7d] offset 7d))"
    rogue = 'provision="2503-22"'
    return dashboard(
        "sensor-district-overview",
        "Policy 2503: district overview",
        "Which rules of Personnel Policy 2503 are broken on the network, how often, and "
        "where the traffic goes. One count is one connection.",
        [
            panel(1, "Rule breaks today, by policy item", "bargauge",
                  [(titled(f"sum by (provision) (increase({viol}[1d]))"), TITLED)],
                  0, 0, unit="short", instant=True,
                  description="Connections that broke a numbered item of Policy 2503 in the "
                  "last 24 hours."),
            panel(2, "Rule breaks per hour, by policy item", "timeseries",
                  [(titled(f"sum by (provision) (increase({viol}[1h]))"), TITLED)], 12, 0),
            panel(3, "Share of network traffic by kind", "piechart",
                  [(f'sum by (category) (increase({BYT}{{{V}}}[1d]))', "{{category}}")],
                  0, 8, unit="bytes", instant=True,
                  description="Bytes in the last 24 hours; 'none' is ordinary business traffic."),
            panel(4, "This week minus last week, by policy item", "stat",
                  [(titled(f"{week} - ({last} or {week} * 0)"), TITLED)],
                  12, 8, instant=True, defaults=CHANGE,
                  options={"colorMode": "background", "textMode": "value_and_name",
                           "orientation": "horizontal", "graphMode": "none",
                           "reduceOptions": {"calcs": ["lastNotNull"]}},
                  description="Rule breaks in the last 7 days minus the 7 days before: "
                  "negative (green) means fewer, positive (red) more."),
            panel(5, "Rule breaks this week, by district", "bargauge",
                  [(f"sum by (site) (increase({viol}[7d]))", "{{site}}")], 0, 16, instant=True),
            panel(6, "Personal use during breaks (allowed)", "stat",
                  [(f'sum(increase({REC}{{{V}, action="personal_use_window"}}[1d])) or vector(0)',
                    "connections")], 12, 16, w=6, instant=True,
                  description="Limited personal use before or after work or at lunch, "
                  "where the policy allows it."),
            panel(7, "Approved services in use", "stat",
                  [(f'sum(increase({REC}{{{V}, action="approved"}}[1d])) or vector(0)',
                    "connections")], 18, 16, w=6, instant=True),
            panel(8, "Rogue access points (2503-22), last 7 days", "stat",
                  [(f"sum by (site) (increase(sensor_alerts_total{{{V}, {rogue}}}[7d]))",
                    "alerts {{site}}"),
                   (f'sum by (site) (increase({REC}{{{V}, {rogue}, action="violation"}}[7d]))',
                    "wire connections {{site}}")],
                  0, 24, w=24, h=5, instant=True,
                  options={"textMode": "value_and_name", "graphMode": "none",
                           "reduceOptions": {"calcs": ["lastNotNull"]}},
                  description="Alerts about access points heard by a monitor-mode radio or "
                  "found on the wire (rogue DHCP, UPnP gateways, NAT-PMP, foreign controllers), "
                  "and the wire connections behind them. Which device: the access_points and "
                  "devices views in DuckDB."),
        ],
    )  # fmt: skip


def analyst() -> dict[str, Any]:
    viol = f'{REC}{{{V}, action="violation"}}'
    return dashboard(
        "sensor-security-analyst",
        "Policy 2503: security analyst",
        "Alert rates and classification outcomes. Per-host detail is in DuckDB "
        "(tables flows and alerts).",
        [
            panel(1, "Alerts per hour by provision and severity", "timeseries",
                  [(titled(f"sum by (provision, severity) "
                           f"(increase(sensor_alerts_total{{{V}}}[1h]))"),
                    "{{provision}} {{title}} ({{severity}})")], 0, 0),
            panel(2, "Violations per second by signature family", "timeseries",
                  [(f"sum by (category) (rate({viol}[$__rate_interval]))", "{{category}}")],
                  12, 0, unit="ops"),
            panel(3, "Approved vs violation", "timeseries",
                  [(f'sum by (action) (rate({REC}{{{V}, action!="none"}}[$__rate_interval]))',
                    "{{action}}")], 0, 8, unit="ops"),
            panel(4, "Top provisions (7 days)", "bargauge",
                  [(titled(f"topk(5, sum by (provision) (increase({viol}[7d])))"), TITLED)],
                  12, 8, instant=True),
            panel(5, "Repeat alerts suppressed (last hour)", "stat",
                  [(f"sum(increase(sensor_alerts_suppressed_total{{{V}}}[1h]))", "suppressed")],
                  0, 16, w=6, instant=True),
            panel(6, "Signatures loaded", "stat",
                  [(f"sum by (sensor) (sensor_signatures_loaded{{{V}}})", "{{sensor}}")],
                  6, 16, w=6, instant=True),
            panel(7, "Signature set version", "table",
                  [(f"max by (sensor, version) (sensor_signature_set_info{{{V}}})", "")],
                  12, 16, w=6, instant=True),
            panel(8, "Rule reloads (last day)", "stat",
                  [(f"sum by (result) (increase(sensor_reloads_total{{{V}}}[1d]))", "{{result}}")],
                  18, 16, w=6, instant=True),
        ],
    )  # fmt: skip


def health() -> dict[str, Any]:
    s = f'{V}, sensor=~"$sensor"'
    ri = "[$__rate_interval]"
    drops = f"sum by (sensor) (rate(sensor_capture_kernel_drops_total{{{s}}}{ri}))"
    pkts = f"sum by (sensor) (rate(sensor_packets_total{{{s}}}{ri}))"
    return dashboard(
        "sensor-health",
        "Policy 2503: sensor health",
        "Is every sensor up and keeping up with its span port?",
        [
            panel(1, "Sensors up", "stat",
                  [(f'sum(up{{job="sensor", {V}}}) or vector(0)', "up")], 0, 0, w=6,
                  instant=True),
            panel(2, "Restarts (last day)", "stat",
                  [(f"sum by (sensor) (changes(sensor_start_time_seconds{{{s}}}[1d]))",
                    "{{sensor}}")], 6, 0, w=6, instant=True),
            panel(3, "Packets per second", "timeseries", [(pkts, "{{sensor}}")], 12, 0,
                  unit="pps"),
            panel(4, "Traffic (bits per second)", "timeseries",
                  [(f"8 * sum by (sensor) (rate(sensor_bytes_total{{{s}}}{ri}))", "{{sensor}}")],
                  0, 8, unit="bps"),
            panel(5, "Kernel drops (% of packets)", "timeseries",
                  [(f"100 * {drops} / clamp_min({pkts} + {drops}, 1e-9)", "{{sensor}}")],
                  12, 8, unit="percent"),
            panel(6, "Decode errors per second by reason", "timeseries",
                  [(f"sum by (reason) (rate(sensor_decode_errors_total{{{s}}}{ri})) or vector(0)",
                    "{{reason}}")], 0, 16, unit="ops"),
            panel(7, "Flows in the table", "timeseries",
                  [(f"sum by (sensor) (sensor_flows_active{{{s}}})", "{{sensor}}")], 12, 16),
            panel(8, "Flow records per second by end reason", "timeseries",
                  [(f"sum by (end_reason) (rate(sensor_flow_records_total{{{s}}}{ri}))",
                    "{{end_reason}}")], 0, 24, unit="ops"),
            panel(9, "Flows evicted (table full)", "timeseries",
                  [(f"sum by (sensor) (rate(sensor_flows_evicted_total{{{s}}}{ri}))",
                    "{{sensor}}")], 12, 24, unit="ops"),
            panel(10, "Database backlog (rows waiting)", "timeseries",
                  [(f"sum by (sensor, table) (sensor_store_backlog_rows{{{s}}})",
                    "{{sensor}} {{table}}")], 0, 32),
            panel(11, "Database write latency (s per flush)", "timeseries",
                  [(f"{by_table('rate', 'sensor_store_flush_seconds_total', s)} / "
                    f"clamp_min({by_table('rate', 'sensor_store_flushes_total', s)}, 1e-9)",
                    "{{sensor}} {{table}}")], 12, 32, unit="s"),
            panel(12, "Database write errors and dropped rows", "timeseries",
                  [(by_table("increase", "sensor_store_write_errors_total", s), "errors {{table}}"),
                   (by_table("increase", "sensor_store_rows_dropped_total", s),
                    "dropped {{table}}")], 0, 40),
            panel(13, "Extractor errors per second", "timeseries",
                  [(f"sum by (extractor) (rate(sensor_extractor_errors_total{{{s}}}{ri}))"
                    " or vector(0)", "{{extractor}}")], 12, 40, unit="ops"),
            panel(14, "Versions", "table",
                  [(f"max by (sensor, version, python) (sensor_build_info{{{s}}})", "")],
                  0, 48, w=24, h=6, instant=True),
            panel(15, "Memory budget used by structure (% of its share)", "timeseries",
                  [(f"100 * sum by (sensor, structure) (sensor_memory_used_bytes{{{s}}}) / "
                    f"clamp_min(sum by (sensor, structure) (sensor_memory_budget_bytes{{{s}}}), 1)",
                    "{{sensor}} {{structure}}")], 0, 54, unit="percent"),
            panel(16, "Refused at the memory budget per second by structure", "timeseries",
                  [(f"sum by (structure) (rate(sensor_memory_refused_total{{{s}}}{ri}))",
                    "{{structure}}")], 12, 54, unit="ops"),
        ],
        since="now-6h",
        sensor_var=True,
    )  # fmt: skip


def by_table(fn: str, metric: str, sel: str) -> str:
    return f"sum by (sensor, table) ({fn}({metric}{{{sel}}}[5m]))"


DASHBOARDS = {
    "district-overview.json": overview,
    "security-analyst.json": analyst,
    "sensor-health.json": health,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main() -> None:
    for name, build in DASHBOARDS.items():
        (OUT / name).write_text(render(build))
        print(OUT / name)


if __name__ == "__main__":
    main()
