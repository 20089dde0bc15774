"""AF_PACKET helpers that need no capture privileges: link types and filter compilation."""

from __future__ import annotations

import pytest

from sensor.capture.afpacket import compile_bpf, interface_linktype
from sensor.errors import CaptureError


def test_loopback_frames_are_ethernet_shaped() -> None:
    assert interface_linktype("lo") == 1  # ARPHRD_LOOPBACK frames carry a zero Ethernet header


def test_a_filter_compiles_to_bpf_instructions() -> None:
    prog = compile_bpf("tcp port 443")
    assert len(prog) % 8 == 0 and len(prog) // 8 > 4


def test_a_bad_filter_is_a_clear_error() -> None:
    with pytest.raises(CaptureError, match="bad capture filter 'tcp prot 443'"):
        compile_bpf("tcp prot 443")
