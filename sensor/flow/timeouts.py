"""How long a silent flow lives: the timeout classes and their lengths.

Why a module of its own: the config reads FlowTimeouts, and both tiers of the flow table (the
FlowState objects in objects.py, the pending rows in halfopen.py) index their deadlines by the
same classes. Kept here, the tiers share them without importing each other or the table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLOSED", "NEVER", "NS", "OTHER", "TCP", "UDP", "FlowTimeouts"]

TCP, UDP, OTHER, CLOSED = 0, 1, 2, 3
"""Timeout classes, each with its own LRU queue: by protocol, and CLOSED after FIN or RST."""
NS = 1_000_000_000
NEVER = (1 << 63) - 1
"""A deadline no packet time reaches (int64 max)."""
_MAX_TIMEOUT_S = 366 * 86_400.0


@dataclass(frozen=True, slots=True)
class FlowTimeouts:
    """Seconds of silence after which a flow ends, and the interim-record interval."""

    tcp: float = 300.0
    udp: float = 120.0
    other: float = 60.0
    tcp_closed: float = 5.0
    """Linger after both FINs or a RST, so the last ACKs still count to the flow."""
    active: float = 300.0
    """Long flows emit an interim record this often (end_reason `active`)."""

    def __post_init__(self) -> None:
        for name in ("tcp", "udp", "other", "tcp_closed", "active"):
            if not 0 < getattr(self, name) <= _MAX_TIMEOUT_S:
                raise ValueError(f"timeout {name} must be positive and at most a year")

    def by_class_ns(self) -> tuple[int, int, int, int]:
        """The timeout of each class (TCP, UDP, OTHER, CLOSED) in packet-time nanoseconds."""
        return (
            int(self.tcp * NS),
            int(self.udp * NS),
            int(self.other * NS),
            int(self.tcp_closed * NS),
        )

    def active_ns(self) -> int:
        """The interim-record interval in packet-time nanoseconds."""
        return int(self.active * NS)
