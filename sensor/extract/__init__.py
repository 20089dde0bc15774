"""App-layer extractors: each a small pure parser plus an Extractor; listed explicitly here."""

from __future__ import annotations

from sensor.extract.base import Extractor
from sensor.extract.dns import DnsExtractor
from sensor.extract.http import HttpExtractor
from sensor.extract.inspector import Inspector
from sensor.extract.names import DnsNames
from sensor.extract.tls import TlsExtractor

__all__ = ["DnsNames", "Extractor", "Inspector", "default_extractors"]


def default_extractors(names: DnsNames) -> list[Extractor]:
    """Every extractor, in probe order (cheap and specific first)."""
    return [TlsExtractor(), HttpExtractor(), DnsExtractor(names)]
