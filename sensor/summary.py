"""The run summary: what a replay or a live worker did, printed at exit and exported as
metrics. Apart from the pipeline so its readers (CLI, metrics, health sink) need only the
counts, not the wiring that fills them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Summary"]


@dataclass(slots=True)
class Summary:
    """What a run did; printed at exit and exported as metrics."""

    packets: int = 0
    bytes: int = 0
    flow_packets: int = 0
    flows: int = 0
    records: int = 0
    seconds: float = 0.0
    decode_errors: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    capture_errors: Counter[str] = field(default_factory=Counter)
    capture_bytes_lost: int = 0
    """Bytes of damaged capture files that gave no frames (skipped or left unread)."""
    ended: Counter[str] = field(default_factory=Counter)
    sink_errors: Counter[str] = field(default_factory=Counter)
    extractor_errors: Counter[str] = field(default_factory=Counter)

    @property
    def pps(self) -> float:
        """Packets per second of wall time."""
        return self.packets / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """Human-readable summary; `flows=N` is what benchmark scripts look for."""
        errs = sum(self.decode_errors.values())
        out = [
            f"packets={self.packets} bytes={self.bytes} flows={self.flows} "
            f"records={self.records} decode_errors={errs}",
            f"seconds={self.seconds:.2f} packets_per_second={self.pps:,.0f}",
        ]
        if errs:
            out.append("decode errors: " + _fmt(self.decode_errors))
        if any(self.skipped.values()):
            out.append("not flows: " + _fmt(self.skipped))
        if self.capture_errors:
            lost = f"; {self.capture_bytes_lost} bytes lost" if self.capture_bytes_lost else ""
            out.append("capture file problems: " + _fmt(self.capture_errors) + lost)
        if self.ended:
            out.append("records by end reason: " + _fmt(self.ended))
        if self.sink_errors:
            out.append("sink errors: " + _fmt(self.sink_errors))
        if self.extractor_errors:
            out.append("extractor errors: " + _fmt(self.extractor_errors))
        return out


def _fmt(c: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v)
