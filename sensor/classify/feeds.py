"""Feeds: vendor-published address and domain lists kept as data, with where they came from.

A feed is one file `<name>.yaml` in `signatures/feeds/` (the shipped snapshot) or in the
writable feeds directory that `sensor signatures update` fills (same name: it wins). Its
header says where the list is published (`source`), when this copy was taken (`fetched`),
under which terms (`licence`) and what the entries are (`format`: cidr or domain); an
optional `update:` tells the updater how to fetch and parse a fresh copy. Signatures refer to
a feed by name (`{cidr: {feed: telegram-ranges}}`), so a refreshed list needs no signature
edit, and the feed's version (a hash of its entries and date) travels into the evidence.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sensor.classify.matchers.domain import normalise
from sensor.datafile import SAFE, not_utf8
from sensor.feedparse import PARSERS

__all__ = ["FEED_FORMATS", "Feed", "FeedSet", "FeedUpdate", "feed_version", "load_feeds"]

FEED_FORMATS = ("cidr", "domain")
"""What a feed's entries are: networks (for `cidr:` clauses) or domains (for `domain:`)."""

_HEADER = ("source", "fetched", "licence", "format")
_OPTIONAL = ("note", "update", "entries")


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """How `sensor signatures update` refreshes a feed: a URL and a parser kind with options
    (parsers in sensor/feedparse.py)."""

    url: str
    parser: str
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Feed:
    """One loaded list."""

    name: str
    format: str
    source: str
    fetched: str
    """ISO date this copy was taken from `source` (for a shipped snapshot: when it was
    copied into the repository; `note` says so)."""
    licence: str
    entries: tuple[str, ...]
    version: str
    """Short hash of the entries and `fetched`: what the evidence and metrics quote."""
    note: str = ""
    update: FeedUpdate | None = None
    path: Path = field(default=Path(), compare=False)

    @property
    def label(self) -> str:
        """`name@version`, as it appears in a record's evidence."""
        return f"{self.name}@{self.version}"


@dataclass(slots=True)
class FeedSet:
    """Feeds by name, and the problems found (file:line) while loading them."""

    feeds: dict[str, Feed] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def feed_version(entries: Iterable[str], fetched: str) -> str:
    """Eight hex digits that change whenever the entries or the fetch date do."""
    digest = hashlib.sha256(fetched.encode())
    for e in sorted(entries):
        digest.update(b"\n" + e.encode())
    return digest.hexdigest()[:8]


def load_feeds(dirs: Iterable[Path]) -> FeedSet:
    """Every `*.yaml` feed in `dirs`, a later directory replacing an earlier one's feed of the
    same name (the updated copy over the shipped snapshot). Missing directories hold none."""
    result = FeedSet()
    for d in dirs:
        for path in sorted(d.glob("*.yaml")) if d.is_dir() else []:
            feed = read_feed(path, result.errors)
            if feed is not None:
                result.feeds[feed.name] = feed
    return result


def read_feed(path: Path, errors: list[str]) -> Feed | None:
    """Parse and validate one feed file; problems go to `errors` as file:line."""
    parsed = _read_yaml(path, errors)
    if parsed is None:
        return None
    doc, node = parsed
    problem = _header_problem(doc)
    if problem:
        errors.append(f"{path}:{_line_of(node, problem[0])}: feed {path.stem}: {problem[1]}")
        return None
    entries, bad = _entries(doc, node)
    if bad:
        errors.append(f"{path}:{bad[0]}: feed {path.stem}: {bad[1]}")
        return None
    try:
        update = _update(doc.get("update"))
    except ValueError as e:
        errors.append(f"{path}:{_line_of(node, 'update')}: feed {path.stem}: update: {e}")
        return None
    fetched = str(doc["fetched"])
    return Feed(
        name=path.stem,
        format=str(doc["format"]),
        source=str(doc["source"]),
        fetched=fetched,
        licence=str(doc["licence"]),
        entries=entries,
        version=feed_version(entries, fetched),
        note=str(doc.get("note") or ""),
        update=update,
        path=path,
    )


def _read_yaml(path: Path, errors: list[str]) -> tuple[dict[str, Any], yaml.MappingNode] | None:
    """The feed as values, and as nodes (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
        node = SAFE.compose(text)
        doc = SAFE.load(text)
    except UnicodeDecodeError as e:
        errors.append(not_utf8(path, e))
        return None
    except OSError as e:
        errors.append(f"{path}: cannot read feed: {e.strerror}")
        return None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        errors.append(f"{path}:{mark.line + 1 if mark else 1}: invalid YAML in feed")
        return None
    if not isinstance(doc, dict) or not isinstance(node, yaml.MappingNode):
        errors.append(f"{path}:1: a feed is a mapping with {', '.join(_HEADER)} and entries")
        return None
    return doc, node


def _header_problem(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, message) for the first header problem, or None."""
    for key in doc:
        if key not in _HEADER + _OPTIONAL:
            return str(key), f"unknown key {key!r} (known: {', '.join(_HEADER + _OPTIONAL)})"
    for key in _HEADER:
        if not doc.get(key):
            return key, f"{key}: required"
    if doc["format"] not in FEED_FORMATS:
        return "format", f"format: expected one of {', '.join(FEED_FORMATS)}"
    return None


def _entries(doc: Mapping[str, Any], node: yaml.MappingNode) -> tuple[tuple[str, ...], Any]:
    """The validated, normalised entries, or (partial, (line, message)) for the first bad one."""
    items = doc.get("entries")
    if not isinstance(items, list) or not items:
        return (), (_line_of(node, "entries"), "entries: expected a non-empty list")
    seq = next((v for k, v in node.value if k.value == "entries"), None)
    lines = [n.start_mark.line + 1 for n in seq.value] if seq is not None else []
    out: list[str] = []
    for i, item in enumerate(items):
        try:
            out.append(normalise_entry(str(doc["format"]), item))
        except ValueError as e:
            return (), (lines[i] if i < len(lines) else 1, f"entries[{i}]: {e}")
    return tuple(out), None


def normalise_entry(fmt: str, item: Any) -> str:
    """One entry in canonical text (a network in CIDR form, a lower-case domain), or
    ValueError saying why it is not one."""
    if not isinstance(item, str) or not item.strip():
        raise ValueError(f"expected a {fmt} as text, got {item!r}")
    if fmt == "cidr":
        try:
            return str(ipaddress.ip_network(item.strip(), strict=True))
        except ValueError as e:
            raise ValueError(f"not a network: {e}") from None
    return normalise(item)


def _update(raw: Any) -> FeedUpdate | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
        raise ValueError("expected {url: URL, parser: KIND, ...options}")
    url, parser = raw["url"], raw.get("parser", "plain")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url: expected http(s), got {url!r}")
    if parser not in PARSERS:
        raise ValueError(f"parser: unknown {parser!r} (known: {', '.join(PARSERS)})")
    opts = tuple(sorted((str(k), v) for k, v in raw.items() if k not in ("url", "parser")))
    return FeedUpdate(url=url, parser=str(parser), options=opts)


def _line_of(node: yaml.MappingNode, key: str) -> int:
    for k, _ in node.value:
        if k.value == key:
            return int(k.start_mark.line) + 1
    return int(node.start_mark.line) + 1
