"""Differential test against tshark's conversation tables (`-z conv,tcp -z conv,udp`).

Why: tshark is an independent, widely trusted implementation of the same accounting (which
frames belong to which TCP/UDP conversation, and how many bytes they had on the wire). Every
capture of the shared corpus is run through both; the sensor's records, summed over all
records of a 5-tuple (timeouts may split one conversation), must give tshark's frames and
bytes in each direction. Directions are matched by endpoint, not by who the client is.

tshark prints bytes below 10 000 exactly and larger counts in whole SI units, truncated
("11 kB" is 11 000..11 999); frames are always exact. So frames are compared exactly and
bytes exactly or within the printed unit.

Where the tools legitimately differ, KNOWN lists the conversation (file + predicate) and why.
Sensor bugs go to BUGS as strict xfails, so the test flips when they are fixed. The
agreement share is printed at the end of the module (`pytest -s`) and by
`python -m tests.tools.conv_table_agreement`.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from scapy.packet import Raw
from scapy.utils import wrpcap

from tests.conftest import CORPUS, Replay, corpus_pcaps

Endpoint = tuple[str, int]
ConvKey = tuple[str, Endpoint, Endpoint]
"""(proto, lower endpoint, higher endpoint): the same for both directions."""

CID_FILES = (
    "http_ipv6.pcap",  # IPv6 TCP and UDP (QUIC)
    "icmp-tunnel.pcap",  # ICMP echo request/reply
    "iphone.pcap",  # ICMPv6 ND/MLD, ICMP errors, DHCP, v4 and v6 UDP
    "teams.pcap",  # many TCP/UDP flows and an ICMP one
    "dns2tcp_tunnel.pcap",  # Linux cooked capture
    "openvpn-tlscrypt.pcap",  # BSD loopback (null) link type, IPv6 UDP
)
"""Captures whose packets tshark also gives a Community ID (one tshark run per file)."""

PKT_FIELDS = (
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "icmp.type",
    "icmpv6.type",
    "communityid",
)
_UNITS = {"bytes": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_ROW = re.compile(
    r"^(?P<a>\S+):(?P<ap>\d+)\s+<->\s+(?P<b>\S+):(?P<bp>\d+)\s+"
    r"(?P<f_ba>\d+) (?P<n_ba>\d+) (?P<u_ba>\w+)\s+(?P<f_ab>\d+) (?P<n_ab>\d+) (?P<u_ab>\w+)\s+"
    r"(?P<f_t>\d+) \d+ \w+\s+\S+\s+\S+\s*$"
)


@dataclass(slots=True)
class Side:
    """Frames and bytes sent one way; bytes as an interval because tshark rounds them."""

    frames: int = 0
    bytes_lo: int = 0
    bytes_hi: int = 0

    def add(self, frames: int, lo: int, hi: int) -> None:
        """Sum another record or table row into this direction."""
        self.frames += frames
        self.bytes_lo += lo
        self.bytes_hi += hi

    def admits(self, ours: Side) -> bool:
        """Whether our exact numbers are what this (tshark) direction printed."""
        return ours.frames == self.frames and self.bytes_lo <= ours.bytes_lo <= self.bytes_hi

    def __str__(self) -> str:
        b = self.bytes_lo if self.bytes_lo == self.bytes_hi else f"{self.bytes_lo}..{self.bytes_hi}"
        return f"{self.frames}f/{b}B"


Conv = tuple[Side, Side]
"""(lower -> higher endpoint, higher -> lower endpoint)."""
Convs = dict[ConvKey, Conv]


def _side(convs: Convs, proto: str, src: Endpoint, dst: Endpoint) -> Side:
    """The Side of conversation src<->dst that src sent (one side when src == dst)."""
    lo, hi = min(src, dst), max(src, dst)
    conv = convs.setdefault((proto, lo, hi), (Side(), Side()))
    return conv[0] if src == lo else conv[1]


def _endpoint(text: str, port: str) -> Endpoint:
    return text, int(port)


def parse_conv_tables(text: str) -> Convs:
    """tshark's TCP and UDP conversation tables, summed per 5-tuple (tshark splits by stream).

    Raises ValueError on a line it does not understand, so a format change fails loudly.
    """
    convs: Convs = {}
    proto = ""
    for line in text.splitlines():
        if line.endswith(" Conversations"):
            proto = line.split()[0]
            continue
        if proto == "" or line.startswith(("=", "Filter:", " ")) or not line.strip():
            continue
        m = _ROW.match(line)
        if m is None:
            raise ValueError(f"unparsed tshark conversation line: {line!r}")
        a, b = _endpoint(m["a"], m["ap"]), _endpoint(m["b"], m["bp"])
        if int(m["f_ab"]) + int(m["f_ba"]) != int(m["f_t"]):
            raise ValueError(f"frames do not add up: {line!r}")
        for src, dst, f, n, u in ((a, b, "f_ab", "n_ab", "u_ab"), (b, a, "f_ba", "n_ba", "u_ba")):
            unit = _UNITS[m[u]]
            lo = int(m[n]) * unit
            _side(convs, proto, src, dst).add(int(m[f]), lo, lo + unit - 1)
    return convs


def our_conversations(db: duckdb.DuckDBPyConnection) -> Convs:
    """The sensor's TCP/UDP records summed per 5-tuple and direction (by endpoint)."""
    convs: Convs = {}
    rows = db.execute(
        "SELECT proto, src_ip, src_port, dest_ip, dest_port, sum(pkts_toserver), "
        "sum(bytes_toserver), sum(pkts_toclient), sum(bytes_toclient) FROM flows "
        "WHERE proto IN ('TCP', 'UDP') GROUP BY ALL"
    ).fetchall()
    for proto, s, sp, d, dp, p_ts, b_ts, p_tc, b_tc in rows:
        client, server = (s, sp), (d, dp)
        _side(convs, proto, client, server).add(p_ts, b_ts, b_ts)
        _side(convs, proto, server, client).add(p_tc, b_tc, b_tc)
    return convs


# --- where the tools legitimately differ, and sensor bugs -----------------------------------


@dataclass(frozen=True, slots=True)
class Known:
    """A conversation tshark and the sensor count differently on purpose."""

    reason: str
    applies: Callable[[ConvKey, Conv | None, Conv | None], bool]
    """(key, ours, tshark's) -> whether this is the excused conversation."""


def _gtp_outer(k: ConvKey, ours: Conv | None, theirs: Conv | None) -> bool:
    return k[0] == "UDP" and k[1][1] == k[2][1] == 2152 and ours is None and theirs is not None


_GTP = Known(
    "GTP-U tunnel (UDP 2152 both ends): the sensor decapsulates it and accounts each frame to "
    "the inner flow only (tunnel='gtp'; those inner conversations are compared and agree); "
    "tshark lists the outer UDP conversation as well",
    _gtp_outer,
)

KNOWN: dict[str, tuple[Known, ...]] = {
    "capwap.pcap": (
        Known(
            "DHCP inside the CAPWAP data channel (UDP 5247 carrying 802.11 frames): tshark "
            "dissects the carried frames as a conversation of their own; the sensor does not "
            "decapsulate CAPWAP and counts those frames in the CAPWAP flow (which agrees)",
            lambda k, ours, theirs: (
                k == ("UDP", ("0.0.0.0", 68), ("255.255.255.255", 67)) and ours is None
            ),
        ),
    ),
    "false_positives.pcapng": (_GTP,),
    "rtmp.pcap": (_GTP,),
    "zoom.pcap": (_GTP,),
}
"""file -> conversations excused from agreement, each with a one-line reason."""

BUGS: dict[str, str] = {}
"""file -> sensor bug that makes its conversations disagree (strict xfail until fixed).
Empty: no conversation of the corpus disagrees because of a sensor bug."""


# --- comparison -----------------------------------------------------------------------------


@dataclass(slots=True)
class FileResult:
    """Outcome for one capture."""

    total: int = 0
    agree: int = 0
    excused: list[tuple[str, str]] = field(default_factory=list)
    """(difference, reason) for conversations a KNOWN entry covers."""
    unexplained: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    """KNOWN reasons that matched no disagreeing conversation (remove them)."""


def _fmt(k: ConvKey, ours: Conv | None, theirs: Conv | None) -> str:
    def sides(c: Conv | None) -> str:
        return "absent" if c is None else f"-> {c[0]}  <- {c[1]}"

    proto, (a, ap), (b, bp) = k
    return f"{proto} {a}:{ap} <-> {b}:{bp}: sensor {sides(ours)}; tshark {sides(theirs)}"


def compare(name: str, ours: Convs, theirs: Convs) -> FileResult:
    """Match conversations of one capture; sort differences into excused and unexplained."""
    res = FileResult()
    known = KNOWN.get(name, ())
    used: set[int] = set()
    for k in sorted(set(ours) | set(theirs)):
        o, t = ours.get(k), theirs.get(k)
        res.total += 1
        if o is not None and t is not None and t[0].admits(o[0]) and t[1].admits(o[1]):
            res.agree += 1
            continue
        hit = next((i for i, kn in enumerate(known) if kn.applies(k, o, t)), None)
        if hit is None:
            res.unexplained.append(_fmt(k, o, t))
        else:
            used.add(hit)
            res.excused.append((_fmt(k, o, t), known[hit].reason))
    res.stale = [kn.reason for i, kn in enumerate(known) if i not in used]
    return res


# --- running tshark once per capture, in parallel with the replays --------------------------


@dataclass(slots=True)
class TsharkRun:
    """What one tshark pass over a capture gave: conversations and, for CID_FILES, packets."""

    convs: Convs
    packets: list[dict[str, str]]
    error: str = ""


def run_tshark(path: Path) -> TsharkRun:
    """One tshark pass: conversation tables, plus per-packet fields for CID_FILES.

    Without -q, tshark prints the packet lines first and the tables after them.
    """
    fields = path.name in CID_FILES
    cmd = ["tshark", "-n", "-r", str(path), "-z", "conv,tcp", "-z", "conv,udp"]
    if fields:
        cmd += ["--enable-protocol", "communityid", "-T", "fields", "-E", "occurrence=f"]
        for f in PKT_FIELDS:
            cmd += ["-e", f]
    else:
        cmd.append("-q")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if res.returncode != 0:
        return TsharkRun({}, [], res.stderr.strip()[-500:] or f"exit status {res.returncode}")
    packets = []
    if fields:
        for line in res.stdout.split("\n=====", 1)[0].splitlines():
            vals = line.split("\t")
            packets.append(dict(zip(PKT_FIELDS, vals + [""] * len(PKT_FIELDS), strict=False)))
    return TsharkRun(parse_conv_tables(res.stdout), packets)


class TsharkPool:
    """Runs tshark over captures on spare cores, a few files ahead of the one asked for."""

    def __init__(self, order: list[Path], workers: int | None = None) -> None:
        self._order = order
        self._pos = {p: i for i, p in enumerate(order)}
        self._ahead = max(workers or os.cpu_count() or 2, 2)
        self._ex = ThreadPoolExecutor(max_workers=self._ahead)
        self._runs: dict[Path, Future[TsharkRun]] = {}

    def _submit(self, path: Path) -> Future[TsharkRun]:
        if path not in self._runs:
            self._runs[path] = self._ex.submit(run_tshark, path)
        return self._runs[path]

    def get(self, path: Path) -> TsharkRun:
        """The run for `path` (started now if not yet), after queueing the next files."""
        fut = self._submit(path)
        i = self._pos.get(path)
        if i is not None:
            for p in self._order[i + 1 : i + 1 + 2 * self._ahead]:
                self._submit(p)
        return fut.result()

    def close(self) -> None:
        """Drop queued runs and wait for the running ones."""
        self._ex.shutdown(wait=True, cancel_futures=True)


def link_types() -> dict[str, str]:
    """File name -> link type as the corpus manifest names it (empty without a manifest)."""
    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.is_file():
        return {}
    with manifest.open(newline="") as f:
        return {r["file"]: r["link_type"] for r in csv.DictReader(f)}


@dataclass(slots=True)
class Tally:
    """Agreement over the captures compared so far, per link type and in total."""

    files: dict[str, FileResult] = field(default_factory=dict)

    def lines(self, per_file: bool = False) -> Iterator[str]:
        """Human-readable figures: optionally one line per file, then totals."""
        kinds = link_types()
        by_kind: Counter[tuple[str, str]] = Counter()
        for name, r in sorted(self.files.items()):
            kind = kinds.get(name, "?")
            by_kind[(kind, "agree")] += r.agree
            by_kind[(kind, "total")] += r.total
            if per_file and r.total:
                note = f"  ({len(r.excused)} excused)" if r.excused else ""
                note += f"  ({len(r.unexplained)} UNEXPLAINED)" if r.unexplained else ""
                yield f"{name} [{kind}]: {r.agree}/{r.total} agree{note}"
        agree = sum(r.agree for r in self.files.values())
        total = sum(r.total for r in self.files.values())
        excused = sum(len(r.excused) for r in self.files.values())
        bad = sum(len(r.unexplained) for r in self.files.values())
        kinds_txt = ", ".join(
            f"{k} {by_kind[(k, 'agree')]}/{by_kind[(k, 'total')]}"
            for k in sorted({k for k, _ in by_kind})
            if by_kind[(k, "total")]
        )
        yield (
            f"tshark conversation agreement: {agree}/{total} conversations "
            f"({100 * agree / max(total, 1):.2f}%) over {len(self.files)} captures; "
            f"{excused} differ for listed reasons, {bad} unexplained"
        )
        yield f"by link type: {kinds_txt}"


# --- fixtures and tests ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tshark() -> Iterator[TsharkPool]:
    """One tshark run per capture for the whole module, overlapping with the replays."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (tests/run.sh installs it)")
    pool = TsharkPool(corpus_pcaps())
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    """Collects per-file results; prints the agreement share when the module is done."""
    t = Tally()
    yield t
    if t.files:
        print("\n" + "\n".join(t.lines()))


def _params() -> list[object]:
    return [
        pytest.param(p, id=p.name, marks=pytest.mark.xfail(strict=True, reason=BUGS[p.name]))
        if p.name in BUGS
        else pytest.param(p, id=p.name)
        for p in corpus_pcaps()
    ]


@pytest.mark.corpus
@pytest.mark.parametrize("path", _params())
def test_conversations_match_tshark(
    path: Path, corpus_dir: Path, replay: Replay, tshark: TsharkPool, tally: Tally
) -> None:
    """Frames and bytes per conversation and direction equal tshark's conv tables."""
    run = tshark.get(path)
    if run.error:
        pytest.skip(f"tshark cannot read {path.name}: {run.error}")
    db, _ = replay([path])
    res = compare(path.name, our_conversations(db), run.convs)
    tally.files[path.name] = res
    problems = res.unexplained + [f"KNOWN entry matched nothing: {s}" for s in res.stale]
    assert not problems, f"{len(problems)} of {res.total} conversations:\n" + "\n".join(
        problems[:15]
    )


def test_comparison_catches_one_frame() -> None:
    """The comparison itself can fail: one frame or byte off, or directions swapped."""
    table = (
        "UDP Conversations\n"
        "10.0.0.1:53  <-> 10.0.0.2:40000  1 75 bytes  2 12 kB  3 12 kB  0.0  1.0\n"
    )
    theirs = parse_conv_tables(table)
    a, b = ("10.0.0.1", 53), ("10.0.0.2", 40000)

    def ours(ab: tuple[int, int], ba: tuple[int, int]) -> Convs:
        convs: Convs = {}
        _side(convs, "UDP", a, b).add(ab[0], ab[1], ab[1])
        _side(convs, "UDP", b, a).add(ba[0], ba[1], ba[1])
        return convs

    assert compare("x", ours((2, 12_345), (1, 75)), theirs).agree == 1
    for wrong in (((3, 12_345), (1, 75)), ((2, 13_000), (1, 75)), ((2, 12_345), (1, 76))):
        assert compare("x", ours(*wrong), theirs).unexplained, wrong
    assert compare("x", ours((1, 75), (2, 12_345)), theirs).unexplained  # swapped
    assert compare("x", {}, theirs).unexplained
    with pytest.raises(ValueError):
        parse_conv_tables("TCP Conversations\n10.0.0.1:1 <-> 10.0.0.2:2 garbage\n")


def test_80211_control_frames_are_not_decode_errors(tmp_path: Path, replay: Replay) -> None:
    """tshark dissects 802.11 control frames as well-formed; they carry no flow (`non_ip`).

    Regression: the frame type used to be checked after a 24-byte header length, so these
    10/16-byte frames were counted as `truncated_link`.

    Found on the corpus: the `truncated_link` decode errors of the 802.11 captures are
    exactly their frames shorter than 24 bytes, all control frames by tshark
    (wlan.fc.type == 1): handshake_not_exists.cap 871, wpa-psk-linksys.cap 205,
    wpa2-psk-linksys.cap 163, capture_wds-01.cap 77, wep.open.system.authentication.cap 4.
    """
    ra, ta = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    frames = [
        b"\xd4\x00\x00\x00" + ra,  # ACK
        b"\xc4\x00\x10\x00" + ra,  # CTS
        b"\xb4\x00\x20\x00" + ra + ta,  # RTS
    ]
    path = tmp_path / "control.pcap"
    wrpcap(str(path), [Raw(f) for f in frames], linktype=105)  # LINKTYPE_IEEE802_11
    _, summary = replay([path])
    assert (dict(summary.decode_errors), sum(summary.skipped.values())) == ({}, 3)


# --- Community ID ---------------------------------------------------------------------------

_PAIRS = {
    "ICMP": {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17},
    "IPv6-ICMP": {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131,
                  131: 130, 139: 140, 140: 139, 144: 145, 145: 144},
}  # fmt: skip
"""Community ID v1 spec: ICMP types answered by a counterpart type (both directions one ID)."""
_L4 = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "IPv6-ICMP"}


@dataclass(frozen=True, slots=True)
class Packet:
    """One tshark packet reduced to what places it in a flow, and tshark's Community ID."""

    num: int
    proto: str
    src: Endpoint
    dst: Endpoint
    cid: str


def tshark_packets(rows: list[dict[str, str]]) -> list[Packet]:
    """Packets whose first transport is TCP, UDP, ICMP or ICMPv6 (outer header of errors)."""
    out = []
    for n, r in enumerate(rows, 1):
        l4 = next((x for x in r["frame.protocols"].split(":") if x in _L4), None)
        if l4 is None:
            continue
        src, dst = r["ipv6.src"] or r["ip.src"], r["ipv6.dst"] or r["ip.dst"]
        if l4 in ("tcp", "udp"):
            sp, dp = int(r[f"{l4}.srcport"]), int(r[f"{l4}.dstport"])
        else:  # the ICMP type stands for the port; the flow decides what it pairs with
            sp, dp = int(r[f"{l4}.type"]), -1
        out.append(Packet(n, _L4[l4], (src, sp), (dst, dp), r["communityid"]))
    return out


@dataclass(frozen=True, slots=True)
class Flow:
    """One sensor record, as far as Community ID goes."""

    proto: str
    src: Endpoint
    dst: Endpoint
    cid: str


def _belongs(p: Packet, f: Flow) -> tuple[bool, bool]:
    """(packet is in the flow, its Community ID must equal the flow's).

    One-way ICMP types hash the sender first, so only the client's packets share the ID.
    """
    if f.proto in ("TCP", "UDP"):
        return (p.src, p.dst) in ((f.src, f.dst), (f.dst, f.src)), True
    if {p.src[0], p.dst[0]} != {f.src[0], f.dst[0]}:
        return False, False
    ftype, pairs = f.src[1], _PAIRS[f.proto]
    if ftype in pairs:
        return p.src[1] in (ftype, pairs[ftype]), True
    return p.src[1] == ftype, p.src[0] == f.src[0]


def community_problems(packets: list[Packet], flows: list[Flow]) -> list[str]:
    """Every packet lies in a flow whose ID tshark gives it; every flow has such packets."""
    by_pair: dict[tuple[str, frozenset[str]], list[Flow]] = {}
    for f in flows:
        by_pair.setdefault((f.proto, frozenset((f.src[0], f.dst[0]))), []).append(f)
    seen: dict[Flow, set[str]] = {f: set() for f in flows}
    problems = []
    for p in packets:
        cands = by_pair.get((p.proto, frozenset((p.src[0], p.dst[0]))), [])
        hits = [(f, same) for f in cands for inside, same in [_belongs(p, f)] if inside]
        if not hits:
            problems.append(f"frame {p.num} {p.proto} {p.src}->{p.dst}: no sensor flow")
            continue
        checked = [f for f, same in hits if same]
        for f in checked:
            seen[f].add(p.cid)
        ours = sorted({f.cid for f in checked})
        if ours and p.cid not in ours:
            where = f"frame {p.num} {p.proto} {p.src}->{p.dst}"
            problems.append(f"{where}: tshark {p.cid}, sensor {ours}")
    for f, theirs in seen.items():
        if f.cid not in theirs:
            problems.append(f"flow {f.proto} {f.src}->{f.dst} {f.cid}: tshark {sorted(theirs)}")
    return problems


def our_flows(db: duckdb.DuckDBPyConnection) -> list[Flow]:
    """Distinct TCP/UDP/ICMP records; ICMP flows carry the client's type in place of a port."""
    rows = db.execute(
        "SELECT DISTINCT proto, src_ip, coalesce(src_port, icmp_type), dest_ip, "
        "coalesce(dest_port, -1), community_id FROM flows "
        "WHERE proto IN ('TCP', 'UDP', 'ICMP', 'IPv6-ICMP')"
    ).fetchall()
    return [Flow(pr, (s, sp), (d, dp), cid) for pr, s, sp, d, dp, cid in rows]


@pytest.mark.corpus
@pytest.mark.parametrize("name", CID_FILES)
def test_community_id_matches_tshark(
    name: str, corpus_dir: Path, replay: Replay, tshark: TsharkPool
) -> None:
    """Our community_id of every TCP/UDP/ICMP flow equals tshark's for the flow's packets."""
    path = corpus_dir / "pcaps" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the corpus")
    run = tshark.get(path)
    if run.error:
        pytest.skip(f"tshark cannot read {name}: {run.error}")
    packets = tshark_packets(run.packets)
    assert packets and all(p.cid.startswith("1:") for p in packets), "tshark gave no IDs"
    db, _ = replay([path])
    flows = our_flows(db)
    problems = community_problems(packets, flows)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:15])


def test_community_check_catches_a_wrong_id() -> None:
    """The Community ID check can fail: a flow with another ID, or a packet without flow."""
    a, b = ("10.0.0.1", 40000), ("10.0.0.2", 53)
    pk = [Packet(1, "UDP", a, b, "1:x"), Packet(2, "UDP", b, a, "1:x")]
    assert not community_problems(pk, [Flow("UDP", a, b, "1:x")])
    assert community_problems(pk, [Flow("UDP", a, b, "1:y")])
    assert community_problems(pk, [])
    echo = [
        Packet(1, "ICMP", (a[0], 8), (b[0], -1), "1:e"),
        Packet(2, "ICMP", (b[0], 0), (a[0], -1), "1:e"),
    ]
    assert not community_problems(echo, [Flow("ICMP", (a[0], 8), (b[0], -1), "1:e")])
    assert community_problems(echo, [Flow("ICMP", (a[0], 3), (b[0], -1), "1:e")])
