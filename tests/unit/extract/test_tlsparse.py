"""ClientHello parsing and the JA4/JA3 fingerprints, against the published JA4 examples."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.extract.tlsparse import ClientHello, ja4, parse_client_hello, parse_server_hello
from tests.tools.synth import client_hello

G = 0x0A0A  # a GREASE value, ignored everywhere
CIPHERS = (
    G,
    0x1301,
    0x1302,
    0x1303,
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC013,
    0xC014,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
)
SIGALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)


def _hello(extensions: tuple[int, ...]) -> ClientHello:
    return ClientHello(
        0x0303,
        CIPHERS,
        extensions,
        "example.com",
        ("h2", "http/1.1"),
        (G, 0x0304, 0x0303),
        (G, 0x001D),
        (0,),
        SIGALGS,
        False,
    )


def test_ja4_of_the_spec_example() -> None:
    """FoxIO JA4 spec (technical_details/JA4.md), section 'Example'."""
    exts = (
        G,
        0x001B,
        0x0000,
        0x0033,
        0x0010,
        0x4469,
        0x0017,
        0x002D,
        0x000D,
        0x0005,
        0x0023,
        0x0012,
        0x002B,
        0xFF01,
        0x000B,
        0x000A,
        0x0015,
        0x1A1A,
    )
    assert ja4(_hello(exts)) == "t13d1516h2_8daaf6152771_e5627efa2ab1"


def test_ja4_of_a_current_chrome_with_ech_and_mlkem() -> None:
    """A Chrome 143 hello as published with its ja4_r: ECH (fe0d) and X25519MLKEM768 (44cd)."""
    exts = (
        G,
        0x002D,
        0x0033,
        0x0010,
        0xFE0D,
        0x0017,
        0x44CD,
        0x0000,
        0x000B,
        0x000A,
        0x002B,
        0xFF01,
        0x0023,
        0x0012,
        0x0005,
        0x000D,
        0x001B,
        G,
    )
    assert ja4(_hello(exts)) == "t13d1516h2_8daaf6152771_d8a2da3f94cd"


def test_ja4_quic_without_sni_or_alpn() -> None:
    ch = ClientHello(
        0x0303, (0x1301,), (0x002B, 0x000D), None, (), (0x0304,), (), (), (0x0403,), False
    )
    assert ja4(ch, "q").startswith("q13i0102" + "00_")


def test_parse_browser_like_hello() -> None:
    raw = client_hello("Chat.OpenAI.com.", alpn=("h2", "http/1.1"))
    ch = parse_client_hello(raw[5:])
    assert ch is not None
    assert ch.sni == "chat.openai.com"  # lowercase, trailing dot removed
    assert ch.alpn == ("h2", "http/1.1") and ch.version == 0x0304 and not ch.ech
    assert ja4(ch).startswith("t13d0910h2_")
    assert ch.ja3_string().startswith("771,4865-4866-4867-")  # GREASE removed


def test_ech_is_flagged_and_outer_name_kept() -> None:
    ch = parse_client_hello(client_hello("cloudflare-ech.com", ech=True)[5:])
    assert ch is not None and ch.ech and ch.sni == "cloudflare-ech.com"


@pytest.mark.parametrize("cut", [0, 10, 41, 60, 120, -1])
def test_truncated_hello_is_not_a_hello(cut: int) -> None:
    raw = client_hello("example.com")[5:]
    assert parse_client_hello(raw[:cut] if cut >= 0 else raw[:-1]) is None


def test_server_hello_negotiated_version_and_alpn() -> None:
    body = (
        b"\x03\x03"
        + b"\x01" * 32
        + b"\x00"
        + b"\x13\x01"
        + b"\x00"
        + b"\x00\x11"
        + b"\x00\x2b\x00\x02\x03\x04"
        + b"\x00\x10\x00\x05\x00\x03\x02h2"
    )
    sh = parse_server_hello(b"\x02" + len(body).to_bytes(3, "big") + body)
    assert sh is not None and sh.version == 0x0304 and sh.cipher == 0x1301 and sh.alpn == "h2"


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=400),
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=8),
)
def test_parsers_never_raise(noise: bytes, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(client_hello("example.com")[5:])
    for at, val in flips:
        if at < len(raw):
            raw[at] = val
    for data in (bytes(raw), noise, b"\x01" + noise, b"\x02" + noise):
        ch = parse_client_hello(data)
        if ch is not None:
            ja4(ch)
            ch.ja3()
        parse_server_hello(data)
