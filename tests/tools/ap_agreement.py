"""The access points (BSSID, SSID, channel) the sensor reads from 802.11 management frames,
against tshark's `wlan.bssid`, `wlan.ssid` and `wlan_radio.channel`, frame by frame.

`python -m tests.tools.ap_agreement` prints the disagreements over the corpus' 802.11 files.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from sensor.capture.pcapfile import open_capture
from sensor.decode.dot11 import BEACON, PROBE_RESP, parse_mgmt

Row = tuple[str, str, str]  # bssid, ssid, channel ("" where absent)


def mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def ours(pcap: Path) -> dict[int, Row]:
    """Frame number (1-based) -> (bssid, ssid, channel) for beacons and probe responses."""
    out: dict[int, Row] = {}
    n = 0
    src = open_capture(pcap)
    try:
        for batch in src.batches():
            for off, cap in zip(batch.offsets.tolist(), batch.caplens.tolist(), strict=True):
                n += 1
                m = parse_mgmt(batch.linktype, batch.data, off, off + cap)
                if m is not None and m.subtype in (BEACON, PROBE_RESP):
                    chan = "" if m.channel is None else str(m.channel)
                    out[n] = (mac(m.bssid), (m.ssid_raw or b"").hex(), chan)
    finally:
        src.close()
    return out


def theirs(pcap: Path) -> dict[int, Row]:
    res = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y",
         "wlan.fc.type_subtype == 5 || wlan.fc.type_subtype == 8", "-T",
         "fields", "-E", "separator=\t", "-e", "frame.number", "-e", "wlan.bssid",
         "-e", "wlan.ssid", "-e", "wlan_radio.channel", "-e", "wlan.ds.current_channel"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    out: dict[int, Row] = {}
    for line in res.stdout.splitlines():
        f = (line.split("\t") + [""] * 5)[:5]
        ssid = f[2]  # tshark prints the SSID's bytes in hex
        out[int(f[0])] = (f[1], "" if ssid == "<MISSING>" else ssid, f[3] or f[4])
    return out


def wifi_captures(corpus: Path) -> list[Path]:
    with (corpus / "MANIFEST.csv").open() as fh:
        return [
            corpus / "pcaps" / r["file"]
            for r in csv.DictReader(fh)
            if r["link_type"].startswith("ieee-802-11")
        ]


def compare(pcap: Path) -> tuple[int, list[str]]:
    a, b = ours(pcap), theirs(pcap)
    bad = [
        f"{pcap.name} frame {n}: ours={a.get(n)} tshark={b.get(n)}"
        for n in sorted(set(a) | set(b))
        if a.get(n) != b.get(n)
    ]
    return len(b), bad


def main() -> int:
    from tests.conftest import CORPUS

    total = 0
    for p in wifi_captures(CORPUS):
        n, bad = compare(p)
        total += n
        print(f"{p.name}: {n} frames, {len(bad)} differ")
        for line in bad[:5]:
            print("  " + line)
    print(f"total {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
