"""RFC 5424 formatting and RFC 6587 framing of the syslog output, read back off a real socket."""

from __future__ import annotations

import json
import re
import socket

from sensor.endpoints import Address
from sensor.sinks.syslog import SyslogOutput, format_message

EVENT = {
    "timestamp": "2026-03-03T10:00:00.250000+0000",
    "event_type": "alert",
    "src_ip": "10.20.1.11",
    "alert": {
        "signature_id": 1001,
        "severity": 1,
        "metadata": {"provision": ['2503-"x"]'], "policy_severity": ["high"]},
    },
}
RFC5424 = re.compile(
    r"^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\d+) alert (\[policy@32473 (?:[^\]\\]|\\.)*\]) (.*)$"
)


def test_message_is_rfc5424_with_escaped_structured_data() -> None:
    raw = format_message(EVENT, 21, "district 7 sensor", "policy-sensor", 32473).decode()
    m = RFC5424.match(raw)
    assert m is not None, raw
    pri, ts, host, app, _, sd, msg = m.groups()
    assert int(pri) == 21 * 8 + 3  # local5.err for a high-severity provision
    assert ts == "2026-03-03T10:00:00.250000Z" and host == "district7sensor"
    assert app == "policy-sensor"
    assert 'provision="2503-\\"x\\"\\]"' in sd and 'signature_id="1001"' in sd
    assert json.loads(msg) == EVENT


def test_tcp_frames_by_octet_count_and_udp_one_per_datagram() -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        out = SyslogOutput(Address("tcp", "127.0.0.1", srv.getsockname()[1]), "s")
        out.send_alert(EVENT)
        out.send_alert(EVENT)
        conn, _ = srv.accept()
        out.close()
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.close()
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        frames.append(rest[: int(length)])
        data = rest[int(length) :]
    assert len(frames) == 2 and all(f.startswith(b"<") for f in frames)
    assert out.stats.sent == 2 and out.stats.failed == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        out = SyslogOutput(Address("udp", "127.0.0.1", rx.getsockname()[1]), "s")
        out.send_alert(EVENT)
        out.close()
        assert RFC5424.match(rx.recv(65536).decode())
