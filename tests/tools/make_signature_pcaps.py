"""Write the small captures in pcaps/ that signatures name in `tests:` and the benign set.

Run `python -m tests.tools.make_signature_pcaps` from the repository root. The output is
deterministic. Each capture is one conversation shaped as the real client sends it: a TLS
ClientHello with the service's name, an HTTP request, a protocol's first bytes; flows that
signatures judge by volume (a radio stream, a large download) are truncated to their
headers with the original frame length kept, as a capture with a small snap length would.
Addresses: workstations in 10.20.0.0/16 (the example site's), servers in documentation
ranges unless a signature needs the service's own.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from scapy.packet import Packet

from tests.tools.synth import client_hello, tcp_session, udp_exchange

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "pcaps"
T0 = 1_764_086_400.0  # 2025-11-25 16:00 UTC, 10:00 on a Tuesday in America/Chicago
WS = "10.20.1.15"
TLS_REPLY = b"\x16\x03\x03\x00\x5a\x02" + b"\0" * 90


def tls(sni: str | None, server: str = "203.0.113.10", port: int = 443) -> list[Packet]:
    return tcp_session(
        (WS, 50100), (server, port), T0, [(True, client_hello(sni)), (False, TLS_REPLY)]
    )


def http(host: str, path: str = "/", extra: bytes = b"", reply: bytes = b"") -> list[Packet]:
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/8.5.0\r\n".encode()
    req += extra + b"\r\n"
    reply = reply or b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    return tcp_session((WS, 50101), ("203.0.113.11", 80), T0, [(True, req), (False, reply)])


def _icy() -> list[Packet]:
    req = (
        b"GET /stream HTTP/1.1\r\nHost: radio.example.net:8000\r\nIcy-MetaData: 1\r\n"
        b"User-Agent: VLC/3.0.20 LibVLC/3.0.20\r\n\r\n"
    )
    rep = b"ICY 200 OK\r\nicy-name: Test FM\r\nicy-br: 128\r\ncontent-type: audio/mpeg\r\n\r\n"
    data = [(True, req), (False, rep)] + [(False, b"\xff\xfb\x90\x64" + b"\x55" * 1200)] * 10
    return tcp_session((WS, 50102), ("203.0.113.12", 8000), T0, data, gap=0.1)


def _audio_http() -> list[Packet]:
    req = b"GET /live.mp3 HTTP/1.1\r\nHost: stream.example.net\r\nUser-Agent: Mozilla/5.0\r\n\r\n"
    rep = b"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nCache-Control: no-cache\r\n\r\n"
    data = [(True, req), (False, rep)] + [(False, b"\xff\xfb" + b"\x44" * 1300)] * 40
    return tcp_session((WS, 50103), ("203.0.113.13", 80), T0, data, gap=1.0)


def _steady_stream() -> list[Packet]:
    """330 s of a 70 kbit/s download with nothing that names it: the behaviour rule."""
    data: list[tuple[bool, bytes]] = [(True, b"\x01\x00\x00\x10" + b"\x00" * 12)]
    for _ in range(330 * 6 // 2):
        data += [(False, b"\x9a" * 1448), (False, b"\x9b" * 1448), (True, b"")]
    return tcp_session((WS, 50104), ("198.51.100.44", 7000), T0, data, gap=1 / 9)


def _large_download() -> list[Packet]:
    """One 2.1 GB download (frames truncated; original lengths kept)."""
    req = b"GET /disk.iso HTTP/1.1\r\nHost: mirror.example.org\r\n\r\n"
    rep = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
    data = [(True, req), (False, rep)] + [(False, b"\x00" * 1448)] * 32_500
    return tcp_session((WS, 50105), ("198.51.100.45", 80), T0, data, gap=0.001)


def _large_upload() -> list[Packet]:
    req = b"PUT /backup.tar HTTP/1.1\r\nHost: files.example.org\r\n\r\n"
    done = (False, b"HTTP/1.1 201 Created\r\n\r\n")
    data = [(True, req), *[(True, b"\x00" * 1448)] * 16_000, done]
    return tcp_session((WS, 50106), ("198.51.100.46", 80), T0, data, gap=0.001)


def _inbound_http() -> list[Packet]:
    req = b"GET / HTTP/1.1\r\nHost: 10.20.1.15\r\nUser-Agent: Mozilla/5.0\r\n\r\n"
    rep = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n\r\nhello"
    return tcp_session(("198.51.100.99", 61000), (WS, 80), T0, [(True, req), (False, rep)])


def _vnc() -> list[Packet]:
    return tcp_session(
        (WS, 50107),
        ("203.0.113.14", 5900),
        T0,
        [(False, b"RFB 003.008\n"), (True, b"RFB 003.008\n"), (False, b"\x01\x02")],
    )


def _xmpp() -> list[Packet]:
    hello = (
        b"<?xml version='1.0'?><stream:stream to='jabber.example.org' xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
    rep = b"<?xml version='1.0'?><stream:stream from='jabber.example.org' id='x1'>"
    return tcp_session((WS, 50108), ("203.0.113.15", 5222), T0, [(True, hello), (False, rep)])


def _rustdesk_rendezvous() -> list[Packet]:
    return tcp_session(
        (WS, 50109), ("203.0.113.16", 21116), T0, [(True, b"\x00" * 24), (False, b"\x00" * 12)]
    )


def _dhcp_offer() -> list[Packet]:
    """A home router on an office port answering a DHCP discover."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    mac = "30:b5:c2:11:22:33"  # a TP-Link OUI
    disc = (
        Ether(src="02:00:00:00:00:0c", dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex("02000000000c"), xid=0x1234)
        / DHCP(options=[("message-type", "discover"), "end"])
    )
    offer = (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
             / IP(src="192.168.0.1", dst="255.255.255.255") / UDP(sport=67, dport=68)
             / BOOTP(op=2, yiaddr="192.168.0.100", siaddr="192.168.0.1",
                     chaddr=bytes.fromhex("02000000000c"), xid=0x1234)
             / DHCP(options=[("message-type", "offer"), ("server_id", "192.168.0.1"),
                             ("lease_time", 86400), ("router", "192.168.0.1"), "end"]))  # fmt: skip
    disc.time, offer.time = T0, T0 + 0.01
    return [disc, offer]


def _ssdp_igd() -> list[Packet]:
    """A home router announcing itself as a UPnP Internet gateway."""
    notify = (
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
        b"LOCATION: http://10.20.1.254:1900/igd.xml\r\n"
        b"NT: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nNTS: ssdp:alive\r\n"
        b"SERVER: Linux/3.14 UPnP/1.0 MiniUPnPd/2.1\r\n"
        b"USN: uuid:1234::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"
    )
    return udp_exchange(("10.20.1.254", 1900), ("239.255.255.250", 1900), T0, [(True, notify)])


def _h323_setup() -> list[Packet]:
    """A Q.931 SETUP in TPKT (RFC 1006) to the H.225.0 call-signalling port."""
    q931 = b"\x08\x02\x00\x01\x05" + b"\x04\x03\x88\x93\xa5" + b"\x7e\x00\x10" + b"\x05" * 16
    tpkt = b"\x03\x00" + struct.pack(">H", 4 + len(q931)) + q931
    return tcp_session((WS, 50120), ("203.0.113.20", 1720), T0, [(True, tpkt)])


def _mgcp_rqnt() -> list[Packet]:
    cmd = b"RQNT 1201 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nN: ca@ca1.whatever.net:5678\r\n"
    return udp_exchange(
        (WS, 2427), ("203.0.113.21", 2727), T0, [(True, cmd), (False, b"200 1201 OK\r\n")]
    )


def _megaco() -> list[Packet]:
    msg = b"MEGACO/1 [124.124.124.222]:55555\nTransaction = 9998 {\n Context = - {\n"
    msg += b"  ServiceChange = ROOT {Services {Method=Restart, ServiceChangeAddress=55555}}}}\n"
    return udp_exchange((WS, 2944), ("203.0.113.22", 2944), T0, [(True, msg)])


def _sccp_register() -> list[Packet]:
    """A phone's RegisterMessage (id 0x0001): little-endian length, version 0, message id."""
    body = struct.pack("<I", 0x0001) + b"SEP001122334455\x00" + b"\x00" * 12
    msg = struct.pack("<II", len(body), 0) + body
    return tcp_session((WS, 50121), ("203.0.113.23", 2000), T0, [(True, msg)])


def _teamspeak3_init() -> list[Packet]:
    """A client's first init packet: MAC "TS3INIT1", packet id 0x65, client id 0, type 0x88."""
    pkt = b"TS3INIT1" + b"\x00\x65\x00\x00\x88" + b"\x06\x3b\xec\xe9" + b"\x00" * 21
    return udp_exchange((WS, 50122), ("203.0.113.24", 9987), T0, [(True, pkt)])


def _irc_register() -> list[Packet]:
    greet = b":irc.example.net NOTICE * :*** Looking up your hostname...\r\n"
    reg = b"NICK alice\r\nUSER alice 0 * :Alice\r\n"
    return tcp_session((WS, 50123), ("203.0.113.25", 6667), T0, [(False, greet), (True, reg)])


def _xdmcp_query() -> list[Packet]:
    """XDMCP Query (opcode 2) with an empty authentication-name list."""
    return udp_exchange(
        (WS, 50124), ("203.0.113.26", 177), T0, [(True, b"\x00\x01\x00\x02\x00\x01\x00")]
    )


def _l2tp_sccrq() -> list[Packet]:
    """An L2TPv2 SCCRQ: T/L/S bits, version 2, length, tunnel 0, session 0, Ns/Nr, one AVP."""
    avp = b"\x80\x08\x00\x00\x00\x00\x00\x01"
    body = b"\x00\x00\x00\x00\x00\x00\x00\x00" + avp
    msg = b"\xc8\x02" + struct.pack(">H", 4 + len(body)) + body
    return udp_exchange((WS, 1701), ("203.0.113.27", 1701), T0, [(True, msg)])


def _dnscrypt() -> list[Packet]:
    """A DNSCrypt query (client magic, key, nonce, box) and the resolver's r6fnvWj8 answer."""
    query = bytes(range(8)) + b"\x11" * 32 + b"\x22" * 12 + b"\x33" * 200
    answer = b"r6fnvWj8" + b"\x22" * 24 + b"\x44" * 160
    cert_q = b"\x7f\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    cert_q += b"\x012\x0ddnscrypt-cert\x07example\x03net\x00\x00\x10\x00\x01"
    return (
        udp_exchange((WS, 50125), ("203.0.113.28", 443), T0, [(True, query), (False, answer)])
        + udp_exchange((WS, 50130), ("203.0.113.28", 443), T0 + 1, [(True, cert_q)])
        + udp_exchange(
            (WS, 50132),
            ("203.0.113.28", 443),
            T0 + 2,
            [(True, cert_q[:12] + b"\x012\x09securedns\x07example\x03com\x00\x00\x10\x00\x01")],
        )
    )


def _warp_wireguard() -> list[Packet]:
    """A WireGuard handshake initiation to a WARP ingress address on UDP 2408."""
    init = b"\x01\x00\x00\x00" + b"\x5a" * 144
    return udp_exchange((WS, 50126), ("162.159.193.5", 2408), T0, [(True, init)])


def _nmdc_lock() -> list[Packet]:
    lock = b"$Lock EXTENDEDPROTOCOL_verlihub Pk=version0.9.8e-r2|$HubName Example|"
    return tcp_session(
        (WS, 50127), ("203.0.113.29", 411), T0, [(False, lock), (True, b"$Supports |")]
    )


def _ssh_outbound() -> list[Packet]:
    ex = [(False, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), (True, b"SSH-2.0-OpenSSH_9.6\r\n")]
    return tcp_session((WS, 50128), ("203.0.113.30", 22), T0, ex)


def _telnet_outbound() -> list[Packet]:
    ex = [(False, b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23"), (True, b"\xff\xfb\x18\xff\xfc\x20")]
    return tcp_session((WS, 50129), ("203.0.113.31", 23), T0, ex)


def _rsh_outbound() -> list[Packet]:
    return tcp_session(
        (WS, 1022), ("203.0.113.32", 514), T0, [(True, b"0\x00alice\x00alice\x00ls\x00")]
    )


def _agora_udp() -> list[Packet]:
    """A client joining an Agora edge server by name on UDP 8130."""
    join = b"\x00\x5a\x38\x4c\x00\x00\x21\x00" + b"\x00" * 4 + b"\x04SNI\x00\x1c\x00"
    join += b"203-0-113-33.edge.agora.io" + b"PDMD\x00\x00"
    return udp_exchange((WS, 50131), ("203.0.113.33", 8130), T0, [(True, join)])


def _fully_encrypted() -> list[Packet]:
    """A Shadowsocks-like exchange: random bytes both ways from the first payload on."""
    import random

    rnd = random.Random(2023)
    up, down = rnd.randbytes(380), rnd.randbytes(290)
    return tcp_session((WS, 50133), ("203.0.113.34", 8388), T0, [(True, up), (False, down)])


def _benign_office() -> list[Packet]:
    p = tls("www.example.org")
    p += tls("github.com", "203.0.113.20")
    p += tls("login.microsoftonline.com", "203.0.113.21")
    p += http("www.mo.gov")
    query = b"\x12\x34\x01\x00" + b"\0" * 8
    p += udp_exchange((WS, 53100), ("10.20.0.53", 53), T0, [(True, query)])
    return p


CAPTURES: dict[str, Callable[[], Sequence[Packet]]] = {
    "ai/chatgpt-web-tls.pcap": lambda: tls("chatgpt.com"),
    "ai/openai-api-tls.pcap": lambda: tls("api.openai.com"),
    "ai/openai-web-http.pcap": lambda: http("openai.com"),
    "ai/copilot-web-tls.pcap": lambda: tls("copilot.microsoft.com"),
    "ai/gemini-web-tls.pcap": lambda: tls("gemini.google.com"),
    "ai/gemini-api-tls.pcap": lambda: tls("generativelanguage.googleapis.com"),
    "ai/claude-web-tls.pcap": lambda: tls("claude.ai"),
    "ai/anthropic-api-tls.pcap": lambda: tls("api.anthropic.com"),
    "ai/perplexity-web-tls.pcap": lambda: tls("www.perplexity.ai"),
    "ai/deepseek-web-tls.pcap": lambda: tls("chat.deepseek.com"),
    "ai/mistral-web-tls.pcap": lambda: tls("chat.mistral.ai"),
    "ai/grok-web-tls.pcap": lambda: tls("grok.com"),
    "ai/poe-web-tls.pcap": lambda: tls("poe.com"),
    "ai/character-web-tls.pcap": lambda: tls("character.ai"),
    "ai/huggingface-web-tls.pcap": lambda: tls("huggingface.co"),
    "ai/meta-ai-web-tls.pcap": lambda: tls("www.meta.ai"),
    "radio/icy-stream.pcap": _icy,
    "radio/http-audio-stream.pcap": _audio_http,
    "radio/tunein-tls.pcap": lambda: tls("opml.radiotime.com"),
    "radio/spotify-tls.pcap": lambda: tls("audio-fa.scdn.co"),
    "radio/unknown-station-steady.pcap.gz": _steady_stream,
    "im/signal-tls.pcap": lambda: tls("chat.signal.org"),
    "im/kik-tls.pcap": lambda: tls("kik.com"),
    "im/imo-tls.pcap": lambda: tls("imo.im"),
    "im/xmpp-stream.pcap": _xmpp,
    "remote/rustdesk-tls.pcap": lambda: tls("rs-ny.rustdesk.com"),
    "remote/rustdesk-rendezvous.pcap": _rustdesk_rendezvous,
    "remote/vnc-rfb.pcap": _vnc,
    "circumvention/doh-by-address.pcap": lambda: tls(None, "1.1.1.1"),
    "servers/inbound-http.pcap": _inbound_http,
    "transfers/large-download.pcap.gz": _large_download,
    "transfers/large-upload.pcap.gz": _large_upload,
    "rogue/dhcp-offer.pcap": _dhcp_offer,
    "rogue/ssdp-igd-notify.pcap": _ssdp_igd,
    "voip/h323-setup.pcap": _h323_setup,
    "voip/mgcp-rqnt.pcap": _mgcp_rqnt,
    "voip/megaco-service-change.pcap": _megaco,
    "voip/sccp-register.pcap": _sccp_register,
    "voip/teamspeak3-init.pcap": _teamspeak3_init,
    "voip/agora-tls.pcap": lambda: tls("webrtc2-ap-web-1.agora.io"),
    "voip/agora-udp.pcap": _agora_udp,
    "im/irc-register.pcap": _irc_register,
    "remote/xdmcp-query.pcap": _xdmcp_query,
    "circumvention/l2tp-sccrq.pcap": _l2tp_sccrq,
    "circumvention/dnscrypt.pcap": _dnscrypt,
    "circumvention/warp-wireguard.pcap": _warp_wireguard,
    "circumvention/icloud-private-relay-tls.pcap": lambda: tls("mask-h2.icloud.com"),
    "p2p/nmdc-lock.pcap": _nmdc_lock,
    "remote/ssh-outbound.pcap": _ssh_outbound,
    "remote/telnet-outbound.pcap": _telnet_outbound,
    "remote/rsh-outbound.pcap": _rsh_outbound,
    "circumvention/fully-encrypted.pcap": _fully_encrypted,
    "benign/office-browsing.pcap": _benign_office,
}

SNAP = 96
TRUNCATE_OVER = 200  # in TRUNCATED captures, longer frames keep SNAP bytes and their length
TRUNCATED = frozenset(
    {
        "radio/unknown-station-steady.pcap.gz",
        "transfers/large-download.pcap.gz",
        "transfers/large-upload.pcap.gz",
    }
)
WIRE_SCALE = {"transfers/large-download.pcap.gz": 44, "transfers/large-upload.pcap.gz": 44}
"""Large transfers: each 1448-byte segment stands for this many (a GRO/TSO capture sees
super-frames of up to 64 KB), so 2 GB fit in a small file."""


def write(path: Path, packets: Sequence[Packet], scale: int = 1, truncate: bool = False) -> None:
    """A classic pcap (microsecond, Ethernet); long frames truncated, original length kept."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for pkt in sorted(packets, key=lambda p: float(p.time)):
        raw = bytes(pkt)
        wire = len(raw)
        if truncate and wire > TRUNCATE_OVER:
            raw = raw[:SNAP]
            wire = (wire - 54) * scale + 54 if scale > 1 else wire
        t = float(pkt.time)
        sec = int(t)
        usec = round((t - sec) * 1e6)
        out += struct.pack("<IIII", sec, usec, len(raw), wire) + raw
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(bytes(out), mtime=0))
    else:
        path.write_bytes(bytes(out))


def main() -> None:
    for name, build in CAPTURES.items():
        write(OUT / name, build(), WIRE_SCALE.get(name, 1), name in TRUNCATED)
        print(OUT / name)


if __name__ == "__main__":
    main()
