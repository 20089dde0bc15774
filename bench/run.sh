#!/usr/bin/env bash
# Benchmark `sensor replay` beside the reference tools on the shared 2,000,000-packet capture.
#   bench/run.sh [-n PACKETS] [-r RUNS] [-m|-M]     results: bench/results/<date>.tsv and stdout
#   -m: then bench/capture_bench.py (peak RSS of the capture and of a 4x longer one, pcap
#       against pcapng, start-up), results in bench/results/capture-<date>.tsv; -M: only that
# Needs ../shared/bench and the Debian packages it lists (wireshark-common, tcpreplay, tshark,
# libndpi-bin, time). Not a test: nothing here asserts a timing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
shared="${SENSOR_SHARED:-$(dirname "$repo")/shared}"
packets=2000000 runs=3 capture=0 anchors=1
while getopts "n:r:mM" o; do
  case "$o" in n) packets=$OPTARG ;; r) runs=$OPTARG ;; m) capture=1 ;; M) capture=1 anchors=0 ;;
               *) exit 2 ;; esac
done
work="${BENCH_DIR:-/tmp/sensor-bench}"
mkdir -p "$work" "$here/results"
pcap="$work/bench-$packets.pcap"
[ -s "$pcap" ] || "$shared/bench/make-bench-pcap.sh" -n "$packets" -o "$pcap"
sensor="$repo/.venv/bin/sensor"; [ -x "$sensor" ] || sensor="$(command -v sensor)"
# An installed sensor has its bytecode (pip compiles at install); an editable checkout run with
# PYTHONDONTWRITEBYTECODE set would compile every module again at each start (~0.1 CPU s).
"$(dirname "$sensor")/python" -m compileall -q "$repo/sensor" >/dev/null || true
db="$work/bench.duckdb"
export SENSOR_CMD="rm -rf $db ${db%.duckdb}.data; $sensor replay {pcap} --db $db --progress never"
if [ "$anchors" = 1 ]; then
  "$shared/bench/anchors.sh" -r "$runs" -T cat,py-raw-iter,dpkt-ref,py-struct-ref,ndpireader,sensor \
    -o "$here/results/$(date -u +%Y%m%dT%H%M%SZ).tsv" "$pcap"
fi
if [ "$capture" = 1 ]; then
  py="$repo/.venv/bin/python"; [ -x "$py" ] || py=python3
  "$py" "$here/capture_bench.py" --pcap "$pcap" --work "$work" --rounds "$runs"
fi
