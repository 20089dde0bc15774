"""Clear-text server certificates (TLS <= 1.2): subject, issuer and names, via `cryptography`."""

from __future__ import annotations

import hashlib
import warnings

from sensor.extract.base import MAX_NAME
from sensor.extract.sizedcache import SizedCache

__all__ = ["MAX_CERT_TEXT", "MAX_SAN_NAMES", "Certificates", "describe_certificate"]

MAX_CERT_TEXT = 4096
"""Characters kept of a subject or an issuer: the longest in the corpora is 1,035 (nDPI's
tls-rdn-extract.pcap), a forged one could fill the 64 KB a handshake may buffer."""
MAX_SAN_NAMES = 50
"""DNS names kept of the subject alternative names, each at most MAX_NAME (255) characters;
real lists of 50 names join to 1,000-1,600 characters."""
_ENTRY_BYTES = 448
"""A kept certificate beside its strings' characters: the dict slot, the 16-byte key, the
tuple of pairs and the strings' headers (tracemalloc: ~420; the test holds it above)."""

Fields = tuple[tuple[str, str], ...]


class Certificates(SizedCache[bytes, Fields]):
    """Certificate fields by certificate: servers send the same few again and again, and
    parsing X.509 costs ~200 µs.

    One per TLS extractor (so one per pipeline), never process-wide. Keyed by a 16-byte
    BLAKE2b digest of the DER, not the DER itself (a forged certificate may be 64 KB), and
    bounded in certificates and in bytes (`SizedCache`; the characters kept plus
    _ENTRY_BYTES each: a real one is 0.5-2 KB, so 4 MB holds thousands)."""

    __slots__ = ()

    def __init__(self, limit: int = 4096, max_bytes: int = 4 << 20) -> None:
        super().__init__(limit, max_bytes)

    def describe(self, msg: bytes) -> dict[str, str]:
        """Fields of the first certificate of a Certificate handshake message (type 11)."""
        der = _first_der(msg)
        if der is None:
            return {}
        key = hashlib.blake2b(der, digest_size=16).digest()
        hit = self.get(key)
        if hit is None:
            hit = _describe_der(der)
            self.put(key, hit, _ENTRY_BYTES + sum(len(k) + len(v) for k, v in hit))
        return dict(hit)


def describe_certificate(msg: bytes) -> dict[str, str]:
    """`Certificates.describe` without a cache (tests, tools)."""
    der = _first_der(msg)
    return dict(_describe_der(der)) if der is not None else {}


def _first_der(msg: bytes) -> bytes | None:
    """The first certificate's DER in a Certificate message, None if it is not whole."""
    if len(msg) < 10 or msg[0] != 11:
        return None
    first = int.from_bytes(msg[7:10], "big")
    der = msg[10 : 10 + first]
    return der if len(der) == first else None


def _describe_der(der: bytes) -> Fields:
    from cryptography import x509  # imported at the first certificate: 40-100 ms at start-up

    try:
        with warnings.catch_warnings():
            # A serial of zero or below (RFC 5280 forbids it; real servers send it) makes
            # cryptography warn on stderr: a line any sender could print in the sensor's log.
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
        out = {
            "tls.cert_subject": cert.subject.rfc4514_string()[:MAX_CERT_TEXT],
            "tls.cert_issuer": cert.issuer.rfc4514_string()[:MAX_CERT_TEXT],
        }
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = san.value.get_values_for_type(x509.DNSName)
            if names:
                out["tls.cert_san"] = ",".join(n[:MAX_NAME] for n in names[:MAX_SAN_NAMES])
        except x509.ExtensionNotFound:
            pass
        return tuple(out.items())
    except (ValueError, TypeError, IndexError):
        return ()
