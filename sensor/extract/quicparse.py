"""QUIC Initial packets (RFC 9000 §17.2.2): derive the client's Initial keys from its first
Destination Connection ID (RFC 9001 §5, RFC 9369 for v2), remove header protection, decrypt,
and return the CRYPTO frames, which carry the TLS ClientHello.

Anyone on the path can do this: the keys come from public constants and the cleartext DCID.
The AES and HKDF work is done by `cryptography` (OpenSSL), never by our own code.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

__all__ = [
    "VERSIONS",
    "Initial",
    "InitialKeys",
    "client_initial_keys",
    "crypto_frames",
    "decrypt_initial",
    "parse_initial",
]

V1, V2, DRAFT29 = 0x00000001, 0x6B3343CF, 0xFF00001D


@dataclass(frozen=True, slots=True)
class _Version:
    salt: bytes
    labels: tuple[bytes, bytes, bytes]  # key, iv, hp
    initial_type: int  # long-header packet type bits of an Initial


VERSIONS: dict[int, _Version] = {
    V1: _Version(bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
                 (b"quic key", b"quic iv", b"quic hp"), 0),
    V2: _Version(bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
                 (b"quicv2 key", b"quicv2 iv", b"quicv2 hp"), 1),
    DRAFT29: _Version(bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"),
                      (b"quic key", b"quic iv", b"quic hp"), 0),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class InitialKeys:
    """The client's Initial packet protection keys for one connection."""

    key: bytes
    iv: bytes
    hp: bytes


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def _extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869) is one HMAC; `cryptography` only exposes it fused with Expand."""
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def client_initial_keys(version: int, dcid: bytes) -> InitialKeys | None:
    """Keys protecting the client's Initial packets of a connection whose first DCID is
    `dcid`; None for a version we do not know."""
    v = VERSIONS.get(version)
    if v is None:
        return None
    client = _expand_label(_extract(v.salt, dcid), b"client in", 32)
    key, iv, hp = (
        _expand_label(client, label, n) for label, n in zip(v.labels, (16, 12, 16), strict=True)
    )
    return InitialKeys(key, iv, hp)


def _varint(b: bytes, p: int) -> tuple[int, int]:
    first = b[p]
    size = 1 << (first >> 6)
    if p + size > len(b):
        raise ValueError("truncated varint")
    value = first & 0x3F
    for i in range(1, size):
        value = (value << 8) | b[p + i]
    return value, p + size


@dataclass(frozen=True, slots=True)
class Initial:
    """An Initial packet's header fields and the offsets needed to decrypt it."""

    version: int
    dcid: bytes
    scid: bytes
    start: int  # offset of the first header byte
    pn_offset: int
    end: int  # offset after this packet (coalesced packets may follow)


def parse_initial(data: bytes, start: int = 0) -> Initial | None:
    """The long header at `start` if it is an Initial of a known version, else None."""
    try:
        first = data[start]
        if first & 0xC0 != 0xC0 or len(data) < start + 7:
            return None
        version = struct.unpack_from("!I", data, start + 1)[0]
        v = VERSIONS.get(version)
        if v is None or (first >> 4) & 3 != v.initial_type:
            return None
        p = start + 5
        dlen = data[p]
        dcid = data[p + 1 : p + 1 + dlen]
        p += 1 + dlen
        slen = data[p]
        scid = data[p + 1 : p + 1 + slen]
        p += 1 + slen
        if dlen > 20 or slen > 20:
            return None
        token_len, p = _varint(data, p)
        p += token_len
        length, p = _varint(data, p)
        if p + length > len(data) or length < 20:
            return None
        return Initial(version, bytes(dcid), bytes(scid), start, p, p + length)
    except (IndexError, ValueError, struct.error):
        return None


def decrypt_initial(data: bytes, pkt: Initial, keys: InitialKeys) -> bytes | None:
    """The plaintext payload of one Initial packet, or None if it does not decrypt."""
    sample = data[pkt.pn_offset + 4 : pkt.pn_offset + 20]
    if len(sample) < 16:
        return None
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    first = data[pkt.start] ^ (mask[0] & 0x0F)  # long header: the low 4 bits are protected
    pn_len = (first & 0x03) + 1
    pn_bytes = bytes(b ^ m for b, m in zip(data[pkt.pn_offset : pkt.pn_offset + pn_len],
                                           mask[1 : 1 + pn_len], strict=True))  # fmt: skip
    header = bytes([first]) + data[pkt.start + 1 : pkt.pn_offset] + pn_bytes
    pn = int.from_bytes(pn_bytes, "big")
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    try:
        return AESGCM(keys.key).decrypt(nonce, data[pkt.pn_offset + pn_len : pkt.end], header)
    except (InvalidTag, ValueError):
        return None


def crypto_frames(plain: bytes) -> list[tuple[int, bytes]]:
    """(offset, data) of every CRYPTO frame; stops at a frame it does not know."""
    out: list[tuple[int, bytes]] = []
    p = 0
    try:
        while p < len(plain):
            ftype = plain[p]
            if ftype == 0x00 or ftype == 0x01:  # PADDING, PING
                p += 1
            elif ftype in (0x02, 0x03):  # ACK (with ECN counts for 0x03)
                p += 1
                _, p = _varint(plain, p)
                _, p = _varint(plain, p)
                count, p = _varint(plain, p)
                _, p = _varint(plain, p)
                for _ in range(count * 2 + (3 if ftype == 0x03 else 0)):
                    _, p = _varint(plain, p)
            elif ftype == 0x06:
                offset, p = _varint(plain, p + 1)
                size, p = _varint(plain, p)
                out.append((offset, plain[p : p + size]))
                p += size
            else:
                break
    except (IndexError, ValueError):
        pass
    return out
