"""Per-category precision and recall over both shared corpora (../shared/corpus and
../shared/corpus-ndpi) against nDPI's reference labels, mapped to provisions by the corpus's
ndpi-to-provision.csv; and no violation on the captures the corpora call benign. The scoring
rules are tests/tools/ndpi_eval.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CORPUS, SHARED
from tests.tools.ndpi_eval import (
    Capture,
    NdpiMapping,
    Score,
    benign_files,
    benign_violations,
    category_names,
    evaluate,
    replay_corpora,
    table,
)

pytestmark = pytest.mark.corpus

RECALL, PRECISION, MIN_FLOWS = 0.95, 0.98, 3
CORPORA = (CORPUS, SHARED / "corpus-ndpi")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "accuracy.md"

# Violations on benign captures that we keep, each with the reason (docs/accuracy.md).
KNOWN_BENIGN = {
    "corpus-ndpi/os_detected.pcapng": "QUIC to 8.8.8.8:443, an address that serves only DNS "
    "over HTTPS (Google Public DNS); nDPI names the transport (QUIC), not the application",
    "corpus-ndpi/adult_content.pcap": "a STUN-negotiated WebRTC session (nDPI: STUN) to a "
    "webcam site: a real-time media session, which the sensor calls VOIP",
}


@pytest.fixture(scope="module")
def mapping() -> NdpiMapping:
    if not all((c / "ndpi-results").is_dir() for c in CORPORA):
        pytest.skip("../shared/corpus or ../shared/corpus-ndpi is absent")
    return NdpiMapping.read(CORPUS / "ndpi-to-provision.csv")


@pytest.fixture(scope="module")
def captures(mapping: NdpiMapping) -> list[Capture]:
    return replay_corpora(CORPORA)


@pytest.fixture(scope="module")
def scores(captures: list[Capture], mapping: NdpiMapping) -> dict[str, Score]:
    return evaluate(captures, mapping, category_names())


def test_both_corpora_are_scored(captures: list[Capture]) -> None:
    by_corpus = {c.corpus for c in captures}
    assert by_corpus == {"corpus", "corpus-ndpi"}
    assert len(captures) >= 450


def test_every_category_with_reference_flows_meets_the_targets(scores: dict[str, Score]) -> None:
    covered = {c: s for c, s in scores.items() if s.tp + s.fn >= MIN_FLOWS}
    assert {"p2p", "messaging+voip", "remote_access", "circumvention"} <= set(covered)
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


def test_the_mapping_only_names_registered_provisions(mapping: NdpiMapping) -> None:
    from sensor.classify import SignaturesConfig, load_rules

    provisions, _ = load_rules(SignaturesConfig())
    named = {p for p in mapping.provisions.values() if p.startswith("2503-")}
    assert named and named <= set(provisions)


def test_no_violations_on_benign_traffic(captures: list[Capture], mapping: NdpiMapping) -> None:
    """In the captures either corpus calls benign, no flow is a violation unless nDPI's own
    label puts it in a policy category (or it is mail: e-mail use to an outside server)."""
    files = benign_files(CORPORA)
    assert len(files) >= 360
    bad = benign_violations(captures, files, mapping)
    unexplained = [b for b in bad if b.split(" ")[0] not in KNOWN_BENIGN]
    assert not unexplained
    assert len(bad) <= len(KNOWN_BENIGN)  # one flow each, no more
