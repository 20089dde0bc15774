"""Property-based: random and mutated bytes never make the decoders raise or overrun."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from sensor.capture.base import FrameBatch
from sensor.decode.decoder import Decoder
from sensor.decode.scalar import LINKTYPES, FragmentCache, decode_frame

SEEDS = [
    bytes(Ether() / IP(src="1.2.3.4", dst="5.6.7.8") / TCP(sport=1, dport=2) / b"hello"),
    bytes(Ether() / Dot1Q(vlan=3) / IPv6() / UDP(sport=5, dport=53) / b"q"),
    bytes(Ether() / IP() / UDP(dport=4789) / VXLAN() / Ether() / IP() / TCP()),
    bytes(Ether() / IP(proto=47) / (b"\x10\x00\x88\xbe\x00\x00\x00\x01" + b"\x00" * 60)),
]
LINKS = sorted(LINKTYPES)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """Random bytes, or a real frame with some bytes flipped, cut or extended."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


def _check(frame: bytes, res: object) -> None:
    if isinstance(res, str):
        assert not res.startswith("decoder_exception"), res  # a bounds check is missing
        return
    assert isinstance(res, tuple) and len(res) == 12
    off, ln = res[7], res[8]
    assert off >= 0 and ln >= 0 and off + ln <= len(frame)
    assert 0 <= res[4] <= 0xFFFF and 0 <= res[5] <= 0xFFFF


@SETTINGS
@given(linktype=st.sampled_from(LINKS), frame=frames())
def test_scalar_decoder_never_raises(linktype: int, frame: bytes) -> None:
    _check(frame, decode_frame(linktype, frame, 0, len(frame), FragmentCache()))


@SETTINGS
@given(linktype=st.sampled_from(LINKS), batch=st.lists(frames(), min_size=1, max_size=12))
def test_batch_decoder_agrees_with_itself_and_stays_in_bounds(
    linktype: int, batch: list[bytes]
) -> None:
    data = b"".join(batch)
    lens = np.array([len(f) for f in batch], dtype=np.int64)
    offs = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    fb = FrameBatch(linktype, data, offs, lens, lens, np.arange(len(batch), dtype=np.int64))
    fast, ref = Decoder().decode(fb), Decoder().decode(fb, vector=False)
    for name in ("ok", "proto", "sport", "dport", "pl_off", "pl_len", "src_lo", "dst_lo"):
        assert np.array_equal(getattr(fast, name), getattr(ref, name)), name
    ok = fast.ok
    assert np.all(fast.pl_off[ok] + fast.pl_len[ok] <= (offs + lens)[ok])
    assert np.all(fast.pl_off[ok] >= offs[ok])
