"""Parsers for the formats publishers use for address and domain lists.

Each takes the downloaded text and the feed's `update:` options and returns the raw entries;
`sensor signatures update` then validates them like any feed file (sensor/classify/feeds.py).
Kept apart from fetching so the formats can be tested without a network.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["PARSERS", "parse_csv", "parse_m365", "parse_plain"]


def parse_plain(text: str, options: Mapping[str, Any]) -> list[str]:
    """One entry per line; blank lines and `#` comments skipped (Telegram's cidr.txt,
    Zoom's Zoom.txt)."""
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


def parse_csv(text: str, options: Mapping[str, Any]) -> list[str]:
    """One column of a CSV file: `column` is a 0-based index or a header name (default 0);
    lines starting with `#` are comments."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].lstrip().startswith("#")]
    column = options.get("column", 0)
    if isinstance(column, str):
        if not rows or column not in rows[0]:
            raise ValueError(f"no column {column!r} in the header")
        index = rows[0].index(column)
        rows = rows[1:]
    else:
        index = int(column)
    return [r[index].strip() for r in rows if len(r) > index and r[index].strip()]


def parse_m365(text: str, options: Mapping[str, Any]) -> list[str]:
    """Microsoft 365 endpoints web service JSON: the `ips` (or, with `take: urls`, the
    `urls`) of the endpoint sets selected by `ids`, `service_area` and `category`."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("expected a JSON list of endpoint sets")
    ids = {int(i) for i in options.get("ids", [])}
    take = str(options.get("take", "ips"))
    out: list[str] = []
    for item in data:
        if not isinstance(item, dict) or not _selected(item, ids, options):
            continue
        values = item.get(take, [])
        out += [str(v).removeprefix("*.") for v in values] if isinstance(values, list) else []
    return out


def _selected(item: Mapping[str, Any], ids: set[int], options: Mapping[str, Any]) -> bool:
    if ids and item.get("id") not in ids:
        return False
    area, category = options.get("service_area"), options.get("category")
    if area is not None and item.get("serviceArea") != area:
        return False
    return category is None or item.get("category") == category


PARSERS: Mapping[str, Callable[[str, Mapping[str, Any]], list[str]]] = MappingProxyType(
    {"plain": parse_plain, "csv": parse_csv, "m365": parse_m365}
)
"""Parser kinds by the name a feed's `update.parser` gives."""
