"""A real rsyslog (Debian), started by the test with its own config on loopback and a temp
socket, receives the sensor's alerts over UDP, TCP (RFC 6587 octet counting) and a unix
datagram socket, writes them to a file, and every alert the sensor raised is there exactly
once. Stopped and restarted under a running pipeline, the alerts it missed are counted as
failed, never lost silently, and the pipeline goes on."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.cli import demo_capture
from sensor.config import OutputsConfig, SensorConfig, SyslogConfig
from sensor.pipeline import Pipeline
from sensor.sinks import Sinks, default_sinks
from sensor.sinks.syslog import SyslogOutput
from tests.integration.tools import free_port, need, wait_for

DAY_NS = 86_400 * 10**9
LINE = re.compile(r"^(\S+) <(\d+)> (\[policy@32473 [^\]]*\]) (\{.*\})$")


@dataclass
class Rsyslog:
    """One rsyslogd with inputs on the three transports, all written to `out`."""

    dir: Path
    udp: int
    tcp: int
    sock: Path
    out: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = self.dir / "rsyslog.conf"
        conf.write_text(
            f"""
global(workDirectory="{self.dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="t" type="string" string="%inputname% <%pri%> %structured-data% %msg%\\n")
ruleset(name="alerts") {{ action(type="omfile" file="{self.out}" template="t") }}
input(type="imudp" address="127.0.0.1" port="{self.udp}" ruleset="alerts")
input(type="imtcp" address="127.0.0.1" port="{self.tcp}" ruleset="alerts")
input(type="imuxsock" socket="{self.sock}" useSpecialParser="off" parseHostname="on"
      ruleset="alerts")
"""
        )
        self.proc = subprocess.Popen(
            [need("rsyslogd", "rsyslog"), "-n", "-f", str(conf), "-i", str(self.dir / "pid")],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "rsyslogd.log").open("a"),
        )
        wait_for(lambda: self.sock.exists() and self._listening(), "rsyslogd to listen")

    def _listening(self) -> bool:
        ss = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        return f"127.0.0.1:{self.tcp} " in ss

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
            self.proc = None
        wait_for(lambda: not self._listening(), "rsyslogd to stop")

    def lines(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        if not self.out.exists():
            return []
        out = []
        for text in self.out.read_text().splitlines():
            m = LINE.match(text)
            assert m, f"unexpected line from rsyslog: {text[:200]}"
            out.append((m.group(1), int(m.group(2)), m.group(3), json.loads(m.group(4))))
        return out


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    need("rsyslogd", "rsyslog")
    r = Rsyslog(tmp_path, free_port(), free_port(), tmp_path / "log.sock", tmp_path / "got.log")
    r.start()
    yield r
    if r.proc is not None:
        r.stop()


def _sensor(
    tmp_path: Path, rs: Rsyslog, transport: str, max_queue: int = 10_000
) -> tuple[Pipeline, Sinks]:
    address = {"udp": f"127.0.0.1:{rs.udp}", "tcp": f"127.0.0.1:{rs.tcp}"}.get(
        transport, str(rs.sock)
    )
    cfg = SensorConfig()
    cfg = replace(
        cfg,
        sensor=replace(cfg.sensor, name="sensor-t"),
        storage=replace(cfg.storage, catalog=tmp_path / "s.duckdb"),
        policy=replace(cfg.policy, alerts=replace(cfg.policy.alerts, dedup_seconds=0)),
        outputs=OutputsConfig(
            syslog=SyslogConfig(address=address, transport=transport, max_queue=max_queue)
        ),
    )
    clf = build_classifier(cfg.signatures, cfg.policy)
    sinks = default_sinks(cfg, dict(clf.provisions))
    return Pipeline(cfg, list(sinks), clf), sinks


def _replay_day(pipe: Pipeline, day: int) -> None:
    """The demo capture moved `day` days on: new flows, new alerts, same pipeline."""
    src = open_capture(demo_capture())
    for batch in src.batches():
        pipe.process(replace(batch, ts=batch.ts + day * DAY_NS))
    src.close()
    pipe.table.flush("eof")


def _raised(tmp_path: Path) -> Counter[tuple[int, int]]:
    events = [json.loads(x) for x in (tmp_path / "s.alerts.jsonl").read_text().splitlines()]
    return Counter((e["flow_id"], e["alert"]["signature_id"]) for e in events)


@pytest.mark.parametrize("transport", ["udp", "tcp", "unix"])
def test_rsyslog_receives_every_alert_exactly_once(
    rsyslog: Rsyslog, tmp_path: Path, transport: str
) -> None:
    pipe, sinks = _sensor(tmp_path, rsyslog, transport)
    _replay_day(pipe, 0)
    _replay_day(pipe, 1)
    pipe.finish("eof")
    (out,) = sinks.alerts.outputs
    assert isinstance(out, SyslogOutput)
    raised = _raised(tmp_path)
    assert sum(raised.values()) == out.stats.sent >= 10 and out.stats.failed == 0
    wait_for(lambda: len(rsyslog.lines()) >= out.stats.sent, "rsyslog to write every alert")
    lines = rsyslog.lines()
    got = Counter((ev["flow_id"], ev["alert"]["signature_id"]) for *_, ev in lines)
    assert got == raised and max(got.values()) == 1
    inputs = {"udp": "imudp", "tcp": "imtcp", "unix": "imuxsock"}
    name, pri, sd, ev = lines[0]
    assert name == inputs[transport]
    assert pri // 8 == 21  # local5
    assert f'provision="{ev["alert"]["metadata"]["provision"][0]}"' in sd


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_rsyslog_down_loses_counted_alerts_and_the_sensor_goes_on(
    rsyslog: Rsyslog, tmp_path: Path, transport: str
) -> None:
    """While rsyslog is down the sender holds a small queue (6 here: a day of the demo has
    5 alerts) and drops the rest, counted; after the restart the held alerts arrive, and
    raised = received + dropped."""
    pipe, sinks = _sensor(tmp_path, rsyslog, transport, max_queue=6)
    (out,) = sinks.alerts.outputs
    assert isinstance(out, SyslogOutput)
    _replay_day(pipe, 0)
    wait_for(lambda: out.stats.sent == sum(_raised(tmp_path).values()), "day 0 sent")
    wait_for(lambda: len(rsyslog.lines()) == out.stats.sent, "day 0 written")
    rsyslog.stop()
    sent = out.stats.sent
    for day in (1, 2, 3):  # rsyslog is down: 6 alerts held (1 in hand), the rest dropped
        _replay_day(pipe, day)
    down = sum(_raised(tmp_path).values()) - sent
    assert down == 15 and out.stats.dropped == down - 6 and out.queue_depth == 6
    rsyslog.start()
    wait_for(lambda: out.stats.sent == sent + 6, "the held alerts after reconnection", 40)
    _replay_day(pipe, 4)
    pipe.finish("eof")  # closes the sink: drains the queue first
    raised = _raised(tmp_path)
    assert out.stats.sent + out.stats.failed + out.stats.dropped == sum(raised.values())
    assert out.stats.failed == 0
    wait_for(lambda: len(rsyslog.lines()) == out.stats.sent, "every sent alert written")
    got = Counter((ev["flow_id"], ev["alert"]["signature_id"]) for *_, ev in rsyslog.lines())
    assert max(got.values()) == 1 and set(got) <= set(raised)
    assert sum(got.values()) == sum(raised.values()) - out.stats.dropped
    assert pipe.summary.sink_errors == Counter()
