"""Build the optional outputs (EVE flow lines, syslog, IPFIX) from the config's `outputs`.

Addresses are checked here, at startup, so a typo stops the sensor with one line naming
the key (`outputs.syslog: address: expected host:port, got 'siem'`) instead of alerts
silently going nowhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from sensor.config import OutputsConfig
from sensor.endpoints import resolve
from sensor.errors import ConfigError
from sensor.sinks.alerts import AlertOutput
from sensor.sinks.eveflows import EveFlowLog
from sensor.sinks.flowstore import FlowExport
from sensor.sinks.ipfix import IpfixExporter
from sensor.sinks.syslog import FACILITIES, SyslogOutput

__all__ = ["Outputs", "build_outputs", "output_stats"]


class Outputs(NamedTuple):
    """What goes to the alert sink and what to the flow store."""

    alerts: list[AlertOutput]
    flows: list[FlowExport]


def build_outputs(cfg: OutputsConfig, host: str) -> Outputs:
    """The outputs the config turns on (none by default)."""
    alerts: list[AlertOutput] = []
    flows: list[FlowExport] = []
    s = cfg.syslog
    if s.address:
        if s.facility not in FACILITIES:
            known = ", ".join(FACILITIES)
            raise ConfigError(f"outputs.syslog.facility: unknown {s.facility!r} (known: {known})")
        addr = resolve(s.address, s.transport, "outputs.syslog")
        alerts.append(SyslogOutput(addr, host, s.facility, s.app_name, max_queue=s.max_queue))
    if cfg.eve_flows:
        flows.append(EveFlowLog(Path(cfg.eve_flows), host))
    i = cfg.ipfix
    if i.address:
        addr = resolve(i.address, i.transport, "outputs.ipfix")
        flows.append(IpfixExporter(addr, i))
    return Outputs(alerts, flows)


def output_stats(outputs: list[Any]) -> list[tuple[str, Any, int]]:
    """(name, counters with sent/failed/dropped, queue depth) of each output, for metrics."""
    out = []
    for o in outputs:
        sender = getattr(o, "sender", None)
        depth = sender.queue_depth if sender is not None else getattr(o, "queue_depth", 0)
        out.append((o.name, o.stats, depth))
    return out
