"""Community ID v1: every flow's value equals tshark's (`--enable-protocol communityid`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import corpus_pcaps
from tests.corpus.test_tshark_flows import EXCEPTIONS
from tests.corpus.tshark import packet_fields, require_tshark


def _tshark_ids(path: Path) -> dict[tuple[str, frozenset], set[str]]:  # type: ignore[type-arg]
    """(proto, {endpoints}) -> community ids tshark gives that flow's packets."""
    out: dict[tuple[str, frozenset], set[str]] = {}  # type: ignore[type-arg]
    for f in packet_fields(path, "(tcp or udp) and not icmp and not icmpv6"):
        proto = "TCP" if f["tcp.srcport"] else "UDP"
        src = (f["ipv6.src"] or f["ip.src"], int(f["tcp.srcport"] or f["udp.srcport"]))
        dst = (f["ipv6.dst"] or f["ip.dst"], int(f["tcp.dstport"] or f["udp.dstport"]))
        out.setdefault((proto, frozenset({src, dst})), set()).add(f["communityid"])
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_pcaps(), ids=lambda p: p.name)
def test_community_ids_equal_tsharks(path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    require_tshark()
    if path.name in EXCEPTIONS:
        pytest.xfail(EXCEPTIONS[path.name])
    theirs = _tshark_ids(path)
    db, _ = replay([path])
    rows = db.execute(
        "SELECT DISTINCT proto, src_ip, src_port, dest_ip, dest_port, "
        "community_id FROM flows WHERE proto IN ('TCP', 'UDP')"
    ).fetchall()
    checked = 0
    for proto, s, sp, d, dp, cid in rows:
        want = theirs.get((proto, frozenset({(s, sp), (d, dp)})))
        if want:  # tshark saw this conversation (it does not for CAPWAP-inner frames, ...)
            assert want == {cid}, (proto, s, sp, d, dp)
            checked += 1
    assert checked or not rows


@pytest.mark.corpus
@pytest.mark.parametrize(
    "name", ["icmp-tunnel.pcap", "iphone.pcap"]
)  # v4 echo; v6 ND, MLD, v4 errors
def test_icmp_community_ids_equal_tsharks(name: str, corpus_dir: Path, replay) -> None:  # type: ignore[no-untyped-def]
    """ICMP and ICMPv6 use type/code as ports, paired request/reply types share a flow."""
    require_tshark()
    path = corpus_dir / "pcaps" / name
    theirs = {f["communityid"] for f in packet_fields(path, "icmp or icmpv6")}
    db, _ = replay([path])
    ours = {
        r[0]
        for r in db.execute(
            "SELECT DISTINCT community_id FROM flows WHERE proto IN ('ICMP', 'IPv6-ICMP')"
        ).fetchall()
    }
    assert ours and ours == theirs
