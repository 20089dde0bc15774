"""Per-category precision and recall against nDPI's reference labels, and no violations on
benign traffic. The mapping from nDPI's names to our categories is tests/tools/ndpi_eval.py."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tests.tools.ndpi_eval import (
    NDPI_CATEGORY,
    Score,
    classify_capture,
    evaluate,
    parse_out,
    reference_files,
    table,
)

pytestmark = pytest.mark.corpus

RECALL, PRECISION = 0.95, 0.98
DOCS = Path(__file__).resolve().parents[2] / "docs" / "accuracy.md"


@pytest.fixture(scope="module")
def scores() -> dict[str, Score]:
    if not (CORPUS / "ndpi-results").is_dir():
        pytest.skip("../shared/corpus is absent")
    return evaluate(CORPUS)


def test_every_category_the_corpus_covers_meets_the_targets(scores: dict[str, Score]) -> None:
    covered = {c: s for c, s in scores.items() if s.tp + s.fn}
    assert {"p2p", "voip", "messaging", "remote_access", "circumvention"} <= set(covered)
    failing = {
        c: (f"recall {s.recall:.1%}", f"precision {s.precision:.1%}", s.misses[:5], s.false[:5])
        for c, s in covered.items()
        if s.recall < RECALL or s.precision < PRECISION
    }
    assert not failing


def test_the_documented_table_is_current(scores: dict[str, Score]) -> None:
    """docs/accuracy.md carries the table this run computes (regenerate with
    `python -m tests.tools.ndpi_eval --write-docs`)."""
    text = DOCS.read_text()
    body = text.split("<!-- table:begin -->\n")[1].split("<!-- table:end -->")[0]
    assert body == table(scores)


def test_the_mapping_only_names_known_categories() -> None:
    from sensor.classify import SignaturesConfig, load_rules

    provisions, _ = load_rules(SignaturesConfig())
    assert set(NDPI_CATEGORY.values()) <= {p.category for p in provisions.values()}


def _benign(corpus: Path) -> list[str]:
    with (corpus / "MANIFEST.csv").open() as f:
        return [r["file"] for r in csv.DictReader(f) if r["category"] == "benign"]


def test_no_violations_on_benign_traffic(corpus_dir: Path) -> None:
    """In the captures the corpus calls benign, no flow is a violation unless nDPI's own label
    puts it in a policy category (an IMAPS session to an outside server is e-mail use even in a
    capture of ordinary traffic)."""
    results = {o.name.removesuffix(".out"): o for o in reference_files(corpus_dir)}
    bad = []
    files = _benign(corpus_dir)
    assert len(files) >= 25
    for name in files:
        refs = {r.key: r for r in parse_out(results[name])} if name in results else {}
        for key, cat, service, evidence, action in classify_capture(corpus_dir / "pcaps" / name):
            ref = refs.get(key)
            if action == "violation" and not (ref and ref.trusted and ref.category == cat):
                bad.append((name, sorted(key[1]), cat, service, evidence))
    assert not bad
