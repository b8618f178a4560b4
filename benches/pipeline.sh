#!/usr/bin/env bash
# Throughput of gatewatch against tcpdump, tshark and Suricata 7 on the same
# large capture, in the same run. Run as root from anywhere:
#     benches/pipeline.sh [--packets N] [--runs R]
# Installs what it needs (Debian bookworm; Suricata 7 from bookworm-backports),
# builds gatewatch --release, generates benches/data/bench.pcap (gitignored)
# unless it exists with enough packets, times each tool (best of R runs,
# default 3; hyperfine is used when present for its statistics) and prints
# packets per second and the ratio gatewatch(1 worker)/tool.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=2000000
RUNS=3
while [ $# -gt 0 ]; do
    case "$1" in
    --packets) PACKETS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--packets N] [--runs R]" >&2; exit 2 ;;
    esac
done

section() { printf '\n=== %s ===\n' "$*"; }

section "tools"
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v tshark >/dev/null || missing+=(tshark)
command -v capinfos >/dev/null || missing+=(wireshark-common)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi
if ! suricata -V 2>/dev/null | grep -q 'version 7\.'; then
    echo 'deb http://deb.debian.org/debian bookworm-backports main' \
        >/etc/apt/sources.list.d/bookworm-backports.list
    apt-get update -q
    apt-get install -y -q -t bookworm-backports suricata
fi
apt-cache policy suricata | sed -n 1,3p
suricata -V
tcpdump --version 2>&1 | head -1
tshark --version 2>/dev/null | head -1
HYPERFINE=$(command -v hyperfine || true)

section "build"
cargo build --release --quiet
GW=target/release/gatewatch
"$GW" --version

section "capture"
F=benches/data/bench.pcap
have=0
if [ -f "$F" ]; then
    have=$(capinfos -c -M "$F" 2>/dev/null | awk '/Number of packets/ {print $4}')
fi
if [ "${have:-0}" -lt "$PACKETS" ]; then
    python3 benches/make-bench-capture.py --packets "$PACKETS" --out "$F" | tail -1 >/dev/null
fi
PKTS=$(capinfos -c -M "$F" | awk '/Number of packets/ {print $4}')
echo "$F: $PKTS packets, $(du -h "$F" | cut -f1)"
# Read it once so every tool starts from the page cache.
cat "$F" >/dev/null

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/suricata.yaml" <<EOF
%YAML 1.1
---
default-log-dir: $TMP
outputs:
  - eve-log:
      enabled: no
  - stats:
      enabled: no
logging:
  outputs:
    - console:
        enabled: yes
        level: warning
default-rule-path: $TMP
rule-files: []
EOF

declare -A CMD
NAMES=(gatewatch-w1 gatewatch-w2 tcpdump tshark suricata suricata-eve)
CMD[gatewatch-w1]="$GW analyze --workers 1 -o /dev/null $F"
CMD[gatewatch-w2]="$GW analyze --workers 2 -o /dev/null $F"
CMD[tcpdump]="tcpdump -r $F -w /dev/null"
CMD[tshark]="tshark -r $F -T fields -e frame.number"
CMD[suricata]="suricata -c $TMP/suricata.yaml -r $F --runmode single -k none -l $TMP -S /dev/null"
# Debian's default configuration (EVE JSON with flow and protocol records
# on, as a sensor runs), still without rules: the closest peer to what
# gatewatch does.
mkdir -p "$TMP/eve"
CMD[suricata-eve]="suricata -c /etc/suricata/suricata.yaml -r $F --runmode single -k none -l $TMP/eve -S /dev/null"

# best_seconds NAME: the fastest of $RUNS runs, output discarded.
best_seconds() {
    local cmd=${CMD[$1]} best="" t0 t1 s
    if [ -n "$HYPERFINE" ]; then
        "$HYPERFINE" -N --runs "$RUNS" --export-json "$TMP/$1.json" --output=null "$cmd" >/dev/null 2>&1
        python3 -c 'import json,sys; print(min(json.load(open(sys.argv[1]))["results"][0]["times"]))' "$TMP/$1.json"
        return
    fi
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s.%N)
        bash -c "$cmd" >/dev/null 2>"$TMP/$1.err" || { cat "$TMP/$1.err" >&2; echo "$1 failed" >&2; exit 1; }
        t1=$(date +%s.%N)
        s=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$s < $best" | bc -l)" = 1 ]; then best=$s; fi
    done
    echo "$best"
}
command -v bc >/dev/null || apt-get install -y -q bc

section "timing ($RUNS runs each, best kept; $PKTS packets)"
declare -A SECS
for n in "${NAMES[@]}"; do
    echo "--- $n: ${CMD[$n]}"
    SECS[$n]=$(best_seconds "$n")
done

section "results"
printf '%-14s %10s %14s %22s\n' tool seconds packets/s "gatewatch-w1 / tool"
for n in "${NAMES[@]}"; do
    python3 - "$n" "${SECS[$n]}" "$PKTS" "${SECS[gatewatch-w1]}" <<'EOF'
import sys
name, secs, pkts, gw = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
pps = pkts / secs
# The ratio of throughputs: above 1 means gatewatch (1 worker) is faster.
print(f"{name:<14} {secs:10.3f} {pps:14,.0f} {secs / gw:22.2f}")
EOF
done
