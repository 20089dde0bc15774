"""`sensor signatures coverage`: does every service nDPI puts in a policy category have a
signature, or a written reason why the sensor cannot recognise it?

A signature declares the nDPI names of what it recognises (`ndpi: [WhatsApp, WhatsAppFiles]`),
so coverage is read from the signatures themselves, not from a list kept beside them that
could drift. The names that have no signature are explained in signatures/README.md, in the
table between the `coverage:begin` and `coverage:end` markers; a reason is one of the kinds
in REASONS. The mapping from nDPI names to provisions is a CSV (`ndpi_name,provision,...`,
the shared corpus's `ndpi-to-provision.csv`): nDPI's `Master.App` labels count by their App
part, as the corpus's scoring rules say.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sensor.classify import Signature
from sensor.errors import SensorError

__all__ = ["REASONS", "CoverageRow", "coverage", "read_mapping", "read_reasons", "render"]

REASONS = {
    "defunct": "the service or network has shut down; no current client makes such traffic",
    "no-indicator": "proprietary encrypted protocol on shared infrastructure, and no published "
    "message format, address list or domain list tells it apart",
    "site-decides": "the same traffic is the site's own equipment or a rogue device depending "
    "on what the site runs; only the site's lists can tell",
}
"""The kinds of written reason a name may have instead of a signature."""

# Transport labels nDPI puts in front of the application (`TLS.Zoom`): not a service.
_GENERIC = frozenset({"TLS", "QUIC", "HTTP", "DTLS", "STUN", "SRTP", "HTTP_Proxy", "DNS"})
_MARK_BEGIN, _MARK_END = "<!-- coverage:begin -->", "<!-- coverage:end -->"
_ROW = re.compile(r"^\|\s*`?(?P<name>[^|`]+?)`?\s*\|\s*(?P<kind>[a-z-]+)\s*\|(?P<why>[^|]*)\|")


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One mapped nDPI name: the signatures that recognise it, or the reason none does."""

    name: str
    provision: str
    ids: tuple[int, ...] = ()
    reason: str = ""
    problem: str = ""


def _app(label: str) -> str:
    master, _, app = label.partition(".")
    return master if not app or app in _GENERIC else app


def read_mapping(path: Path) -> dict[str, str]:
    """nDPI name (App part) -> provision, for the names mapped to a provision of 2503."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise SensorError(f"{path}: cannot read the nDPI mapping: {e.strerror}") from None
    if rows and not {"ndpi_name", "provision"} <= set(rows[0]):
        raise SensorError(f"{path}: not an nDPI mapping (needs ndpi_name,provision columns)")
    out: dict[str, str] = {}
    seen: set[str] = set()  # nDPI spells a few names two ways (AvastSecureDNS, AVASTSecureDNS)
    for r in rows:
        prov = (r.get("provision") or "").strip()
        name = _app((r.get("ndpi_name") or "").strip())
        if prov.startswith("2503-") and name.casefold() not in seen:
            seen.add(name.casefold())
            out[name] = prov
    return out


def read_reasons(readme: Path) -> dict[str, tuple[str, str]]:
    """name -> (kind, explanation) from the coverage table of signatures/README.md."""
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return {}
    if _MARK_BEGIN not in text:
        return {}
    body = text.split(_MARK_BEGIN, 1)[1].split(_MARK_END, 1)[0]
    out: dict[str, tuple[str, str]] = {}
    for line in body.splitlines():
        m = _ROW.match(line.strip())
        if m and m["kind"] != "reason" and not set(m["name"]) <= {"-", " "}:
            out[m["name"].strip()] = (m["kind"], m["why"].strip())
    return out


def coverage(
    mapping: Mapping[str, str],
    signatures: Iterable[Signature],
    reasons: Mapping[str, tuple[str, str]],
) -> list[CoverageRow]:
    """One row per mapped name, sorted by provision then name; `problem` says what is wrong:
    nothing recognises it, or only signatures of another provision, or an unknown reason."""
    by_name: dict[str, list[Signature]] = {}
    for sig in signatures:
        for n in sig.ndpi:
            by_name.setdefault(n.casefold(), []).append(sig)
    rows = []
    for name, prov in sorted(mapping.items(), key=lambda kv: (kv[1], kv[0].casefold())):
        sigs = by_name.get(name.casefold(), [])
        ids = tuple(sorted(s.id for s in sigs))
        kind, why = reasons.get(name, ("", ""))
        problem = ""
        if sigs and not any(s.provision == prov for s in sigs):
            problem = f"signatures {list(ids)} give {sigs[0].provision}, the mapping {prov}"
        elif not sigs and not kind:
            problem = "no signature and no reason"
        elif not sigs and kind not in REASONS:
            problem = f"unknown reason kind {kind!r} (known: {', '.join(REASONS)})"
        rows.append(CoverageRow(name, prov, ids, f"{kind}: {why}" if kind else "", problem))
    return rows


def render(rows: Iterable[CoverageRow]) -> list[str]:
    """The table `sensor signatures coverage` prints: name, provision, ids or reason."""
    out = []
    for r in rows:
        what = ",".join(map(str, r.ids)) if r.ids else r.reason or "-"
        flag = f"  << {r.problem}" if r.problem else ""
        out.append(f"{r.name:<24} {r.provision:<8} {what}{flag}")
    return out
