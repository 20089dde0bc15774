"""Loading signature files: every problem is reported with file:line, overrides go by id."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.classify import SignaturesConfig, load_rules, shipped_dir
from sensor.classify.provisions import load_provisions
from sensor.classify.signatures import load_signatures

PROVISIONS = load_provisions(shipped_dir() / "provisions.yaml")

GOOD = """schema: 1
ids: [1000000, 1000999]
signatures:
  - id: 1000001
    rev: 1
    name: site.chat
    provision: 2503-15
    match: {field: names, domain: [chat.example.net]}
    tests: [pcaps/x.pcap]
"""


def _load(tmp_path: Path, text: str, shipped: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    f = tmp_path / "site.yaml"
    f.write_text(text)
    ship = []
    if shipped is not None:
        d = tmp_path / "shipped"
        d.mkdir()
        (d / "base.yaml").write_text(shipped)
        ship = [d]
    return load_signatures(ship, [f], PROVISIONS, **kw)  # type: ignore[arg-type]


def test_a_good_file_loads(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD)
    assert not s.errors
    (sig,) = s.signatures
    assert (sig.id, sig.rev, sig.provision, sig.category) == (1000001, 1, "2503-15", "messaging")
    assert sig.where.endswith("site.yaml:4")


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("provision: 2503-15", "provision: 2503-99"), 4, "provision: unknown '2503-99'"),
        (("rev: 1", "rev: zero"), 4, "rev: expected a positive integer"),
        (("id: 1000001", "id: 5"), 4, "outside this file's range"),
        (("domain: [chat.example.net]", "domian: [x]"), 8, "unknown key 'domian'"),
        (
            ("match: {field: names, domain: [chat.example.net]}", "match: {field: x, regex: '('}"),
            8,
            "bad pattern",
        ),
        (("name: site.chat", "name: site.chat\n    colour: red"), 4, "unknown key 'colour'"),
        (("    tests: [pcaps/x.pcap]\n", "    tests: pcaps/x.pcap\n"), 4, "tests: expected a list"),
    ],
)
def test_problems_name_file_line_and_signature(
    tmp_path: Path, change: tuple[str, str], line: int, message: str
) -> None:
    s = _load(tmp_path, GOOD.replace(*change))
    assert not s.signatures
    (err,) = s.errors
    assert f"site.yaml:{line}: signature" in err and message in err, err


def test_broken_yaml_is_one_error_with_its_line(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD.replace("ids: [1000000, 1000999]", "ids: [1000000, 1000999"))
    (err,) = s.errors
    assert "site.yaml:" in err and "invalid YAML" in err


def test_not_a_signature_file(tmp_path: Path) -> None:
    (err,) = _load(tmp_path, "hello: world\n").errors
    assert "site.yaml:1: not a signature file" in err


def test_duplicate_ids_in_shipped_files_are_errors(tmp_path: Path) -> None:
    d = tmp_path / "shipped"
    d.mkdir()
    (d / "a.yaml").write_text(GOOD)
    (d / "b.yaml").write_text(GOOD)
    s = load_signatures([d], [], PROVISIONS)
    assert len(s.errors) == 1 and "duplicate id" in s.errors[0] and "a.yaml:4" in s.errors[0]


def test_a_site_file_overrides_by_id_with_a_higher_rev(tmp_path: Path) -> None:
    site = GOOD.replace("rev: 1", "rev: 2").replace("chat.example.net", "chat.example.org")
    s = _load(tmp_path, site, shipped=GOOD)
    assert not s.errors
    (sig,) = s.signatures
    assert sig.rev == 2 and "site.yaml" in sig.where


def test_an_override_must_raise_the_rev(tmp_path: Path) -> None:
    s = _load(tmp_path, GOOD, shipped=GOOD)
    assert len(s.errors) == 1 and "not higher than 1" in s.errors[0]


def test_a_site_file_disables_by_id_and_so_does_the_config(tmp_path: Path) -> None:
    off = "schema: 1\nsignatures:\n  - {id: 1000001, enabled: false}\n"
    assert _load(tmp_path, off, shipped=GOOD).signatures == []
    s = load_signatures([], [tmp_path / "none.yaml"], PROVISIONS)
    assert "cannot read" in s.errors[0]
    s = _load(tmp_path, GOOD, disabled=[1000001])
    assert s.signatures == [] and not s.errors
    s = _load(tmp_path, GOOD, disabled=[42])
    assert "no signature with id 42" in s.errors[0]


def test_the_version_changes_with_the_content(tmp_path: Path) -> None:
    a = _load(tmp_path, GOOD).version
    b = _load(tmp_path, GOOD.replace("chat.example.net", "chat.example.com")).version
    assert a != b and len(a) == 12


def test_the_shipped_set_is_clean_and_covers_every_provision() -> None:
    provisions, sigs = load_rules(SignaturesConfig())
    assert not sigs.errors
    assert len(sigs.signatures) >= 80
    covered = {s.provision for s in sigs.signatures}
    assert covered == set(provisions)
    assert all(s.tests for s in sigs.signatures)
    assert all(s.msg and s.service for s in sigs.signatures)


def test_a_missing_site_directory_holds_no_signatures(tmp_path: Path) -> None:
    _, sigs = load_rules(SignaturesConfig(paths=(tmp_path / "signatures.d",)))
    assert not sigs.errors
