#!/usr/bin/env bash
# Run every fuzz target for a short while (default 30 s each), seeded with
# frames of the project's own captures. Needs cargo-fuzz (installed here if
# missing) and a nightly-capable compiler: RUSTC_BOOTSTRAP=1 lets the
# machine's stable rustc take the sanitizer flags.
# Usage: scripts/fuzz-smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
for t in $targets; do
    mkdir -p "corpus/$t"
done
# Seeds: whole captures for the file parser, single frames for the others,
# MaxMind's own good and bad databases and ours for the MMDB verifier.
cp ../tests/pcap/*/input.pcap corpus/capture_file/ 2>/dev/null || true
cp ../geoip/source/*.json corpus/geoip_build/ 2>/dev/null || true
printf '\x00# vpn exits\n198.51.100.0/24 astrill\n2001:db8::/32\n' >corpus/site_list/seed-text
printf '\x01network,label,source\n192.0.2.0/28,farm,"advisory, 2025"\n' >corpus/site_list/seed-csv
# detect_policy: even first byte = a policy (the documented example and the
# default), odd = an identity map.
{ printf '\x00'; sed -n '/^```toml$/,/^```$/p' ../docs/policy.md | sed '1d;$d'; } >corpus/detect_policy/seed-doc
{ printf '\x00'; cat ../src/detect/policy/default-policy.toml; } >corpus/detect_policy/seed-default
printf '\x01address,user\n10.8.0.2,alice\n' >corpus/detect_policy/seed-csv
printf '\x01[{"address":"10.8.0.9","user":"dave"}]' >corpus/detect_policy/seed-json
if [ -d corpus/mmdb_verify ]; then
    cp ../geoip/*.mmdb corpus/mmdb_verify/ 2>/dev/null || true
    find ../../shared/maxmind-test-data -name '*.mmdb' -size -200k \
        -exec cp {} corpus/mmdb_verify/ \; 2>/dev/null || true
fi
python3 - <<'PY'
import glob, os, struct
frames = []
for path in sorted(glob.glob("../tests/pcap/*/input.pcap")):
    b = open(path, "rb").read()
    le = b[:4] == b"\xd4\xc3\xb2\xa1" or b[:4] == b"\x4d\x3c\xb2\xa1"
    e = "<" if le else ">"
    link = struct.unpack(e + "I", b[20:24])[0]
    off = 24
    while off + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[off + 8:off + 12])[0]
        frames.append((link, b[off + 16:off + 16 + caplen]))
        off += 16 + caplen
for i, (link, f) in enumerate(frames[:200]):
    # decode target: the first byte selects the link type (1 Ethernet, 2 raw IP).
    sel = 1 if link == 1 else 2
    open(f"corpus/decode/seed-{i}", "wb").write(bytes([sel]) + f)
# engine: one seed of a whole Ethernet conversation, length-prefixed.
blob = b"".join(struct.pack(">H", len(f) + 1) + b"\x04" + f for link, f in frames[:400] if link == 1)
open("corpus/engine/seed-conversation", "wb").write(blob)
PY
status=0
for t in $targets; do
    echo "=== fuzz $t for ${SECS}s"
    if ! cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=2048 2>&1 | tail -4; then
        status=1
    fi
done
exit $status
