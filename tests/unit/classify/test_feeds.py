"""Feeds: the shipped lists, their headers, versions, overrides and errors with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sensor.classify import SignaturesConfig, load_rules, shipped_dir
from sensor.classify.feeds import feed_version, load_feeds
from sensor.classify.matchers import compile_clause
from sensor.feedparse import parse_csv, parse_m365, parse_plain
from tests.unit.classify.helpers import make_flow, view

FEED = """source: https://example.org/list.txt
fetched: '2026-11-29'
licence: publisher's terms, see source
format: cidr
note: 'snapshot'
entries:
- 192.0.2.0/24
- 2001:db8::/32
"""


def _write(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.yaml").write_text(text)
    return d


def test_every_shipped_feed_says_where_it_comes_from_and_that_it_is_a_snapshot() -> None:
    feeds = load_feeds([shipped_dir() / "feeds"])
    assert not feeds.errors
    assert {"telegram-ranges", "zoom-ranges", "teams-media-ranges", "doh-resolver-names"} <= set(
        feeds.feeds
    )
    for f in feeds.feeds.values():
        assert f.source and f.licence and f.entries and len(f.version) == 8
        assert "snapshot" in f.note and f.fetched.startswith("2026-")


def test_the_shipped_signatures_use_the_feeds() -> None:
    _, sigs = load_rules(SignaturesConfig())
    assert not sigs.errors
    assert "telegram-ranges" in sigs.feeds


def test_version_changes_with_the_entries_and_the_date() -> None:
    v = feed_version(["192.0.2.0/24"], "2026-11-29")
    assert v == feed_version(["192.0.2.0/24"], "2026-11-29")
    assert v != feed_version(["192.0.2.0/24", "198.51.100.0/24"], "2026-11-29")
    assert v != feed_version(["192.0.2.0/24"], "2026-11-30")


def test_a_refreshed_copy_replaces_the_shipped_one(tmp_path: Path) -> None:
    shipped = _write(tmp_path / "a", "x", FEED)
    fresh = _write(tmp_path / "b", "x", FEED.replace("192.0.2.0/24", "198.51.100.0/24"))
    feeds = load_feeds([shipped, fresh, tmp_path / "missing"])
    assert feeds.feeds["x"].entries == ("198.51.100.0/24", "2001:db8::/32")


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("- 2001:db8::/32", "- 2001:db8::1/32", ":8: feed x: entries[1]: not a network"),
        ("format: cidr", "format: asn", ":4: feed x: format: expected one of"),
        ("licence: publisher's terms, see source\n", "", ":1: feed x: licence: required"),
        ("note:", "notes:", ":5: feed x: unknown key 'notes'"),
        ("note:", "update: {url: ftp://x}\nnote:", ":5: feed x: update: url: expected http"),
    ],
)
def test_a_broken_feed_is_a_file_line_error(tmp_path: Path, old: str, new: str, where: str) -> None:
    d = _write(tmp_path, "x", FEED.replace(old, new))
    errors = load_feeds([d]).errors
    assert len(errors) == 1 and errors[0].startswith(f"{d / 'x.yaml'}{where}"), errors


def test_a_signature_naming_a_missing_feed_is_a_file_line_error(tmp_path: Path) -> None:
    base = tmp_path / "sigs"
    base.mkdir()
    shutil.copy(shipped_dir() / "provisions.yaml", base)
    shutil.copy(shipped_dir() / "messaging.yaml", base)
    _, sigs = load_rules(SignaturesConfig(directory=base))
    assert any(
        e.startswith(f"{base / 'messaging.yaml'}:") and "unknown feed 'telegram-ranges'" in e
        for e in sigs.errors
    ), sigs.errors


def test_evidence_names_the_feed_and_its_version(tmp_path: Path) -> None:
    feed = load_feeds([_write(tmp_path, "x", FEED)]).feeds["x"]
    m = compile_clause({"cidr": {"feed": "x"}}, feeds={"x": feed})
    ev = m.match(view(make_flow(dst="192.0.2.9")))
    assert ev == (f"dest_ip=192.0.2.9 in 192.0.2.0/24 (feed x@{feed.version})", 1.0)
    with pytest.raises(ValueError, match="holds cidr entries"):
        compile_clause({"field": "names", "domain": {"feed": "x"}}, feeds={"x": feed})


def test_publishers_formats() -> None:
    assert parse_plain("# Telegram\n91.108.4.0/22\n\n149.154.160.0/20 # dc\n", {}) == [
        "91.108.4.0/22",
        "149.154.160.0/20",
    ]
    assert parse_csv("# c\nprefix,country\n192.0.2.0/24,US\n", {"column": "prefix"}) == [
        "192.0.2.0/24"
    ]
    m365 = (
        '[{"id": 11, "serviceArea": "Skype", "category": "Optimize", "ips": ["13.107.64.0/18"]},'
        ' {"id": 12, "serviceArea": "Skype", "category": "Allow", "ips": ["52.238.119.141/32"],'
        ' "urls": ["*.teams.microsoft.com"]}]'
    )
    opts = {"service_area": "Skype", "category": "Optimize"}
    assert parse_m365(m365, opts) == ["13.107.64.0/18"]
    assert parse_m365(m365, {"ids": [12], "take": "urls"}) == ["teams.microsoft.com"]
