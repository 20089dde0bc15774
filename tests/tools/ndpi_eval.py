"""Per-category precision and recall of the classifier against nDPI's reference labels.

The reference: each flow line of `../shared/corpus/ndpi-results/<capture>.out`, its label
(`Master.App`) mapped to one of our categories by NDPI_CATEGORY below. Only labels nDPI got by
inspecting the traffic count (confidence DPI, DPI (cache), DPI (partial), DPI (aggressive));
"Match by port", "Match by IP" and Unknown are guesses or nothing, and a bare transport
label (`TLS`, `QUIC`, `HTTP`) means nDPI did not recognise the application; those flows are
no reference either way (our detections on them are reported as `unreferenced`). Where the
nDPI repository has a result with extra heuristics enabled (`alt-cfg/`), that one is the
reference.

A DNS lookup of a service's name (`DNS.WhatsApp`) is not use of the service: it maps to no
category, as do the services the policy does not concern (Google, Netflix, plain TLS, ...).

Run `python -m tests.tools.ndpi_eval` for the table in docs/accuracy.md.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sensor.capture.pcapfile import open_capture
from sensor.config import SensorConfig
from sensor.flow.state import FlowState
from sensor.pipeline import Pipeline
from sensor.sinks.records import RecordBuffer

# nDPI protocol name (the App part of Master.App, else the Master) -> our category.
# Chat and calls of the same app are told apart where nDPI tells them apart (WhatsApp vs
# WhatsAppCall); a conferencing service (Zoom, Webex, Meet, Teams calls) is voip.
NDPI_CATEGORY: dict[str, str] = {
    # 9f peer-to-peer file sharing
    "BitTorrent": "p2p",
    "Gnutella": "p2p",
    "eDonkey": "p2p",
    "Syncthing": "p2p",
    # 16 VOIP
    "SIP": "voip",
    "RTP": "voip",
    "IAX": "voip",
    "Mumble": "voip",
    "WhatsAppCall": "voip",
    "SignalVoip": "voip",
    "TelegramVoip": "voip",
    "ViberVoip": "voip",
    "LineCall": "voip",
    "Skype_TeamsCall": "voip",
    "GoogleCall": "voip",
    "GoogleMeet": "voip",
    "Zoom": "voip",
    "Webex": "voip",
    "Discord": "voip",
    # 15 instant messaging
    "WhatsApp": "messaging",
    "WhatsAppFiles": "messaging",
    "Telegram": "messaging",
    "Signal": "messaging",
    "Viber": "messaging",
    "WeChat": "messaging",
    "Line": "messaging",
    "QQ": "messaging",
    "OICQ": "messaging",
    "Threema": "messaging",
    "IMO": "messaging",
    "FacebookMessenger": "messaging",
    "Slack": "messaging",
    "Skype_Teams": "messaging",
    "Teams": "messaging",
    # 21 remote access
    "AnyDesk": "remote_access",
    "TeamViewer": "remote_access",
    "RDP": "remote_access",
    "VNC": "remote_access",
    "Radmin": "remote_access",
    "Telnet": "remote_access",
    "RSH": "remote_access",
    "Citrix": "remote_access",
    "SSH": "remote_access",
    # 7m circumventing security or auditing
    "Tor": "circumvention",
    "OpenVPN": "circumvention",
    "NordVPN": "circumvention",
    "WireGuard": "circumvention",
    "Mullvad": "circumvention",
    "TunnelBear": "circumvention",
    "ProtonVPN": "circumvention",
    "Psiphon": "circumvention",
    "Windscribe": "circumvention",
    "OperaVPN": "circumvention",
    "Softether": "circumvention",
    "Tailscale": "circumvention",
    "TINC": "circumvention",
    "IPSec": "circumvention",
    "PPTP": "circumvention",
    "CiscoVPN": "circumvention",
    "DoH_DoT": "circumvention",
    "DNScrypt": "circumvention",
    "SOCKS": "circumvention",
    "HTTP_Proxy": "circumvention",
    "HTTP_Connect": "circumvention",
    "UltraSurf": "circumvention",
    # 13 non-department e-mail
    "IMAPS": "external_email",
    "IMAP": "external_email",
    "POPS": "external_email",
    "POP3": "external_email",
    "SMTP": "external_email",
    "SMTPS": "external_email",
    "GMail": "external_email",
    "Outlook": "external_email",
    "YahooMail": "external_email",
    # 22 rogue access points, from the wire: NAT-PMP/PCP means a home router doing NAT on the
    # network (CAPWAP and SSDP depend on the site's controllers and are not mapped)
    "NAT-PMP": "rogue_ap",
    # 9b streaming radio (music streaming services count as radio in our signatures)
    "YandexMusic": "radio",
    "SoundCloud": "radio",
    "Deezer": "radio",
    "Pandora": "radio",
    "TuneIn": "radio",
}

# Exact labels whose category differs from their app's: Discord's TLS connections are its
# chat and API, its UDP flows the voice channels.
# nDPI's bare "Spotify" label is the desktop app's LAN discovery broadcast (UDP 57621), not
# a stream; Spotify streams are TLS/QUIC/HTTP with the app named.
NDPI_LABEL_CATEGORY: dict[str, str] = {
    "TLS.Discord": "messaging",
    "TLS.Spotify": "radio",
    "QUIC.Spotify": "radio",
    "HTTP.Spotify": "radio",
}

# Mail protocols are e-mail use (13) from an internal client; an internal server receiving
# mail from outside is the site's own mail server (whether it is a personal server, 9e,
# depends on the site's workstation networks, which the corpus does not have).
MAIL_LABELS = frozenset({"IMAP", "IMAPS", "POP3", "POPS", "SMTP", "SMTPS"})
INTERNAL = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
    "fe80::/10",
)

# A bare transport label (TLS, QUIC, HTTP, ...) says nDPI recognised the protocol but not the
# application: it is no statement that the flow is not Tor or DoH, so it is no reference.
GENERIC = frozenset({"TLS", "QUIC", "HTTP", "DTLS", "SSL", "TCP", "UDP", "Unknown"})

TRUSTED = ("DPI", "DPI (cache)", "DPI (partial)", "DPI (aggressive)", "DPI (partial cache)")

_LINE = re.compile(
    r"^\s*\d+\s+(?P<proto>\S+)\s+(?P<a>\S+)\s+<?->\s+(?P<b>\S+)\s+"
    r"\[proto: [\d.]+/(?P<label>[^\]]+)\].*?\[Confidence: (?P<conf>[^\]]+)\]"
)

Key = tuple[str, frozenset[tuple[str, int]]]


@dataclass(frozen=True, slots=True)
class RefFlow:
    key: Key
    label: str
    confidence: str
    client: str = ""
    server: str = ""

    @property
    def category(self) -> str | None:
        """Our category for nDPI's label, None when the policy does not concern it."""
        master, _, app = self.label.partition(".")
        if master == "DNS":
            return None
        if self.label in NDPI_LABEL_CATEGORY:
            return NDPI_LABEL_CATEGORY[self.label]
        if master in MAIL_LABELS and _internal(self.server) and not _internal(self.client):
            return None
        return NDPI_CATEGORY.get(app) or NDPI_CATEGORY.get(master)

    @property
    def trusted(self) -> bool:
        """nDPI identified the application by inspection (not by port or address guess)."""
        return self.confidence in TRUSTED and self.label not in GENERIC


def _internal(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return any(a in ipaddress.ip_network(n) for n in INTERNAL)


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
        a, b = _endpoint(m["a"]), _endpoint(m["b"])
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
    """A sink that keeps (key, category, service, evidence) of each record in memory."""

    name = "collect"

    def __init__(self) -> None:
        self.rows: list[tuple[Key, str | None, str | None, str | None, str]] = []
        self._buf = RecordBuffer()

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self._buf.append(flow, reason)

    def flush(self, force: bool = False) -> None:
        pass

    def close(self) -> None:
        t = self._buf.take()
        if t is None:
            return
        for r in t.select(
            [
                "proto",
                "src_ip",
                "src_port",
                "dest_ip",
                "dest_port",
                "category",
                "service",
                "evidence",
                "action",
            ]
        ).to_pylist():
            if r["proto"] not in ("TCP", "UDP"):
                continue
            key = (
                r["proto"],
                frozenset(((r["src_ip"], r["src_port"]), (r["dest_ip"], r["dest_port"]))),
            )
            self.rows.append((key, r["category"], r["service"], r["evidence"], r["action"]))


def classify_capture(
    pcap: Path, cfg: SensorConfig | None = None
) -> list[tuple[Key, str | None, str | None, str | None, str]]:
    """Replay one capture through the real pipeline; the classified records."""
    sink = _Collect()
    Pipeline(cfg or SensorConfig(), [sink]).run([open_capture(pcap)])
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


def evaluate(
    corpus: Path, cfg: SensorConfig | None = None, only: Iterable[str] = ()
) -> dict[str, Score]:
    """Scores per category over every capture that has an nDPI result."""
    scores: dict[str, Score] = defaultdict(Score)
    wanted = set(only)
    for out in reference_files(corpus):
        pcap = corpus / "pcaps" / out.name.removesuffix(".out")
        if not pcap.exists() or (wanted and pcap.name not in wanted):
            continue
        refs: dict[Key, RefFlow] = {}
        for r in parse_out(out):
            refs.setdefault(r.key, r)
        ours: dict[Key, Counter[str | None]] = defaultdict(Counter)
        detail: dict[Key, str] = {}
        for key, cat, service, evidence, _ in classify_capture(pcap, cfg):
            ours[key][cat] += 1
            if cat:
                detail[key] = f"{service}: {evidence}"
        for key, counts in ours.items():
            cat = max((c for c in counts if c), key=lambda c: counts[c], default=None)
            ref = refs.get(key)
            where = f"{pcap.name} {key[0]} {sorted(key[1])}"
            if ref is None or not ref.trusted:
                if cat:
                    scores[cat].unreferenced += 1
                continue
            want = ref.category
            if want and cat == want:
                scores[want].tp += 1
                continue
            if want:
                scores[want].fn += 1
                scores[want].misses.append(f"{where} nDPI={ref.label} ours={cat}")
            if cat:
                scores[cat].fp += 1
                scores[cat].false.append(f"{where} nDPI={ref.label} ours={cat} ({detail.get(key)})")
    return dict(scores)


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


def main(argv: list[str]) -> int:
    from tests.conftest import CORPUS, REPO

    write = "--write-docs" in argv
    scores = evaluate(CORPUS, only=[a for a in argv if not a.startswith("-")])
    print(table(scores))
    if write:
        docs = REPO / "docs" / "accuracy.md"
        head, rest = docs.read_text().split("<!-- table:begin -->\n")
        tail = rest.split("<!-- table:end -->")[1]
        docs.write_text(f"{head}<!-- table:begin -->\n{table(scores)}<!-- table:end -->{tail}")
    for cat, s in sorted(scores.items()):
        for m in s.misses:
            print(f"MISS {cat}: {m}")
        for m in s.false:
            print(f"FP   {cat}: {m}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
