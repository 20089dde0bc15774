"""Write sensor/data/demo.pcapng: a few minutes of a small office, one flow per story.

Run `python -m tests.tools.make_demo_pcap` from the repository root; the output is
deterministic, so the committed file only changes when this script does.
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import PcapNgWriter

from tests.tools.synth import client_hello, tcp_session, udp_exchange

OUT = Path(__file__).resolve().parents[2] / "sensor" / "data" / "demo.pcapng"
T0 = 1_764_086_400.0  # 2025-11-25 16:00 UTC: 10:00 on a Tuesday in Missouri (America/Chicago)
WS1, WS2, WS3 = "10.20.1.11", "10.20.1.12", "10.20.1.13"
RESOLVER = "10.20.0.53"


def _dns(client: str, t: float, name: str, answer: str) -> list[Packet]:
    q = DNS(id=7, rd=1, qd=DNSQR(qname=name))
    a = DNS(id=7, qr=1, ra=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, ttl=300, rdata=answer))
    return udp_exchange(
        (client, 53000 + int(t) % 1000), (RESOLVER, 53), t, [(True, bytes(q)), (False, bytes(a))]
    )


def packets() -> list[Packet]:
    """The demo's packets in time order."""
    p: list[Packet] = []
    p += _dns(WS1, T0, "chatgpt.com", "104.18.32.47")
    p += tcp_session(
        (WS1, 50110),
        ("104.18.32.47", 443),
        T0 + 0.1,
        [(True, client_hello("chatgpt.com")), (False, b"\x16\x03\x03" + b"\0" * 90)],
    )
    radio_req = (
        b"GET /stream HTTP/1.1\r\nHost: ice1.somafm.com\r\nIcy-MetaData: 1\r\n"
        b"User-Agent: VLC/3.0.20 LibVLC/3.0.20\r\n\r\n"
    )
    radio = [
        (True, radio_req),
        (
            False,
            b"ICY 200 OK\r\nicy-name: Groove Salad\r\n"
            b"icy-br: 128\r\ncontent-type: audio/mpeg\r\n\r\n",
        ),
    ]
    radio += [(False, b"\xff\xfb" + b"\x55" * 1200) for _ in range(40)]
    p += tcp_session((WS2, 50220), ("173.239.76.148", 80), T0 + 1.0, radio, gap=0.05)
    bt = b"\x13BitTorrent protocol" + b"\0" * 8 + b"\xaa" * 20 + b"-qB4650-" + b"x" * 12
    p += tcp_session((WS3, 50330), ("203.0.113.77", 6881), T0 + 2.0, [(True, bt), (False, bt)])
    p += tcp_session(
        (WS1, 50111),
        ("13.107.42.14", 443),
        T0 + 3.0,
        [(True, client_hello("teams.microsoft.com")), (False, b"\x16\x03\x03" + b"\0" * 90)],
    )
    p += tcp_session(
        (WS2, 50221),
        ("192.0.2.10", 22),
        T0 + 4.0,
        [(True, b"SSH-2.0-OpenSSH_9.6\r\n"), (False, b"SSH-2.0-OpenSSH_8.9p1\r\n")],
    )
    ntp = (
        Ether() / IP(src=WS3, dst="10.20.0.1") / UDP(sport=123, dport=123) / (b"\x23" + b"\0" * 47)
    )
    ntp.time = T0 + 5.0
    p.append(ntp)
    return sorted(p, key=lambda x: float(x.time))


def main() -> None:
    """Write the capture."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with PcapNgWriter(str(OUT)) as w:
        for pkt in packets():
            w.write(pkt)
    print(OUT)


if __name__ == "__main__":
    main()
