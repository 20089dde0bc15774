"""SyslogOutput: each alert as an RFC 5424 message to the SIEM's syslog receiver.

The message (MSG) is the EVE alert event itself, so the SIEM's EVE parser reads it as it
reads Suricata's; a structured-data element `[policy@PEN provision=... ...]` lets syslog
filters route on the provision without parsing JSON. UDP sends one message per datagram
(RFC 5426), TCP frames it with RFC 6587 octet counting (`LEN SP MSG`), and a unix datagram
socket takes it as /dev/log does. Delivery is the Sender's: bounded queue, own thread,
back-off, counted losses.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sensor.endpoints import Address
from sensor.sinks.sender import Sender

__all__ = ["FACILITIES", "SyslogOutput", "format_message"]

FACILITIES = {
    **{f"local{i}": 16 + i for i in range(8)},
    "user": 1,
    "daemon": 3,
    "auth": 4,
    "security": 13,
}
# Policy severity -> syslog severity (RFC 5424 table 2): crit, err, warning, notice.
_SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5}
_SD_ESCAPE = str.maketrans({'"': '\\"', "\\": "\\\\", "]": "\\]"})


def _sd_value(v: object) -> str:
    return str(v).translate(_SD_ESCAPE)


def _header_field(v: str, limit: int) -> str:
    """RFC 5424 header fields are printable ASCII without spaces, or NILVALUE."""
    clean = "".join(c for c in v if 33 <= ord(c) <= 126)[:limit]
    return clean or "-"


def format_message(
    event: dict[str, Any], facility: int, hostname: str, app: str, pen: int
) -> bytes:
    """The RFC 5424 message for one EVE alert event."""
    alert = event["alert"]
    meta = alert.get("metadata", {})
    policy_sev = (meta.get("policy_severity") or ["medium"])[0]
    pri = facility * 8 + _SYSLOG_SEVERITY.get(policy_sev, 4)
    ts = event["timestamp"]  # EVE's +0000 -> RFC 3339's Z (RFC 5424 section 6.2.3)
    ts = ts[:-5] + "Z" if ts.endswith("+0000") else ts
    sd_params = {
        "provision": (meta.get("provision") or ["-"])[0],
        "signature_id": alert["signature_id"],
        "severity": policy_sev,
        "src_ip": event.get("src_ip", "-"),
    }
    sd = " ".join(f'{k}="{_sd_value(v)}"' for k, v in sd_params.items())
    header = (
        f"<{pri}>1 {ts} {_header_field(hostname, 255)} {_header_field(app, 48)} "
        f"{os.getpid()} alert [policy@{pen} {sd}] "
    )
    return header.encode() + json.dumps(event, separators=(",", ":")).encode()


def _octet_count(msg: bytes) -> bytes:
    return b"%d %s" % (len(msg), msg)


class SyslogOutput:
    """An alert output (AlertSink.outputs) that sends RFC 5424 messages."""

    name = "syslog"

    def __init__(
        self,
        address: Address,
        hostname: str,
        facility: str = "local5",
        app: str = "policy-sensor",
        pen: int = 32473,
        max_queue: int = 10_000,
    ) -> None:
        framing = _octet_count if address.transport == "tcp" else bytes
        self.sender = Sender("syslog", address, max_queue, framing=framing)
        self._args = (FACILITIES[facility], hostname, app, pen)

    @property
    def stats(self) -> Any:
        """The sender's counters (sent, failed, dropped)."""
        return self.sender.stats

    @property
    def queue_depth(self) -> int:
        """Messages waiting for the sender thread."""
        return self.sender.queue_depth

    def send_alert(self, event: dict[str, Any]) -> None:
        """Format and queue; a full queue drops and counts."""
        self.sender.offer(format_message(event, *self._args))

    def close(self) -> None:
        """Deliver what is queued (bounded wait), then stop the thread."""
        self.sender.close()
