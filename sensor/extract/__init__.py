"""App-layer extractors: each a small pure parser plus an Extractor; listed explicitly here."""

from __future__ import annotations

from sensor.extract.banners import RdpExtractor, SshExtractor, VncExtractor
from sensor.extract.base import ByteBudget, Extractor
from sensor.extract.bittorrent import BitTorrentExtractor
from sensor.extract.certs import Certificates
from sensor.extract.dhcp import DhcpExtractor
from sensor.extract.dns import DnsExtractor
from sensor.extract.dtls import DtlsExtractor
from sensor.extract.gnutella import GnutellaExtractor
from sensor.extract.gquic import GquicExtractor
from sensor.extract.http import HttpExtractor
from sensor.extract.inspector import Inspector
from sensor.extract.names import DnsNames
from sensor.extract.ntp import NtpExtractor
from sensor.extract.openvpn import OpenVpnExtractor
from sensor.extract.quic import QuicExtractor
from sensor.extract.rtp import RtpExtractor
from sensor.extract.sip import SipExtractor
from sensor.extract.socks import SocksExtractor
from sensor.extract.ssdp import SsdpExtractor
from sensor.extract.starttls import StartTlsExtractor
from sensor.extract.stun import StunExtractor
from sensor.extract.tls import HelloPrints, TlsExtractor

__all__ = [
    "ByteBudget",
    "Certificates",
    "DnsNames",
    "Extractor",
    "HelloPrints",
    "Inspector",
    "default_extractors",
]


def default_extractors(
    names: DnsNames,
    buffers: ByteBudget | None = None,
    prints: HelloPrints | None = None,
    certs: Certificates | None = None,
) -> list[Extractor]:
    """Every extractor, in probe order (cheap and specific first). `buffers`: the budget of
    bytes TLS, QUIC, HTTP heads and DNS over TCP may buffer, all flows together (None:
    unbounded);
    `prints`: the hello fingerprint cache TLS, QUIC and DTLS share; `certs`: TLS's
    certificate cache (None: new ones)."""
    buffers = buffers if buffers is not None else ByteBudget(1 << 62)
    prints = prints if prints is not None else HelloPrints()
    return [
        TlsExtractor(buffers, prints, certs),
        HttpExtractor(buffers),
        SshExtractor(),
        RdpExtractor(),
        VncExtractor(),
        StartTlsExtractor(),
        SocksExtractor(),
        BitTorrentExtractor(),
        GnutellaExtractor(),
        OpenVpnExtractor(),
        QuicExtractor(buffers, prints),
        DtlsExtractor(prints),
        GquicExtractor(),
        DnsExtractor(names, buffers),
        DhcpExtractor(),
        SsdpExtractor(),
        NtpExtractor(),
        SipExtractor(),
        StunExtractor(),
        RtpExtractor(),
    ]
