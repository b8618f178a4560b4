#!/usr/bin/env bash
# Live-capture throughput: gatewatch's service (`gatewatch run`) and tcpdump
# capture side by side, in the same run, on the receiving end of a veth pair
# while tcpreplay sends a large capture across it as fast as it can.
# Run as root from anywhere:
#     benches/live.sh [--packets N] [--runs R] [--workers W]
#
# Two network namespaces of its own (gwlb-tx-PID, gwlb-rx-PID) joined by one
# veth pair, addresses 10.199.0.1/24 and 10.199.0.2/24; no other interface is
# touched, and the namespaces go away on exit (trap). The capture is
# benches/data/bench.pcap when present (benches/pipeline.sh makes it; the
# first N packets are sent, all of them by default), else a capture of N
# packets (default 300000) made by benches/make-bench-capture.py. Frames keep
# their captured MAC addresses: both listeners capture in promiscuous mode,
# so the veth hands every frame to their packet sockets whatever its
# destination (the receiving kernel then drops what is not addressed to it).
#
# Printed for each run: what tcpreplay sent (packets, seconds, packets/s),
# gatewatch's final `stats` event (capture.frames, kernel_drops,
# interface_drops) and tcpdump's "captured / dropped by kernel", each as
# packets/s over tcpreplay's sending time. Not for CI: it needs root,
# namespaces and a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=""
RUNS=1
WORKERS=2
while [ $# -gt 0 ]; do
    case "$1" in
    --packets) PACKETS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    *) echo "usage: $0 [--packets N] [--runs R] [--workers W]" >&2; exit 2 ;;
    esac
done

section() { printf '\n=== %s ===\n' "$*"; }
die() { echo "live.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, raw capture)"

section "tools"
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v tcpreplay >/dev/null || missing+=(tcpreplay)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v capinfos >/dev/null || missing+=(wireshark-common)
command -v ethtool >/dev/null || missing+=(ethtool)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi
tcpreplay --version 2>&1 | sed -n 1p # sed reads all: no SIGPIPE under pipefail
tcpdump --version 2>&1 | sed -n 1p

section "build"
cargo build --release --quiet --features live
GW=$PWD/target/release/gatewatch
"$GW" --version

section "capture"
F=benches/data/bench.pcap
if [ ! -f "$F" ]; then
    F=benches/data/live-${PACKETS:-300000}.pcap
    if [ ! -f "$F" ]; then
        mkdir -p benches/data
        python3 benches/make-bench-capture.py --packets "${PACKETS:-300000}" --out "$F" | tail -1
    fi
fi
TOTAL=$(capinfos -c -M "$F" | awk '/Number of packets/ {print $4}')
SEND=${PACKETS:-$TOTAL}
[ "$SEND" -le "$TOTAL" ] || SEND=$TOTAL
echo "$F: $TOTAL packets, $(du -hL "$F" | cut -f1); sending $SEND per run"
# Read it once so tcpreplay starts from the page cache.
cat "$F" >/dev/null

TX=gwlb-tx-$$
RX=gwlb-rx-$$
TXIF=gwlbt$$
RXIF=gwlbr$$
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    ip netns del "$TX" 2>/dev/null || true
    ip netns del "$RX" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "lab"
ip netns add "$TX"
ip netns add "$RX"
ip link add "$TXIF" netns "$TX" type veth peer name "$RXIF" netns "$RX"
# The largest MTU a veth takes: some corpus frames exceed 1500 bytes (they
# were captured before segmentation offload split them).
for ns_if in "$TX:$TXIF:10.199.0.1/24" "$RX:$RXIF:10.199.0.2/24"; do
    IFS=: read -r ns ifname addr <<<"$ns_if"
    ip -n "$ns" link set "$ifname" mtu 65535
    ip -n "$ns" addr add "$addr" dev "$ifname"
    ip -n "$ns" link set "$ifname" up
    ip -n "$ns" link set lo up
    ip netns exec "$ns" ethtool -K "$ifname" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
done
echo "$TX/$TXIF 10.199.0.1 <-> $RX/$RXIF 10.199.0.2"

CFG=$TMP/gatewatch.toml
cat >"$CFG" <<EOF
[sensor]
name = "live-bench"

[capture]
workers = $WORKERS

[[capture.interfaces]]
name = "$RXIF"
promiscuous = true
snaplen = 65535
buffer_size = 33554432
immediate = true

[service]
stats_interval = 5
shutdown_timeout = 30
EOF
"$GW" check-config "$CFG"

# wait_for FILE TEXT: until FILE holds TEXT (at most 20 s).
wait_for() {
    local i
    for i in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$1" >&2
    die "timed out waiting for '$2' in $1"
}

# run_once I: one replay with both listeners; leaves $TMP/run-I.txt.
run_once() {
    local i=$1 gw td
    local ev=$TMP/events-$i.json gwerr=$TMP/gw-$i.err tderr=$TMP/td-$i.err rep=$TMP/replay-$i.txt
    ip netns exec "$RX" "$GW" run --config "$CFG" -o "$ev" 2>"$gwerr" &
    gw=$!
    PIDS+=("$gw")
    # Same kernel buffer as gatewatch's (32 MiB; -B is in KiB).
    ip netns exec "$RX" tcpdump -i "$RXIF" -B 32768 -s 65535 -w /dev/null 2>"$tderr" &
    td=$!
    PIDS+=("$td")
    wait_for "$gwerr" "capturing on"
    wait_for "$tderr" "listening on"
    sleep 1
    ip netns exec "$TX" tcpreplay --topspeed --limit="$SEND" -i "$TXIF" "$F" >"$rep" 2>&1 ||
        { cat "$rep" >&2; die "tcpreplay failed"; }
    # Let both drain their rings before they are stopped.
    sleep 3
    kill -INT "$td"
    kill -TERM "$gw"
    wait "$td" || true
    wait "$gw" || true
    PIDS=()
    python3 - "$rep" "$ev" "$gwerr" "$tderr" >"$TMP/run-$i.txt" <<'EOF'
import json, re, sys
rep, ev, gwerr, tderr = (open(p, errors="replace").read() for p in sys.argv[1:5])

def num(pattern, text, conv=int):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"not found: {pattern!r}")
    return conv(m.group(1).replace(",", ""))

sent = num(r"Actual: (\d+) packets", rep)
secs = num(r"packets \(\d+ bytes\) sent in ([\d.]+) seconds", rep, float)
failed = num(r"Failed packets:\s+(\d+)", rep)
stats = None
for line in ev.splitlines():
    if '"event_type":"stats"' in line:
        stats = json.loads(line)["stats"]["capture"]
if stats:
    frames, kdrop, idrop = stats["frames"], stats["kernel_drops"], stats["interface_drops"]
else:  # no stats event: the log line at SIGTERM
    m = re.search(r"stopped: (\d+) frames, (\d+) kernel drops, (\d+) interface drops", gwerr)
    if not m:
        sys.exit("gatewatch reported no stats:\n" + gwerr)
    frames, kdrop, idrop = map(int, m.groups())
td_cap = num(r"(\d+) packets captured", tderr)
td_drop = num(r"(\d+) packets dropped by kernel", tderr)
print(f"{secs} {sent} {failed} {frames} {kdrop} {idrop} {td_cap} {td_drop}")
EOF
}

section "runs ($RUNS; $SEND packets each, tcpreplay --topspeed; gatewatch $WORKERS workers)"
for i in $(seq "$RUNS"); do
    echo "--- run $i"
    run_once "$i"
    cat "$TMP/replay-$i.txt" | grep -E "Actual|Rated|Failed" || true
    grep -h "stopped:" "$TMP/gw-$i.err" || true
    grep -hE "packets (captured|dropped)" "$TMP/td-$i.err" || true
done

section "results (packets/s over tcpreplay's sending time)"
printf '%-4s %8s %10s %12s | %10s %12s %10s %10s | %10s %12s %10s\n' \
    run seconds sent sent/s gw-frames gw-frames/s gw-kdrop gw-ifdrop td-capt td-capt/s td-kdrop
for i in $(seq "$RUNS"); do
    read -r secs sent failed frames kdrop idrop tdc tdd <"$TMP/run-$i.txt"
    python3 - "$i" "$secs" "$sent" "$failed" "$frames" "$kdrop" "$idrop" "$tdc" "$tdd" <<'EOF'
import sys
i, secs, sent, failed, frames, kdrop, idrop, tdc, tdd = sys.argv[1:]
s = float(secs)
sent, frames, tdc = int(sent), int(frames), int(tdc)
print(f"{i:<4} {s:8.2f} {sent:10,} {sent / s:12,.0f} | {frames:10,} {frames / s:12,.0f} "
      f"{int(kdrop):10,} {int(idrop):10,} | {tdc:10,} {tdc / s:12,.0f} {int(tdd):10,}"
      + (f"   ({failed} failed sends)" if failed != "0" else ""))
EOF
done
