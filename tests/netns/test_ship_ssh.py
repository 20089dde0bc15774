"""Two sensors ship to a collector over SSH: a real sshd in the lab's server namespace, the
sensors' `sensor ship` in the client namespace, a transfer cut mid-segment by killing its
`ssh` process, then resumed. The collector's tree ends with every segment exactly once, byte
for byte, no partial file, and the same rows as the two sensors had."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from sensor.ship.destination import file_digest
from tests.netns.lab import Lab, wait_port
from tests.storage.fleet import SENSORS, many_flows_pcap

SSHD = Path("/usr/sbin/sshd")


def _need_ssh() -> None:
    missing = [b for b in (str(SSHD), "ssh", "ssh-keygen", "tc") if not shutil.which(b)]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {missing} (tests/run.sh installs openssh-server)")
        pytest.skip(f"needs {missing} (apt install openssh-server openssh-client)")


def _sshd(lab: Lab, tmp: Path) -> Path:
    """Start sshd on the server address; return a known_hosts file for it."""
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name)],
                       check=True)  # fmt: skip
    (tmp / "authorized_keys").write_text((tmp / "client.pub").read_text())
    (tmp / "sshd_config").write_text(
        f"ListenAddress {lab.server_ip}\nPort 22\nHostKey {tmp / 'host'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPidFile none\nClientAliveInterval 5\nClientAliveCountMax 2\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    lab.start("server", [str(SSHD), "-D", "-e", "-f", str(tmp / "sshd_config")],
              stderr=subprocess.DEVNULL)  # fmt: skip
    wait_port(lab, lab.server_ip, 22)
    known = tmp / "known_hosts"
    known.write_text(f"{lab.server_ip} {(tmp / 'host.pub').read_text()}")
    return known


def _sensor_config(tmp: Path, name: str, site: str, dest: str, known: Path) -> Path:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(
        f"sensor: {{name: {name}, site: {site}}}\n"
        f"storage:\n  catalog: {tmp / name}.duckdb\n  ship:\n    destination: {dest}\n"
        f"    timeout_seconds: 60\n    ssh_options: [-i, {tmp / 'client'}, -o, "
        f"'UserKnownHostsFile={known}', -o, StrictHostKeyChecking=yes]\n"
    )
    return cfg


def _ssh_children(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids if Path(f"/proc/{k}/comm").read_text().strip() == "ssh"]


def _cut_mid_transfer(
    proc: subprocess.Popen[bytes], fleet: Path, sizes: dict[str, int]
) -> tuple[str, int]:
    """Wait until one of this sensor's partial files at the collector holds some but not
    all of its segment, then kill the ssh sending it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        for p in fleet.glob("*/sensor=north/date=*/.*.part"):
            rel = p.relative_to(fleet).with_name(p.name[1:].removesuffix(".part")).as_posix()
            if 0 < p.stat().st_size < sizes[rel]:
                for kid in _ssh_children(proc.pid):
                    os.kill(kid, signal.SIGKILL)
                return rel, p.stat().st_size
        time.sleep(0.01)
    pytest.fail("no transfer was seen in progress")


def _ship(lab: Lab, cfg: Path) -> subprocess.Popen[bytes]:
    return lab.start("client", [sys.executable, "-m", "sensor", "ship", "-c", str(cfg)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


@pytest.mark.slow
def test_two_sensors_ship_over_ssh_resume_after_a_cut(lab: Lab, tmp_path: Path) -> None:
    _need_ssh()
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    known = _sshd(lab, tmp_path)
    dest = f"ssh://root@{lab.server_ip}{fleet}"
    cfgs, digests, rows = {}, {}, 0
    big = many_flows_pcap(tmp_path / "many.pcap", 20_000)
    for name, (site, pcaps) in SENSORS.items():
        cfgs[name] = _sensor_config(tmp_path, name, site, dest, known)
        extra = [big] if name == "north" else []
        subprocess.run([sys.executable, "-m", "sensor", "replay", "-q", "-c", str(cfgs[name]),
                        *map(str, [*pcaps, *extra])], check=True)  # fmt: skip
        data = tmp_path / f"{name}.data"
        for f in data.glob(f"*/sensor={name}/date=*/*.parquet"):
            digests[f.relative_to(data).as_posix()] = file_digest(f)
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
        rows += con.execute("SELECT count(*) FROM flows").fetchone()[0]  # type: ignore[index]
    assert len(digests) >= 6 and rows > 0

    assert max(d.size for d in digests.values()) > 200_000
    # a slow link (1 Mbit/s) so the large segment is in flight long enough to cut it
    lab.run("client", ["tc", "qdisc", "add", "dev", lab.client_if, "root", "tbf", "rate",
                       "1mbit", "burst", "32kb", "latency", "1s"])  # fmt: skip
    south = _ship(lab, cfgs["south"])
    north = _ship(lab, cfgs["north"])
    cut = _cut_mid_transfer(north, fleet, {rel: d.size for rel, d in digests.items()})
    out, err = north.communicate(timeout=60)
    assert north.returncode == 1, err.decode()
    assert b"failures=1" in out, out
    partial = fleet / cut[0]
    partial = partial.with_name(f".{partial.name}.part")
    assert 0 < partial.stat().st_size < digests[cut[0]].size, "the cut left no partial file"

    lab.run("client", ["tc", "qdisc", "del", "dev", lab.client_if, "root"])
    out, err = south.communicate(timeout=120)
    assert south.returncode == 0, err.decode()
    resumed = _ship(lab, cfgs["north"])
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    assert b"1 resumed" in out, (out, err, cut)
    print(f"\ncut {cut[0]} at byte {cut[1]} of {digests[cut[0]].size}; {out.decode()}")

    shipped = {
        f.relative_to(fleet).as_posix(): file_digest(f) for f in fleet.rglob("*") if f.is_file()
    }
    assert shipped == digests  # every segment exactly once, byte for byte, nothing else
    for name in SENSORS:  # local copies gone only because they were verified
        left = (tmp_path / f"{name}.data").glob(f"*/sensor={name}/date=*/*.parquet")
        assert {p.parent.parent.parent.name for p in left} <= {"captures"}  # kept: the ledger
    again = _ship(lab, cfgs["north"])
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0 and b"shipped 0 segments" in out

    res = subprocess.run([sys.executable, "-m", "sensor", "catalog", "--root", str(fleet)],
                         check=True, capture_output=True, text=True)  # fmt: skip
    assert "2 sensors" in res.stdout
    con = duckdb.connect(str(tmp_path / "fleet.duckdb"), read_only=True)
    by_site = dict(con.execute("SELECT site, count(*) FROM flows GROUP BY site").fetchall())
    assert set(by_site) == {"north-district", "south-district"}
    assert sum(by_site.values()) == rows
