#!/usr/bin/env bash
# Conformance expectations from tshark: packets and frame.len summed per
# directed 5-tuple (src ip, src port, dst ip, dst port, proto, outer vlan) for
# every capture of ../shared/corpus and tests/pcap/.
#
# Usage: scripts/make-flow-expectations.sh [CAPTURE...]   (from the crate root)
# Writes tests/conformance/expected/<source-path, / as __>.flows.tsv and the
# list of captures left out, with the reason, to
# tests/conformance/skipped-captures.tsv (only when run over everything).
#
# Special handling of tshark's output (see scripts/flow_expectations.py):
# - `-E occurrence=a -E aggregator=,` so repeated fields list every value;
#   the innermost (last) address and ports are used.
# - Frames with several IP layers (tunnels, ICMP errors quoting a header),
#   tunnel protocols in frame.protocols, several transport headers, or IP
#   fragments (IPv4 MF/offset, any IPv6 fragment header) are not counted;
#   their tuples are written as `skip` lines and ignored by the test.
# - The protocol comes from which transport header tshark decoded, not from
#   ip.proto/ipv6.nxt (IPv6 extension headers make ipv6.nxt the first one).
set -euo pipefail

cd "$(dirname "$0")/.."
SHARED=../shared
OUT=tests/conformance/expected
SKIPPED=tests/conformance/skipped-captures.tsv
mkdir -p "$OUT"

FIELDS=(frame.number frame.len frame.protocols ip.src ip.dst ipv6.src ipv6.dst
    tcp.srcport tcp.dstport udp.srcport udp.dstport ip.proto ipv6.nxt vlan.id
    ip.flags.mf ip.frag_offset ipv6.fraghdr.offset ipv6.fraghdr.more)
EARGS=()
for f in "${FIELDS[@]}"; do EARGS+=(-e "$f"); done
TSHARK_OPTS=(-n -T fields -E separator=/t -E occurrence=a -E aggregator=,)
VERSION=$(tshark --version 2>/dev/null | head -1)

# A capture's name relative to the crate's view: corpus/... or tests/pcap/...
source_name() {
    case "$1" in
    "$SHARED"/*) echo "${1#"$SHARED"/}" ;;
    *) echo "$1" ;;
    esac
}

one() {
    local f=$1 name out tmp err
    name=$(source_name "$f")
    out="$OUT/${name//\//__}.flows.tsv"
    tmp=$(mktemp)
    err=$(mktemp)
    if ! tshark "${TSHARK_OPTS[@]}" -r "$f" "${EARGS[@]}" >"$tmp" 2>"$err"; then
        if [ ! -s "$tmp" ]; then
            printf '%s\ttshark cannot read it: %s\n' "$name" \
                "$(grep -v '^Running as user' "$err" | head -1 | tr '\t' ' ')"
            rm -f "$tmp" "$err" "$out"
            return 0
        fi
        # tshark read some frames and then failed (a cut or corrupt file):
        # the expectations would describe a prefix only, so leave it out.
        printf '%s\ttshark stopped mid-file: %s\n' "$name" \
            "$(grep -v '^Running as user' "$err" | head -1 | tr '\t' ' ')"
        rm -f "$tmp" "$err" "$out"
        return 0
    fi
    {
        printf '# tshark %s -r %s %s\n' "${TSHARK_OPTS[*]}" "$name" "${EARGS[*]}"
        printf '# %s\n' "$VERSION"
        python3 scripts/flow_expectations.py "$name" <"$tmp"
    } >"$out"
    rm -f "$tmp" "$err"
}

if [ $# -gt 0 ]; then
    for f in "$@"; do one "$f"; done
    exit 0
fi

list=$(mktemp)
{
    if [ -d "$SHARED/corpus" ]; then
        find "$SHARED/corpus" -path "$SHARED/corpus/expected" -prune -o -type f -print
    else
        echo "note: $SHARED/corpus is absent; only tests/pcap is processed" >&2
    fi
    if [ -d tests/pcap ]; then find tests/pcap -type f -name '*.pcap*'; fi
} | sort >"$list"

{
    printf '#capture\treason\n'
    while read -r f; do
        case "$f" in
        *.pcap | *.pcapng | *.cap) one "$f" ;;
        *.gz) printf '%s\tcompressed (.gz): gatewatch reads it, the conformance test does not\n' "$(source_name "$f")" ;;
        *) ;;
        esac
    done <"$list"
} >"$SKIPPED.tmp"
mv "$SKIPPED.tmp" "$SKIPPED"
rm -f "$list"
echo "expected files: $(find "$OUT" -name '*.flows.tsv' | wc -l)," \
    "tuples: $(cat "$OUT"/*.flows.tsv | grep -c '^flow' || true)," \
    "skipped captures: $(($(wc -l <"$SKIPPED") - 1))"
