"""QUIC Initial decryption: RFC key vectors, and protected Initials built here from a hello."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from sensor.extract.quicparse import (
    V1,
    V2,
    client_initial_keys,
    crypto_frames,
    decrypt_initial,
    parse_initial,
)  # fmt: skip
from tests.tools.synth import client_hello

DCID = bytes.fromhex("8394c8f03e515708")


@pytest.mark.parametrize("version,key,iv,hp", [
    (V1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
     "9f50449e04a0e810283a1e9933adedd2"),  # RFC 9001 A.1
    (V2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
     "45b95e15235d6f45a6b19cbcb0294ba9"),  # RFC 9369 A.1
])  # fmt: skip
def test_client_initial_keys_match_the_rfcs(version: int, key: str, iv: str, hp: str) -> None:
    k = client_initial_keys(version, DCID)
    assert k is not None and (k.key.hex(), k.iv.hex(), k.hp.hex()) == (key, iv, hp)


def _varint(n: int) -> bytes:
    return struct.pack("!H", 0x4000 | n) if n >= 64 else bytes([n])


def protect(version: int, dcid: bytes, pn: int, frames: bytes) -> bytes:
    """Build a client Initial as a sender would (RFC 9001 §5.3, §5.4), padded to 1200 bytes."""
    keys = client_initial_keys(version, dcid)
    assert keys is not None
    ptype = 1 if version == V2 else 0
    frames += b"\x00" * max(0, 1162 - len(frames))
    first = 0xC0 | (ptype << 4) | 0x03  # 4-byte packet number
    head = bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid + b"\x00"
    head += b"\x00" + _varint(4 + len(frames) + 16)
    pn_bytes = pn.to_bytes(4, "big")
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(keys.key).encrypt(nonce, frames, head + pn_bytes)
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = enc.update(sealed[:16]) + enc.finalize()
    prot_first = bytes([head[0] ^ (mask[0] & 0x0F)])
    prot_pn = bytes(b ^ m for b, m in zip(pn_bytes, mask[1:5], strict=True))
    return prot_first + head[1:] + prot_pn + sealed


def _crypto(offset: int, data: bytes) -> bytes:
    return b"\x06" + _varint(offset) + _varint(len(data)) + data


@pytest.mark.parametrize("version", [V1, V2])
def test_initial_round_trip(version: int) -> None:
    hello = client_hello("gemini.google.com")[5:]
    pkt = protect(version, DCID, 0, _crypto(0, hello))
    init = parse_initial(pkt)
    keys = client_initial_keys(version, DCID)
    assert init is not None and keys is not None and init.dcid == DCID
    plain = decrypt_initial(pkt, init, keys)
    assert plain is not None and crypto_frames(plain) == [(0, hello)]


@pytest.mark.parametrize("version,prefix", [(V1, "0x00000001"), (V2, "0x6b3343cf")])
def test_hello_split_over_two_initials(
    tmp_path: Path,
    replay,
    version: int,  # type: ignore[no-untyped-def]
    prefix: str,
) -> None:
    """A post-quantum hello spans two Initial packets, second half first."""
    hello = client_hello("chatgpt.com", key_share_bytes=1216, alpn=("h3",))[5:]
    half = len(hello) // 2
    second = protect(version, DCID, 1, _crypto(half, hello[half:]))
    first = protect(version, DCID, 0, _crypto(0, hello[:half]))
    pkts = []
    for i, payload in enumerate((second, first)):
        p = (
            Ether()
            / IP(src="10.20.1.11", dst="142.250.1.1")
            / UDP(sport=55000, dport=443)
            / payload
        )
        p.time = 1000.0 + i * 0.001
        pkts.append(p)
    path = tmp_path / "quic.pcap"
    wrpcap(str(path), pkts)
    db, _ = replay([path])
    row = db.execute(
        "SELECT app_proto, quic_sni, quic_version, server_name_source, ja4, tls_alpn FROM flows"
    ).fetchone()
    assert row[:4] == ("quic", "chatgpt.com", prefix, "quic")
    assert row[4].startswith("q13d") and row[5] == "h3"


def test_garbage_is_not_an_initial() -> None:
    assert parse_initial(b"\xc0\x00\x00\x00\x01\x08" + b"\x00" * 10) is None
    assert parse_initial(b"") is None
    pkt = bytearray(protect(V1, DCID, 0, _crypto(0, b"\x01\x00\x00\x00")))
    pkt[-1] ^= 1  # tampered: the AEAD tag fails
    init, keys = parse_initial(bytes(pkt)), client_initial_keys(V1, DCID)
    assert init is not None and keys is not None and decrypt_initial(bytes(pkt), init, keys) is None
