"""The monitor radio's checks of provision 22 on crafted 802.11 frames (scapy): an evil twin,
an unknown open AP, an approved AP that raises nothing, a deauthentication burst."""

from __future__ import annotations

from pathlib import Path

import duckdb
from scapy.layers.dot11 import (
    Dot11,
    Dot11Beacon,
    Dot11Deauth,
    Dot11Elt,
    RadioTap,
)
from scapy.utils import wrpcap

from sensor.cli import main

T0 = 1_764_086_400.0
CORP = "MoDOT"
RSN = bytes.fromhex("0100000fac040100000fac040100000fac020000")  # WPA2-PSK, CCMP


def beacon(bssid: str, ssid: str, t: float, secure: bool, signal: int = -40) -> RadioTap:
    cap = "ESS+privacy" if secure else "ESS"
    f = (
        RadioTap(present="Channel+dBm_AntSignal", ChannelFrequency=2437, dBm_AntSignal=signal)
        / Dot11(type=0, subtype=8, addr1="ff:ff:ff:ff:ff:ff", addr2=bssid, addr3=bssid)
        / Dot11Beacon(cap=cap)
        / Dot11Elt(ID="SSID", info=ssid.encode())
        / Dot11Elt(ID="DSset", info=b"\x06")
    )
    if secure:
        f = f / Dot11Elt(ID=48, info=RSN)
    f.time = t
    return f


def deauth(bssid: str, t: float) -> RadioTap:
    f = (
        RadioTap()
        / Dot11(type=0, subtype=12, addr1="ff:ff:ff:ff:ff:ff", addr2=bssid, addr3=bssid)
        / Dot11Deauth(reason=7)
    )
    f.time = t
    return f


def _run(tmp_path: Path, frames: list[RadioTap]) -> duckdb.DuckDBPyConnection:
    pcap = tmp_path / "air.pcap"
    wrpcap(str(pcap), frames)
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "policy:\n  wireless:\n"
        "    approved_bssids: ['00:0b:86:00:00:01']\n"
        f"    corporate_ssids: [{CORP}]\n    min_signal_dbm: -70\n"
        "    deauth_burst: 20\n    deauth_seconds: 10\n"
    )
    db = tmp_path / "s.duckdb"
    assert main(["replay", "-q", "-c", str(cfg), "--db", str(db), str(pcap)]) == 0
    return duckdb.connect(str(db), read_only=True)


def _alerts(con: duckdb.DuckDBPyConnection) -> set[tuple[int, str]]:
    rows = con.execute("SELECT signature_id, device FROM alerts").fetchall()
    return {(int(i), str(d)) for i, d in rows}


def test_the_approved_access_point_raises_nothing(tmp_path: Path) -> None:
    con = _run(tmp_path, [beacon("00:0b:86:00:00:01", CORP, T0 + i, True) for i in range(5)])
    assert _alerts(con) == set()
    ap = con.execute(
        "SELECT ssid, channel, security, signal_dbm, approved, beacons FROM access_points"
    ).fetchone()
    assert ap == (CORP, 6, "wpa2", -40, True, 5)


def test_an_evil_twin_is_caught(tmp_path: Path) -> None:
    frames = [beacon("00:0b:86:00:00:01", CORP, T0, True),
              beacon("66:55:44:33:22:11", CORP, T0 + 1, True, signal=-80)]  # fmt: skip
    con = _run(tmp_path, frames)
    assert _alerts(con) == {(10001, "66:55:44:33:22:11")}  # quiet: not "in range"
    row = con.execute(
        "SELECT provision, category, evidence FROM alerts WHERE signature_id = 10001"
    ).fetchone()
    assert row == ("2503-22", "rogue_ap", "ssid=MoDOT bssid=66:55:44:33:22:11 not approved")


def test_an_unknown_open_access_point_in_range(tmp_path: Path) -> None:
    con = _run(tmp_path, [beacon("30:b5:c2:aa:bb:cc", "FreeWiFi", T0, False, signal=-50)])
    assert _alerts(con) == {(10002, "30:b5:c2:aa:bb:cc"), (10003, "30:b5:c2:aa:bb:cc")}
    ap = con.execute("SELECT security, vendor, approved, indicators FROM access_points").fetchone()
    assert ap is not None and ap[0] == "open" and ap[2] is False
    assert ap[1] and "tp-link" in ap[1].lower()  # from the OUI database
    assert ap[3] == "unknown_in_range,open_or_wep"


def test_a_deauthentication_burst(tmp_path: Path) -> None:
    few = [deauth("00:0b:86:00:00:01", T0 + i) for i in range(5)]
    burst = [deauth("00:0b:86:00:00:02", T0 + 20 + i * 0.1) for i in range(25)]
    con = _run(tmp_path, few + burst)
    assert _alerts(con) == {(10005, "00:0b:86:00:00:02")}


def test_a_sink_failing_on_access_points_is_counted_and_the_others_still_close(
    tmp_path: Path,
) -> None:
    """A sink whose `write_aps` raises is one more counted sink error, like a failure on a
    flow record: the run ends, and the other sinks are still flushed and closed (before,
    the exception left the pipeline at its last snapshot and no sink was closed)."""
    from sensor.capture.pcapfile import open_capture
    from sensor.config import SensorConfig
    from sensor.pipeline import Pipeline

    pcap = tmp_path / "air.pcap"
    wrpcap(str(pcap), [beacon("00:0b:86:00:00:09", "Guest", T0 + i, False) for i in range(3)])
    closed: list[str] = []

    class _Sink:
        def __init__(self, name: str, fail: bool) -> None:
            self.name, self.fail = name, fail

        def write_flow(self, flow: object, reason: str) -> None:
            pass

        def write_aps(self, aps: object, ts: int) -> None:
            if self.fail:
                raise OSError("disk gone")

        def flush(self, force: bool = False) -> None:
            pass

        def close(self) -> None:
            closed.append(self.name)

    sinks = [_Sink("bad", True), _Sink("good", False)]
    summary = Pipeline(SensorConfig(), sinks).run([open_capture(pcap)])  # type: ignore[arg-type]
    assert summary.sink_errors["bad"] >= 1 and "good" not in summary.sink_errors
    assert closed == ["bad", "good"]


def test_an_ssid_is_kept_to_its_32_octets() -> None:
    """A forged SSID element of 255 undecodable bytes was 1,020 characters (backslashreplace)
    in each of an AP's 16 SSIDs; an SSID is 0-32 octets (IEEE 802.11-2020 9.4.2.2)."""
    from sensor.decode.dot11 import parse_mgmt
    from sensor.decode.wifi import RADIOTAP
    from tests.tools.hostile import beacon as raw_beacon

    frame = raw_beacon(b"\x02\x00\x00\x00\x00\x01", b"\xff" * 255)
    m = parse_mgmt(RADIOTAP, frame, 0, len(frame))
    assert m is not None and m.ssid == "\\xff" * 32
    frame = raw_beacon(b"\x02\x00\x00\x00\x00\x02", "café-wifi".encode())
    m = parse_mgmt(RADIOTAP, frame, 0, len(frame))
    assert m is not None and m.ssid == "café-wifi"


def test_the_report_keeps_access_points_heard_after_the_last_flow(tmp_path: Path) -> None:
    """The report's period ended at the newest flow or health row, so a rogue AP heard after
    the last flow ended was left out; and a capture of the air alone dated its health rows
    by the wall clock, which moved the period to today (found by review)."""
    from sensor.report import build
    from tests.tools.synth import client_hello, tcp_session

    wire = tmp_path / "wire.pcap"
    wrpcap(str(wire), tcp_session(("10.20.1.15", 40000), ("203.0.113.10", 443), T0,
                                  [(True, client_hello("example.com"))]))  # fmt: skip
    _run(tmp_path, [beacon("00:0b:86:00:00:09", CORP, T0 + 60 + i, False) for i in range(3)])
    db = tmp_path / "s.duckdb"
    assert main(["replay", "-q", "--db", str(db), str(wire)]) == 0
    r = build(db, "1d", None, "America/Chicago", None, detail=False)
    assert r is not None
    found = {(s, k, n) for s, k, n, _ in r.rogue}
    assert found == {("radio", k, 1) for k in ("evil_twin", "open_or_wep", "unknown_in_range")}
    con = duckdb.connect(str(db), read_only=True)  # the radio's rows dated by packet time
    assert con.execute("SELECT max(ts) FROM health WHERE sensor <> '_schema'").fetchone() == (
        con.execute("SELECT max(last_seen) FROM wireless_aps").fetchone()
    )
