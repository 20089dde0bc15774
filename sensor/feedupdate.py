"""`sensor signatures update`: refresh feeds from their publishers, or say why not.

For each feed with an `update:` source: fetch (urllib, with a timeout and a size cap), parse
(sensor/feedparse.py), validate like a feed file, refuse a list that shrank by more than
`max_shrink` unless forced (a publisher's outage page parsed as three entries must not
disable a signature), and write it atomically into the writable feeds directory, which
overrides the shipped snapshot. Unreachable publishers leave the current copy in place: the
sensor works offline, and says so in one line per feed.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sensor import __version__
from sensor.classify.feeds import Feed, feed_version, normalise_entry
from sensor.feedparse import PARSERS

__all__ = ["UpdateOptions", "UpdateResult", "fetch", "update_feeds"]

MAX_BYTES = 16 << 20
"""A published list is kilobytes; anything this large is not one."""


@dataclass(frozen=True, slots=True)
class UpdateOptions:
    """Where to write, how long to wait, how much shrinking to accept, and today's date."""

    feeds_dir: Path
    today: str
    timeout: float = 20.0
    force: bool = False
    max_shrink: float = 0.5
    """Refuse a new list with fewer than this fraction of the current entries."""


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What happened to one feed: `updated`, `unchanged`, `offline`, `snapshot` (no update
    source) or `rejected` (the download was not a valid list); `line` says it for people."""

    feed: str
    status: str
    line: str


Fetcher = Callable[[str, float], bytes]


def fetch(url: str, timeout: float) -> bytes:
    """The body at `url`; OSError (URLError, timeouts, HTTP errors) when it cannot be had."""
    req = urllib.request.Request(url, headers={"User-Agent": f"sensor/{__version__} feeds"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body: bytes = resp.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise OSError(f"more than {MAX_BYTES} bytes")
    return body


def update_feeds(
    feeds: Iterable[Feed], opts: UpdateOptions, fetcher: Fetcher = fetch
) -> list[UpdateResult]:
    """Try every feed in turn; one feed's failure never stops the others."""
    return [update_one(f, opts, fetcher) for f in feeds]


def update_one(feed: Feed, opts: UpdateOptions, fetcher: Fetcher) -> UpdateResult:
    """Refresh one feed (see the module docstring)."""
    kept = f"kept {feed.version} dated {feed.fetched}"
    if feed.update is None:
        return UpdateResult(feed.name, "snapshot", f"{feed.name}: no update source ({kept})")
    try:
        body = fetcher(feed.update.url, opts.timeout)
    except (OSError, ValueError) as e:
        why = _reason(e)
        return UpdateResult(feed.name, "offline", f"{feed.name}: offline, {why} ({kept})")
    try:
        entries = _validated(feed, body, opts)
    except ValueError as e:
        return UpdateResult(feed.name, "rejected", f"{feed.name}: rejected: {e} ({kept})")
    if set(entries) == set(feed.entries):
        return UpdateResult(feed.name, "unchanged", f"{feed.name}: unchanged ({kept})")
    path = write_feed(feed, entries, opts)
    added = len(set(entries) - set(feed.entries))
    removed = len(set(feed.entries) - set(entries))
    new = feed_version(entries, opts.today)
    return UpdateResult(
        feed.name,
        "updated",
        f"{feed.name}: updated {feed.version} -> {new} (+{added} -{removed}, {len(entries)} "
        f"entries) in {path}",
    )


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return str(e) or type(e).__name__


def _validated(feed: Feed, body: bytes, opts: UpdateOptions) -> tuple[str, ...]:
    """Parse and check the download; ValueError says what is wrong with it."""
    assert feed.update is not None
    try:
        text = body.decode("utf-8-sig")
        raw = PARSERS[feed.update.parser](text, dict(feed.update.options))
    except (UnicodeDecodeError, ValueError, TypeError, IndexError) as e:
        raise ValueError(f"cannot parse as {feed.update.parser}: {e}") from None
    entries: list[str] = []
    for i, item in enumerate(raw):
        try:
            entries.append(normalise_entry(feed.format, item))
        except ValueError as e:
            raise ValueError(f"entry {i + 1} {item!r}: {e}") from None
    unique = tuple(dict.fromkeys(entries))
    if not unique:
        raise ValueError("no entries")
    if not opts.force and len(unique) < len(feed.entries) * opts.max_shrink:
        raise ValueError(
            f"{len(unique)} entries where there were {len(feed.entries)}; --force to accept"
        )
    return unique


def write_feed(feed: Feed, entries: tuple[str, ...], opts: UpdateOptions) -> Path:
    """Write the refreshed feed next to nothing half-written: a temporary file in the same
    directory, then rename, so a reload never reads a partial list."""
    opts.feeds_dir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "source": feed.source,
        "fetched": opts.today,
        "licence": feed.licence,
        "format": feed.format,
        "note": f"fetched from {feed.update.url if feed.update else feed.source} by "
        "`sensor signatures update`",
    }
    if feed.update is not None:
        doc["update"] = {"url": feed.update.url, "parser": feed.update.parser}
        doc["update"].update(dict(feed.update.options))
    doc["entries"] = list(entries)
    target = opts.feeds_dir / f"{feed.name}.yaml"
    fd, tmp = tempfile.mkstemp(dir=opts.feeds_dir, prefix=f".{feed.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(doc, out, sort_keys=False, allow_unicode=True)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
