"""Per-category precision and recall of the classifier against nDPI's reference labels.

The reference: each flow line of `<corpus>/ndpi-results/<capture>.out`, over both shared
corpora (`../shared/corpus` and `../shared/corpus-ndpi`), its label (`Master.App`) mapped to a
provision of Policy 2503 by the corpus's `ndpi-to-provision.csv` (the scoring rules of
`../shared/corpus-ndpi/README.md`: the full label if the CSV has it, else the App part unless it
is generic, else the Master part; DNS/MDNS/LLMNR lookups are not use of the service; `external`
rows count only when one end is a global address). Only labels nDPI got by inspecting the
traffic count (confidence DPI, DPI (cache), DPI (partial), DPI (aggressive)); "Match by port",
"Match by IP" and Unknown are guesses or nothing, and a bare transport label (`TLS`, `QUIC`,
`HTTP`) means nDPI did not recognise the application; those flows are no reference either way
(our detections on them are reported as `unreferenced`). Where the nDPI repository has a
result with extra heuristics enabled (`alt-cfg/`), that one is the reference.

A flow is found when our record of the same 5-tuple carries the provision nDPI's label maps to.

Run `python -m tests.tools.ndpi_eval` for the table in docs/accuracy.md (`--write-docs`
rewrites it).
"""

from __future__ import annotations

import csv
import ipaddress
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sensor.capture.pcapfile import open_capture
from sensor.classify import Classifier, build_classifier
from sensor.config import SensorConfig
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline
from sensor.sinks.records import RecordBuffer

# Mail protocols are e-mail use (13) from an internal client; the mapping leaves mail
# unscored, so a 2503-13 verdict on such a flow is neither found nor false, and not a
# benign-capture violation either (an IMAPS session to an outside server is e-mail use).
MAIL_LABELS = frozenset({"IMAP", "IMAPS", "POP3", "POPS", "SMTP", "SMTPS"})
LOOKUPS = frozenset({"DNS", "MDNS", "LLMNR"})
"""A name lookup is not use of the service it names."""
INTERNAL = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
)

NOT_USE = {
    "Spotify": "nDPI's bare Spotify label is the desktop app's LAN discovery broadcast (UDP "
    "57621): an installed app announcing itself, idle or not, is no stream (9b forbids "
    "ongoing streaming); Spotify streams are TLS/QUIC/HTTP with the app named",
}
"""Labels the mapping gives a provision that we do not score as use of the service, and why
(docs/accuracy.md lists them)."""

# A bare transport label (TLS, QUIC, HTTP, ...) says nDPI recognised the protocol but not the
# application: it is no statement that the flow is not Tor or DoH, so it is no reference.
# STUN is of that kind too: it sets up a path for some application's media, and the mapping
# puts it with TLS, QUIC and DTLS.
GENERIC = frozenset({"TLS", "QUIC", "HTTP", "DTLS", "SSL", "STUN", "TCP", "UDP", "Unknown"})

TRUSTED = ("DPI", "DPI (cache)", "DPI (partial)", "DPI (aggressive)", "DPI (partial cache)")

_LINE = re.compile(
    r"^\s*\d+\s+(?P<proto>\S+)\s+(?P<a>\S+)\s+<?->\s+(?P<b>\S+)\s+"
    r"\[proto: [\d.]+/(?P<label>[^\]]+)\].*?\[Confidence: (?P<conf>[^\]]+)\]"
)

Key = tuple[str, frozenset[tuple[str, int]]]
Row = tuple[Key, str | None, str | None, str | None, str]
"""(key, provision, service, evidence, action) of one flow record."""


@dataclass(frozen=True, slots=True)
class NdpiMapping:
    """`ndpi-to-provision.csv`: nDPI name -> provision, and the names that count only across
    the internal/external boundary."""

    provisions: Mapping[str, str]
    external_only: frozenset[str]

    @classmethod
    def read(cls, path: Path) -> NdpiMapping:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        provs = {r["ndpi_name"]: r["provision"] for r in rows}
        ext = frozenset(r["ndpi_name"] for r in rows if r.get("scope") == "external")
        return cls(provs, ext)

    def provision(self, label: str, client: str, server: str) -> str | None:
        """The provision nDPI's label says the flow is use of; None when none."""
        master, _, app = label.partition(".")
        if master in LOOKUPS or label in NOT_USE:
            return None
        for name in (label, app if app and app not in GENERIC else "", master):
            if name and name in self.provisions:
                prov = self.provisions[name]
                if name in self.external_only and not (_global(client) or _global(server)):
                    return None
                return prov if prov.startswith("2503-") else None
        return None


@dataclass(frozen=True, slots=True)
class RefFlow:
    key: Key
    label: str
    confidence: str
    client: str = ""
    server: str = ""

    @property
    def trusted(self) -> bool:
        """nDPI identified the application by inspection (not by port or address guess)."""
        return self.confidence in TRUSTED and self.label not in GENERIC

    @property
    def mail(self) -> bool:
        """A mail protocol (nDPI's Email category), which the mapping does not score."""
        return self.label.partition(".")[0] in MAIL_LABELS


def _internal(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return any(a in ipaddress.ip_network(n) for n in INTERNAL)


def _global(ip: str) -> bool:
    return bool(ip) and ipaddress.ip_address(ip).is_global


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return str(ipaddress.ip_address(host.strip("[]"))), int(port)


def parse_out(path: Path) -> list[RefFlow]:
    """The flow lines of one ndpiReader result file."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m or m["proto"] not in ("TCP", "UDP"):
            continue
        try:
            a, b = _endpoint(m["a"]), _endpoint(m["b"])
        except ValueError:  # nDPI prints a few malformed IPv6 addresses; no flow of ours has them
            continue
        out.append(RefFlow((m["proto"], frozenset((a, b))), m["label"], m["conf"], a[0], b[0]))
    return out


def reference_files(corpus: Path) -> list[Path]:
    """One result file per capture: nDPI's run with extra heuristics enabled where the nDPI
    repository has one (DoH, TLS obfuscation), else its default run."""
    res = corpus / "ndpi-results"
    best = {p.name: p for p in res.glob("*.out")}
    for p in sorted(res.glob("alt-cfg/*/*.out")):
        best[p.name] = p
    return [best[n] for n in sorted(best)]


class _Collect:
    """A sink that keeps (key, provision, service, evidence, action) of each record."""

    name = "collect"

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._buf = RecordBuffer()

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self._buf.append(flow, reason)

    def flush(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        t = self._buf.take()
        if t is None:
            return
        cols = ["proto", "src_ip", "src_port", "dest_ip", "dest_port", "provision"]
        for r in t.select([*cols, "service", "evidence", "action"]).to_pylist():
            if r["proto"] not in ("TCP", "UDP"):
                continue
            ends = ((r["src_ip"], r["src_port"]), (r["dest_ip"], r["dest_port"]))
            key = (r["proto"], frozenset(ends))
            self.rows.append((key, r["provision"], r["service"], r["evidence"], r["action"]))


def classify_capture(
    pcap: Path, cfg: SensorConfig | None = None, classifier: Classifier | None = None
) -> list[Row]:
    """Replay one capture through the real pipeline; the classified records. Pass one
    classifier when replaying many captures: loading the signatures costs more than most
    captures."""
    sink = _Collect()
    Pipeline(cfg or SensorConfig(), [sink], classifier).run([open_capture(pcap)])
    return sink.rows


@dataclass
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    unreferenced: int = 0
    misses: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0


@dataclass(frozen=True, slots=True)
class Capture:
    """One replayed capture: its nDPI reference flows and our records."""

    corpus: str
    name: str
    refs: Mapping[Key, RefFlow]
    rows: Sequence[Row]


def replay_corpora(corpora: Sequence[Path], only: Iterable[str] = ()) -> list[Capture]:
    """Every capture of the corpora that has an nDPI result, replayed once."""
    wanted = set(only)
    cfg = SensorConfig()
    classifier = build_classifier(cfg.signatures, cfg.policy)
    out = []
    for corpus in corpora:
        for res in reference_files(corpus):
            pcap = corpus / "pcaps" / res.name.removesuffix(".out")
            if not pcap.exists() or (wanted and pcap.name not in wanted):
                continue
            refs: dict[Key, RefFlow] = {}
            for r in parse_out(res):
                refs.setdefault(r.key, r)
            rows = classify_capture(pcap, cfg, classifier)
            out.append(Capture(corpus.name, pcap.name, refs, rows))
    return out


def evaluate(
    captures: Iterable[Capture], mapping: NdpiMapping, names: Mapping[str, str]
) -> dict[str, Score]:
    """Scores per category over the replayed captures. `names` gives each scored provision
    its category; a provision it leaves out is not scored on either side."""
    scores: dict[str, Score] = defaultdict(Score)
    for cap in captures:
        ours: dict[Key, Counter[str | None]] = defaultdict(Counter)
        detail: dict[Key, str] = {}
        for key, prov, service, evidence, _ in cap.rows:
            ours[key][names.get(prov or "")] += 1
            if prov:
                detail[key] = f"{service}: {evidence}"
        for key, counts in ours.items():
            got = max((c for c in counts if c), key=lambda c: counts[c], default=None)
            ref = cap.refs.get(key)
            where = f"{cap.corpus}/{cap.name} {key[0]} {sorted(key[1])}"
            if ref is None or not ref.trusted:
                if got:
                    scores[got].unreferenced += 1
                continue
            want = names.get(mapping.provision(ref.label, ref.client, ref.server) or "")
            if want and got == want:
                scores[want].tp += 1
                continue
            if want:
                scores[want].fn += 1
                scores[want].misses.append(f"{where} nDPI={ref.label} ours={got}")
            if got and not (ref.mail and got == names.get("2503-13")):
                scores[got].fp += 1
                scores[got].false.append(f"{where} nDPI={ref.label} ours={got} ({detail.get(key)})")
    return dict(scores)


def benign_violations(
    captures: Iterable[Capture], benign: Iterable[str], mapping: NdpiMapping
) -> list[str]:
    """Violations in captures a corpus calls benign, unless nDPI's own label puts the flow in
    a policy category (or it is mail, which nDPI calls Email and the policy e-mail use)."""
    files = set(benign)
    bad = []
    for cap in captures:
        if f"{cap.corpus}/{cap.name}" not in files:
            continue
        for key, prov, service, evidence, action in cap.rows:
            ref = cap.refs.get(key)
            placed = (
                ref is not None
                and ref.trusted
                and (mapping.provision(ref.label, ref.client, ref.server) is not None or ref.mail)
            )
            if action == "violation" and not placed:
                bad.append(f"{cap.corpus}/{cap.name} {sorted(key[1])} {prov} {service} {evidence}")
    return bad


def benign_files(corpora: Iterable[Path]) -> list[str]:
    """`<corpus>/<file>` of every capture a corpus's MANIFEST.csv calls benign."""
    out = []
    for corpus in corpora:
        with (corpus / "MANIFEST.csv").open() as f:
            out += [
                f"{corpus.name}/{r['file']}" for r in csv.DictReader(f) if r["category"] == "benign"
            ]
    return out


def table(scores: dict[str, Score]) -> str:
    lines = [
        "| category | reference flows | found | missed | false positives | recall | precision "
        "| unreferenced detections |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for cat in sorted(scores):
        s = scores[cat]
        lines.append(
            f"| {cat} | {s.tp + s.fn} | {s.tp} | {s.fn} | {s.fp} | {s.recall:.1%} | "
            f"{s.precision:.1%} | {s.unreferenced} |"
        )
    return "\n".join(lines) + "\n"


UNSCORED = frozenset({"2503-13", "2503-22"})
"""Provisions the mapping does not score: e-mail (it maps mail protocols and webmail to none)
and rogue access points (the wired indicators, CAPWAP, Meraki, UniFi, are "not a scored
class": whether one is rogue depends on the site's own equipment)."""
MERGED = {"2503-15": "messaging+voip", "2503-16": "messaging+voip"}
"""Chat and calls of one app are one service to nDPI (its `Discord` label covers both), so
instant messaging and VOIP are scored together, as issue 14 reports them."""


def category_names() -> dict[str, str]:
    """Scored provision id -> category, from the shipped provision registry."""
    from sensor.classify import SignaturesConfig, load_rules

    provisions, _ = load_rules(SignaturesConfig())
    return {p.id: MERGED.get(p.id, p.category) for p in provisions.values() if p.id not in UNSCORED}


def main(argv: list[str]) -> int:
    from tests.conftest import CORPUS, SHARED

    corpora = [CORPUS, SHARED / "corpus-ndpi"]
    mapping = NdpiMapping.read(CORPUS / "ndpi-to-provision.csv")
    captures = replay_corpora(corpora, only=[a for a in argv if not a.startswith("-")])
    scores = evaluate(captures, mapping, category_names())
    print(table(scores))
    if "--write-docs" in argv:
        docs = Path(__file__).resolve().parents[2] / "docs" / "accuracy.md"
        head, rest = docs.read_text().split("<!-- table:begin -->\n")
        tail = rest.split("<!-- table:end -->")[1]
        docs.write_text(f"{head}<!-- table:begin -->\n{table(scores)}<!-- table:end -->{tail}")
    for cat, s in sorted(scores.items()):
        for m in s.misses:
            print(f"MISS {cat}: {m}")
        for m in s.false:
            print(f"FP   {cat}: {m}")
    for v in benign_violations(captures, benign_files(corpora), mapping):
        print(f"BENIGN VIOLATION: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
