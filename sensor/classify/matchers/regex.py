"""`regex`: a Python regular expression searched in a field's text (use `(?i)` for
case-insensitive, `^` to anchor). Compiled once at load time."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sensor.classify.matchers.base import Evidence, Gate, Need, field_gate, field_need, field_reads
from sensor.classify.view import FlowView, Networks

__all__ = ["RegexMatcher"]


class RegexMatcher:
    kind: ClassVar[str] = "regex"

    __slots__ = ("field", "pattern")

    def __init__(self, field: str, pattern: re.Pattern[str]) -> None:
        self.field = field
        self.pattern = pattern

    @classmethod
    def parse(cls, field: str | None, value: Any) -> RegexMatcher:
        if not field:
            raise ValueError("regex: needs a `field`")
        if not isinstance(value, str) or not value:
            raise ValueError("regex: expected a pattern string")
        try:
            return cls(field, re.compile(value))
        except re.error as e:
            raise ValueError(f"regex: bad pattern {value!r}: {e}") from None

    def match(self, v: FlowView) -> Evidence | None:
        raw = v.get(self.field)
        if raw is None:
            return None
        text = str(raw)
        if self.pattern.search(text):
            return (f"{self.field}={text[:120]}", 1.0)
        return None

    def gate(self) -> Gate | None:
        return field_gate(self.field)

    def requires(self, nets: Networks) -> Need:
        return field_need(self.field)

    def reads(self) -> frozenset[str]:
        return field_reads(self.field)
