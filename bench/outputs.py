"""CPU cost of the outputs (EVE flow lines, syslog over TCP, IPFIX over UDP) on a replay.

    .venv/bin/python bench/outputs.py [PCAP ...] [--rounds N] [--outputs eve_flows,syslog,ipfix]

Runs `sensor replay` in a child process, alternately with every output off and on (so load
on a shared machine hits both alike), and reads each child's CPU time (user + system, all
threads, from wait4). The receivers (a TCP syslog reader, a UDP IPFIX reader) run in this
process, so their CPU is not counted. Prints the median of each mode and their ratio.
Default input: every capture of ../shared/corpus. Not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SENSOR_SHARED", REPO.parent / "shared")) / "corpus" / "pcaps"


def _drain_tcp(srv: socket.socket, got: list[int]) -> None:
    while True:
        conn, _ = srv.accept()
        with conn:
            while chunk := conn.recv(1 << 16):
                got[0] += len(chunk)


def _drain_udp(sock: socket.socket, got: list[int]) -> None:
    while True:
        got[0] += len(sock.recv(1 << 16))


def _config(work: Path, which: set[str], syslog_port: int, ipfix_port: int) -> Path:
    """The store is the config's own (`storage.catalog`, no --db): replaying into another
    store than the config's turns syslog and IPFIX off, so they would not be measured."""
    lines = {
        "eve_flows": f"  eve_flows: {work / 'eve-flows.json'}",
        "syslog": f"  syslog: {{address: '127.0.0.1:{syslog_port}', transport: tcp}}",
        "ipfix": f"  ipfix: {{address: '127.0.0.1:{ipfix_port}', transport: udp}}",
    }
    cfg = work / ("outputs.yaml" if which else "off.yaml")
    body = "".join(v + "\n" for k, v in lines.items() if k in which)
    cfg.write_text(
        f"storage:\n  catalog: {work / 'bench.duckdb'}\n" + (f"outputs:\n{body}" if body else "")
    )
    return cfg


def _run(pcaps: list[str], work: Path, cfg: Path) -> float:
    """One replay in a child; returns its CPU seconds (user + system)."""
    db = work / "bench.duckdb"
    subprocess.run(
        ["rm", "-rf", str(db), str(db.with_suffix(".data")), str(work / "eve-flows.json")]
    )
    args = [str(REPO / ".venv/bin/sensor"), "replay", *pcaps, "-c", str(cfg), "-q"]
    args += ["--progress", "never"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"sensor replay failed: {args}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pcaps", nargs="*")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--outputs", default="eve_flows,syslog,ipfix", help="which to turn on (default: all)"
    )
    a = ap.parse_args()
    pcaps = a.pcaps or sorted(str(p) for p in CORPUS.iterdir() if p.is_file())
    srv = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    syslog_bytes, ipfix_bytes = [0], [0]
    threading.Thread(target=_drain_tcp, args=(srv, syslog_bytes), daemon=True).start()
    threading.Thread(target=_drain_udp, args=(udp, ipfix_bytes), daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        which = set(a.outputs.split(","))
        ports = srv.getsockname()[1], udp.getsockname()[1]
        cfg, cfg_off = _config(work, which, *ports), _config(work, set(), *ports)
        off, on = [], []
        for r in range(a.rounds):
            off.append(_run(pcaps, work, cfg_off))
            on.append(_run(pcaps, work, cfg))
            print(f"round {r + 1}: off {off[-1]:.2f} s CPU, on {on[-1]:.2f} s CPU", flush=True)
        eve = work / "eve-flows.json"
        lines = sum(1 for _ in eve.open()) if eve.exists() else 0
    m_off, m_on = statistics.median(off), statistics.median(on)
    print(
        f"captures={len(pcaps)} per run: eve_flow_lines={lines} "
        f"syslog_bytes={syslog_bytes[0] // a.rounds} ipfix_bytes={ipfix_bytes[0] // a.rounds}"
    )
    print(f"median CPU s: off {m_off:.2f}, on {m_on:.2f}; on/off = {m_on / m_off:.3f}")


if __name__ == "__main__":
    main()
