"""`sensor signatures coverage`: every nDPI name mapped to a provision has a signature or a
written reason, on the shipped set; and the command fails when one has neither."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sensor.classify import SignaturesConfig, load_rules
from sensor.sigcoverage import REASONS, coverage, read_mapping, read_reasons
from tests.conftest import CORPUS, REPO

MAPPING = CORPUS / "ndpi-to-provision.csv"


def _sensor(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensor", "signatures", "coverage", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def mapping() -> Path:
    if not MAPPING.exists():
        pytest.skip("../shared/corpus/ndpi-to-provision.csv is absent")
    return MAPPING


def test_every_mapped_name_has_a_signature_or_a_reason(mapping: Path) -> None:
    res = _sensor("--mapping", str(mapping))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    assert res.stdout.rstrip().endswith("with a problem") and " 0 with a problem" in res.stdout
    rows = [ln.split() for ln in res.stdout.splitlines()[:-1]]
    by_name = {r[0]: r for r in rows}
    assert len(by_name) >= 150
    assert by_name["IRC"][1:] == ["2503-15", "5021"]  # a name and the id that declares it
    assert by_name["Kazaa"][2] == "defunct:"  # a name and its written reason


def test_a_name_left_without_its_signature_fails(mapping: Path, tmp_path: Path) -> None:
    """Turn off the only IRC signature: coverage names IRC and exits 1."""
    cfg = tmp_path / "sensor.yaml"
    cfg.write_text("signatures:\n  disabled: [5021]\n")
    res = _sensor("--mapping", str(mapping), "-c", str(cfg), "--missing")
    assert res.returncode == 1
    assert res.stdout.splitlines()[0].split()[:2] == ["IRC", "2503-15"]
    assert "no signature and no reason" in res.stdout


def test_a_missing_mapping_is_a_one_line_error(tmp_path: Path) -> None:
    res = _sensor("--mapping", str(tmp_path / "nope.csv"))
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "cannot read the nDPI mapping" in res.stderr


def test_wrong_provision_and_unknown_reason_are_problems(tmp_path: Path) -> None:
    """A signature of another provision does not cover a name, and a reason must be one of
    the documented kinds; Master.App labels count by their App part."""
    csv = tmp_path / "map.csv"
    csv.write_text(
        "ndpi_name,provision,scope,note\nTLS.Claude,2503-15,,x\nSTUN.Zoom,2503-16,,x\n"
        "Foo,2503-9f,,x\nBar,2503-9f,,x\nGoogle,none,,x\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- coverage:begin -->\n| nDPI name | reason | why |\n| --- | --- | --- |\n"
        "| Foo | defunct | closed |\n| Bar | forgotten | ? |\n<!-- coverage:end -->\n"
    )
    _, sigs = load_rules(SignaturesConfig())
    rows = {r.name: r for r in coverage(read_mapping(csv), sigs.signatures, read_reasons(readme))}
    assert set(rows) == {"Claude", "Zoom", "Foo", "Bar"}
    assert "give 2503-ai" in rows["Claude"].problem
    assert rows["Zoom"].ids and not rows["Zoom"].problem
    assert rows["Foo"].reason.startswith("defunct") and not rows["Foo"].problem
    assert "unknown reason kind 'forgotten'" in rows["Bar"].problem


def test_the_shipped_reasons_use_documented_kinds() -> None:
    reasons = read_reasons(REPO / "signatures" / "README.md")
    assert len(reasons) >= 20
    assert {kind for kind, _ in reasons.values()} <= set(REASONS)
    assert all(why for _, why in reasons.values())
