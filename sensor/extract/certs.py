"""Clear-text server certificates (TLS <= 1.2): subject, issuer and names, via `cryptography`."""

from __future__ import annotations

import functools
import warnings

__all__ = ["describe_certificate"]


def describe_certificate(msg: bytes) -> dict[str, str]:
    """Fields of the first certificate of a Certificate handshake message (type 11)."""
    if len(msg) < 10 or msg[0] != 11:
        return {}
    first = int.from_bytes(msg[7:10], "big")
    der = msg[10 : 10 + first]
    return dict(_describe_der(der)) if len(der) == first else {}


@functools.lru_cache(maxsize=4096)
def _describe_der(der: bytes) -> tuple[tuple[str, str], ...]:
    """Parsing X.509 costs ~200 µs; servers send the same certificate again and again."""
    from cryptography import x509  # imported at the first certificate: 40-100 ms at start-up

    try:
        with warnings.catch_warnings():
            # A serial of zero or below (RFC 5280 forbids it; real servers send it) makes
            # cryptography warn on stderr: a line any sender could print in the sensor's log.
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
        out = {
            "tls.cert_subject": cert.subject.rfc4514_string(),
            "tls.cert_issuer": cert.issuer.rfc4514_string(),
        }
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = san.value.get_values_for_type(x509.DNSName)
            if names:
                out["tls.cert_san"] = ",".join(names[:50])
        except x509.ExtensionNotFound:
            pass
        return tuple(out.items())
    except (ValueError, TypeError, IndexError):
        return ()
