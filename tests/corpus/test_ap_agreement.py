"""Every BSSID, SSID and channel the sensor reads from 802.11 beacons and probe responses in
the corpus equals what tshark reports (wlan.bssid, wlan.ssid, wlan_radio.channel, or
wlan.ds.current_channel where the capture has no radio header), frame by frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tools.ap_agreement import compare, wifi_captures

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark"),
]


def test_access_points_equal_tsharks(corpus_dir: Path) -> None:
    total, problems = 0, []
    files = wifi_captures(corpus_dir)
    assert len(files) >= 10
    for pcap in files:
        n, bad = compare(pcap)
        total += n
        problems += bad
    assert total >= 200  # beacons and probe responses compared
    assert not problems, problems[:10]
