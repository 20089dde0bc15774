"""How far the replay is from ndpiReader, and what each part of the pipeline adds (issue 15).

    .venv/bin/python bench/floor.py [--pcap /tmp/sensor-bench/bench-2000000.pcap] [--rounds 3]

Runs, interleaved round by round, and reports the median CPU seconds (user + system of the
child, every thread, from wait4) and peak RSS of:

- `ndpiReader -i PCAP` (the reference, one thread, DPI on, no storage);
- `sensor replay` with the full default pipeline (extraction, classification, storage);
- the same without signatures (`signatures.shipped: false`): no classification work;
- the same without extractors (the Inspector gets an empty list, so no payload is parsed and
  most signatures have nothing to match);
- neither: flow metering and storage only (read, decode, flow table, records, Parquet +
  catalog);
- `sensor replay` of the capture's first 10 packets: start-up and exit (interpreter, imports,
  signatures, catalog), paid once per process;
- the SHA-256 of the capture, which the replay ledger computes before every replay (so a
  capture is stored once; `sensor/sinks/captures.py`).

"Without extractors" is not a configuration the sensor offers: the child replaces
`sensor.pipeline.default_extractors` before running the CLI. It measures a hypothetical (what
the rest costs if app-layer parsing were free), not something to run. Not a test: nothing
here asserts a timing; read the ratios measured in the same run, on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_NO_EXTRACTORS = (  # one OpenBLAS thread before numpy loads, as sensor.cli.main sets it
    "import os; os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); "
    "import sys, sensor.pipeline as p; p.default_extractors = lambda *a, **k: []; "
    "from sensor.cli import main; sys.exit(main(sys.argv[1:]))"
)
_PACKAGE = Path(__file__).resolve().parents[1] / "sensor"
_START = "sensor start-up and exit (10 packets)"
_SHA = (
    "import hashlib, sys; f = open(sys.argv[1], 'rb'); "
    "print(hashlib.file_digest(f, 'sha256').hexdigest())"
)


def cases(pcap: Path, tiny: Path, work: Path) -> dict[str, list[str]]:
    """The command of each case; `{db}` is replaced by a fresh catalog path per run."""
    nosig = work / "nosig.yaml"
    nosig.write_text("signatures:\n  shipped: false\n")
    py = sys.executable
    replay = ["replay", str(pcap), "--db", "{db}", "--progress", "never"]
    out = {
        "sensor, full default pipeline": [py, "-m", "sensor", *replay],
        "sensor, no signatures": [py, "-m", "sensor", *replay, "--config", str(nosig)],
        "sensor, no extractors": [py, "-c", _NO_EXTRACTORS, *replay],
        "sensor, flow metering + storage only": [
            py, "-c", _NO_EXTRACTORS, *replay, "--config", str(nosig)],
        _START: [
            py, "-m", "sensor", "replay", str(tiny), "--db", "{db}", "--progress", "never"],
        "SHA-256 of the capture (replay ledger)": [py, "-c", _SHA, str(pcap)],
    }  # fmt: skip
    ndpi = shutil.which("ndpiReader")
    if ndpi:
        out = {"ndpiReader": [ndpi, "-i", str(pcap)], **out}
    return out


def measure(cmd: list[str], work: Path) -> tuple[float, int]:
    """(CPU seconds, peak RSS MB) of one run, the store made fresh."""
    db = work / "run.duckdb"
    shutil.rmtree(work / "run.data", ignore_errors=True)
    db.unlink(missing_ok=True)
    argv = [a.replace("{db}", str(db)) for a in cmd]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}")
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss // 1024


def tiny_copy(pcap: Path, work: Path) -> Path:
    """The capture's first 10 packets (editcap, from wireshark-common)."""
    tiny = work / "tiny.pcap"
    subprocess.run(["editcap", "-r", str(pcap), str(tiny), "1-10"], check=True)
    return tiny


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcap", type=Path, default=Path("/tmp/sensor-bench/bench-2000000.pcap"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    # bytecode as an installed sensor has it (pip compiles at install): with
    # PYTHONDONTWRITEBYTECODE set, an editable checkout would compile at every start
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(_PACKAGE)], check=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        todo = cases(args.pcap, tiny_copy(args.pcap, work), work)
        got: dict[str, list[tuple[float, int]]] = {k: [] for k in todo}
        for r in range(args.rounds):
            for name, cmd in todo.items():
                got[name].append(measure(cmd, work))
                cpu, rss = got[name][-1]
                print(f"round {r + 1} {name}: {cpu:.2f} CPU s, {rss} MB", file=sys.stderr)
    report(args.pcap, got)


def report(pcap: Path, got: dict[str, list[tuple[float, int]]]) -> None:
    cpu = {k: statistics.median(c for c, _ in v) for k, v in got.items()}
    rss = {k: statistics.median(m for _, m in v) for k, v in got.items()}
    ref = cpu.get("ndpiReader")
    print(f"{pcap.name}, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, "
          f"medians of {len(next(iter(got.values())))} interleaved rounds")  # fmt: skip
    start = cpu[_START]
    print("| case | CPU s | ndpiReader's CPU / this | the same, start-up taken off | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in got:
        ratio = f"{ref / cpu[name]:.2f}" if ref else "-"
        rest = cpu[name] - start
        net = f"{ref / rest:.2f}" if ref and name.startswith("sensor,") and rest > 0 else ""
        print(f"| {name} | {cpu[name]:.2f} | {ratio} | {net} | {rss[name]:.0f} |")


if __name__ == "__main__":
    main()
