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

from sensor.extract.quic import QuicExtractor
from sensor.extract.quicparse import (
    V1,
    V2,
    client_initial_keys,
    crypto_frames,
    decrypt_initial,
    parse_initial,
)  # fmt: skip
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState
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


def _quic_flow() -> FlowState:
    return FlowState((0, 1, 0, 2, pack_ports(40000, 443, 17, 4)), 1, True, 17, 0, 0, 0)


def test_an_empty_crypto_frame_at_offset_zero_does_not_stop_the_reader() -> None:
    """A CRYPTO frame of length 0 at offset 0 made the hello reader loop forever (found by
    review): one forged Initial hung a worker. It is skipped; the real hello still counts."""
    import signal

    def hung(*_: object) -> None:
        raise TimeoutError("the QUIC extractor did not return")

    hello = client_hello("chatgpt.com", alpn=("h3",))[5:]
    empty = protect(V1, DCID, 0, _crypto(0, b""))
    whole = protect(V1, DCID, 1, _crypto(0, hello))
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        ext, flow, scratch = QuicExtractor(), _quic_flow(), {}
        assert not ext.feed(flow, empty, True, 0, scratch)
        assert ext.feed(flow, whole, True, 1, scratch)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert flow.meta["quic.sni"] == "chatgpt.com"


def test_tiny_crypto_frames_are_charged_and_bounded_per_flow() -> None:
    """One-byte frames at gapped offsets never form a hello: each frame kept costs the
    budget its data and _CHUNK_BYTES, at most _MAX_CHUNKS are kept, then the flow is given
    up and every byte it took goes back."""
    from sensor.extract import quic as mod
    from sensor.extract.base import ByteBudget

    budget = ByteBudget(1 << 30)
    ext, flow, scratch = QuicExtractor(budget), _quic_flow(), {}
    off, done = 4, False
    for pn in range(3):
        frames = b""
        for _ in range(100):
            frames += _crypto(off, b"x")
            off += 2  # a gap: never contiguous
        done = ext.feed(flow, protect(V1, DCID, pn, frames), True, pn, scratch)
        kept = len(scratch.get("crypto", {}))
        if not done:
            assert budget.held == kept * (1 + mod._CHUNK_BYTES)
    assert done and budget.held == 0 and kept <= mod._MAX_CHUNKS
