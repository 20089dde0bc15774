"""Oracle test: app-layer fields per conversation equal what tshark dissects.

For each field, every conversation where tshark shows a value must show the same first value
in the sensor's records (the sensor keeps the first value a flow carries). Values are
compared after the normalisation the sensor documents: host names lowercase without a
trailing dot, HTTP Host without its port.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import corpus_pcaps
from tests.corpus.test_tshark_flows import EXCEPTIONS as FLOW_EXCEPTIONS
from tests.corpus.tshark import require_tshark

_SEP = "|"  # tshark takes a printable aggregator; no field compared here contains one


def _name(v: str) -> str:
    return v.lower().rstrip(".")


def _host(v: str) -> str:
    v = v.lower()
    if v.startswith("["):
        return v[1 : v.find("]")]
    return v.rsplit(":", 1)[0].rstrip(".") if v.count(":") == 1 else v.rstrip(".")


Row = dict[str, str]

# field: (which packets count, tshark field, sensor SQL expression, normalise tshark value)
FIELDS: dict[str, tuple[Callable[[Row], bool], str, str, Callable[[str], str]]] = {
    "tls_sni": (
        lambda r: r["tcp.srcport"] != "" and "1" in r["tls.handshake.type"].split(_SEP),
        "tls.handshake.extensions_server_name",
        "tls_sni",
        _name,
    ),
    "quic_sni": (
        lambda r: r["udp.srcport"] != "" and "1" in r["tls.handshake.type"].split(_SEP),
        "tls.handshake.extensions_server_name",
        "quic_sni",
        _name,
    ),
    "dns_query": (
        lambda r: r["dns.flags.response"].split(_SEP)[0] == "0",
        "dns.qry.name",
        "dns_query",
        _name,
    ),
    # over TCP: tshark also shows SSDP (HTTP over UDP) as http; the sensor files it as ssdp
    "http_host": (
        lambda r: r["tcp.srcport"] != "" and r["http.request"] != "",
        "http.host",
        "http_host",
        _host,
    ),
    "http_user_agent": (
        lambda r: r["tcp.srcport"] != "" and r["http.request"] != "",
        "http.user_agent",
        "http_user_agent",
        str,
    ),
    "ssh_client_banner": (
        lambda r: r["tcp.srcport"] > r["tcp.dstport"],
        "ssh.protocol",
        "app_meta['ssh.client_banner']",
        str,
    ),
    "dhcp_hostname": (lambda r: True, "dhcp.option.hostname", "app_meta['dhcp.hostname']", str),
    "ja3": (lambda r: r["tcp.srcport"] != "", "tls.handshake.ja3", "ja3", str),
}
_ADDRS = (
    "ip.src",
    "ipv6.src",
    "ip.dst",
    "ipv6.dst",
    "tcp.srcport",
    "udp.srcport",
    "tcp.dstport",
    "udp.dstport",
)
_EXTRA = ("tls.handshake.type", "dns.flags.response", "http.request")
_VALUES = tuple(dict.fromkeys(f[1] for f in FIELDS.values()))

# (file, field) -> why the sensor legitimately differs
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("openvpn.pcap", "ja3"): "tshark dissects the TLS handshake inside OpenVPN's control "
    "channel; the sensor stops at recognising OpenVPN (app_proto openvpn), which is what the "
    "7m signature needs",
    ("openvpn_nohmac_tcp.pcapng", "ja3"): "as openvpn.pcap",
}


@cache
def tshark_rows(path: Path) -> tuple[Row, ...]:
    """One tshark pass per capture: addresses (all occurrences) and every compared field."""
    cmd = ["tshark", "-n", "-r", str(path), "-Y", " or ".join(_VALUES), "-T", "fields",
           "-E", "occurrence=a", "-E", f"aggregator={_SEP}"]  # fmt: skip
    names = (*_ADDRS, *_EXTRA, *_VALUES)
    for f in names:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout
    rows = []
    for line in out.splitlines():
        cells = dict(zip(names, (line.split("\t") + [""] * len(names))[: len(names)],
                         strict=True))  # fmt: skip
        for a in _ADDRS:  # the innermost header of a tunnel
            cells[a] = cells[a].split(_SEP)[-1]
        rows.append(cells)
    return tuple(rows)


def tshark_values(path: Path, field: str) -> dict[frozenset, str]:  # type: ignore[type-arg]
    """Conversation -> first value tshark shows for the field."""
    keep, tfield, _, norm = FIELDS[field]
    first: dict[frozenset, str] = {}  # type: ignore[type-arg]
    for r in tshark_rows(path):
        value = r[tfield].split(_SEP)[0]
        sp, dp = r["tcp.srcport"] or r["udp.srcport"], r["tcp.dstport"] or r["udp.dstport"]
        if not value or not sp or not dp or not keep(r):
            continue
        proto = "TCP" if r["tcp.srcport"] else "UDP"
        src, dst = r["ipv6.src"] or r["ip.src"], r["ipv6.dst"] or r["ip.dst"]
        first.setdefault(frozenset({(proto, src, int(sp)), (proto, dst, int(dp))}), norm(value))
    return first


def sensor_values(db, field: str) -> dict[frozenset, str]:  # type: ignore[no-untyped-def,type-arg]
    """Conversation -> the value of the conversation's earliest record that has one."""
    expr = FIELDS[field][2]
    rows = db.execute(
        f"SELECT proto, src_ip, src_port, dest_ip, dest_port, {expr} AS v FROM flows "
        f"WHERE {expr} IS NOT NULL ORDER BY ts_start, segment"
    ).fetchall()
    out: dict[frozenset, str] = {}  # type: ignore[type-arg]
    for proto, s, sp, d, dp, v in rows:
        out.setdefault(frozenset({(proto, s, sp), (proto, d, dp)}), v)
    return out


def agreement(path: Path, db, field: str) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    """(conversations where tshark has a value, disagreements)."""
    theirs, ours = tshark_values(path, field), sensor_values(db, field)
    bad = [
        f"{sorted(c)}: tshark {v!r} sensor {ours.get(c)!r}"
        for c, v in theirs.items()
        if ours.get(c) != v
    ]
    return len(theirs), bad


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_pcaps(), ids=lambda p: p.name)
def test_fields_equal_tsharks(path: Path, replay) -> None:  # type: ignore[no-untyped-def]
    require_tshark()
    if path.name in FLOW_EXCEPTIONS:
        pytest.xfail(FLOW_EXCEPTIONS[path.name])
    db, _ = replay([path])
    problems = []
    for field in FIELDS:
        if (path.name, field) in EXCEPTIONS:
            continue
        _, bad = agreement(path, db, field)
        problems += [f"{field}: {b}" for b in bad]
    assert not problems, "\n".join(problems[:10])
