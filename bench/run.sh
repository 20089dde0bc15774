#!/usr/bin/env bash
# Benchmark `sensor replay` beside the reference tools on the shared 2,000,000-packet capture.
#   bench/run.sh [-n PACKETS] [-r RUNS]     results: bench/results/<date>.tsv and stdout
# Needs ../shared/bench and the Debian packages it lists (wireshark-common, tcpreplay, tshark,
# libndpi-bin, time). Not a test: nothing here asserts a timing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
shared="${SENSOR_SHARED:-$(dirname "$repo")/shared}"
packets=2000000 runs=3
while getopts "n:r:" o; do case "$o" in n) packets=$OPTARG ;; r) runs=$OPTARG ;; *) exit 2 ;; esac; done
work="${BENCH_DIR:-/tmp/sensor-bench}"
mkdir -p "$work" "$here/results"
pcap="$work/bench-$packets.pcap"
[ -s "$pcap" ] || "$shared/bench/make-bench-pcap.sh" -n "$packets" -o "$pcap"
sensor="$repo/.venv/bin/sensor"; [ -x "$sensor" ] || sensor="$(command -v sensor)"
db="$work/bench.duckdb"
export SENSOR_CMD="rm -rf $db ${db%.duckdb}.data; $sensor replay {pcap} --db $db --progress never"
"$shared/bench/anchors.sh" -r "$runs" -T cat,py-raw-iter,dpkt-ref,py-struct-ref,ndpireader,sensor \
  -o "$here/results/$(date -u +%Y%m%dT%H%M%SZ).tsv" "$pcap"
