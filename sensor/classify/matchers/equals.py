"""`equals`: a field is one of the listed values (case-insensitive; list-valued fields such
as `tls.alpn` match when any of their comma-separated items does, and a stacked `app_proto`
such as `socks/tls` when any of its layers does)."""

from __future__ import annotations

from typing import Any, ClassVar

from sensor.classify.matchers.base import (
    Evidence,
    Gate,
    Need,
    as_list,
    field_gate,
    field_need,
    field_reads,
)
from sensor.classify.view import FlowView, Networks

__all__ = ["EqualsMatcher"]


class EqualsMatcher:
    kind: ClassVar[str] = "equals"

    __slots__ = ("field", "values")

    def __init__(self, field: str, values: frozenset[str]) -> None:
        self.field = field
        self.values = values

    @classmethod
    def parse(cls, field: str | None, value: Any) -> EqualsMatcher:
        if not field:
            raise ValueError("equals: needs a `field`")
        return cls(field, frozenset(str(x).lower() for x in as_list(value, "equals")))

    def match(self, v: FlowView) -> Evidence | None:
        raw = v.get(self.field)
        if raw is None:
            return None
        text = str(raw).lower()
        if text in self.values:
            return (f"{self.field}={raw}", 1.0)
        sep = "/" if self.field == "app_proto" else ","  # socks/tls is socks and tls
        if sep in text:
            for item in text.split(sep):
                if item.strip() in self.values:
                    return (f"{self.field}={raw}", 1.0)
        return None

    def gate(self) -> Gate | None:
        if self.field in ("app_proto", "transport"):
            return ((self.field, self.values),)
        return field_gate(self.field)

    def requires(self, nets: Networks) -> Need:
        return field_need(self.field)

    def reads(self) -> frozenset[str]:
        return field_reads(self.field)
