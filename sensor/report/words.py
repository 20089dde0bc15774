"""How figures and names read: units that never show a non-zero quantity as "0", changes
against the previous period, people's names for provisions, services and outcomes, and
strings from the wire made safe to print."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field

__all__ = ["OUTCOMES", "Names", "amount", "change", "clean", "count", "share", "size", "when"]

OUTCOMES = {
    "violation": "Rule breaks",
    "personal_use_window": "Personal use in allowed hours",
    "approved": "Approved services",
    "exempt": "Exempt hosts",
    "none": "No policy item involved",
}
"""What each `flows.action` means to a reader."""

_UNITS = ("kB", "MB", "GB", "TB", "PB")


def size(n: int | float) -> str:
    """Bytes in SI units with three significant figures; only zero reads "0 B"."""
    if n < 1000:
        return f"{int(n)} B"
    value, unit = float(n), "B"
    for unit in _UNITS:  # noqa: B007 (the unit the loop stops at is the one shown)
        value /= 1000
        if value < 999.5:
            break
    digits = 2 if value < 9.995 else 1 if value < 99.95 else 0
    return f"{value:.{digits}f} {unit}"


def count(n: int) -> str:
    return f"{n:,}"


def amount(n: int, unit: str) -> str:
    """`none`, `1 packet`, `3 packets`: a count of something lost reads as words, and zero
    as "none" rather than a "0" the eye skips."""
    if n == 0:
        return "none"
    return f"{count(n)} {unit}{'s' * (n != 1)}"


def share(x: float) -> str:
    """A fraction as a percentage with two significant figures; a non-zero share never
    reads "0%" (`<0.01%`)."""
    pct = 100 * x
    if pct == 0:
        return "0%"
    if pct < 0.01:
        return "<0.01%"
    digits = 2 if pct < 1 else 1 if pct < 10 else 0
    return f"{pct:.{digits}f}%"


def change(now: int, before: int) -> str:
    """`+3 (was 2)`, `−2 (was 5)`, `no change`: a fall reads as plainly as a rise."""
    if now == before:
        return "no change"
    sign = "+" if now > before else "\u2212"
    return f"{sign}{count(abs(now - before))} (was {count(before)})"


def clean(text: object) -> str:
    """Control and format characters (a crafted SSID or server name may hold escape
    sequences or bidi overrides) as visible `\\xNN`/`\\uNNNN` escapes, and backslashes
    doubled so that a name that spells `\\x1b` cannot pass for an escaped one."""
    out = []
    for ch in str(text):
        if ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def when(t: dt.datetime, tz: dt.tzinfo) -> str:
    """A moment as the site reads its clocks: `Tue 25 Nov 2025 10:00 CST`."""
    local = t.astimezone(tz)
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()}"


@dataclass(frozen=True, slots=True)
class Names:
    """People's names for the identifiers the store keeps."""

    provisions: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)

    def provision(self, code: str) -> str:
        return self.provisions.get(code, clean(code))

    def service(self, code: str) -> str:
        return self.services.get(code) or self.signatures.get(code) or clean(code)

    def signature(self, code: str) -> str:
        return self.signatures.get(code, clean(code))
