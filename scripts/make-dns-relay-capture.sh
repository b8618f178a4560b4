#!/usr/bin/env bash
# Real-client capture for tests/pcap/dns-relay/input.pcap: a client looks up
# names (one behind a CNAME, one AAAA) at dnsmasq, then fetches a page from
# each answer's address by address only (no name in the URL: the only place
# the name shows is the DNS answer). Two network namespaces joined by a veth
# pair; the "relay" addresses live on the server's loopback, routed through
# it. Nothing leaves the machine. Run as root from the crate root.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in dnsmasq dig tcpdump curl ethtool; do
    command -v "$t" >/dev/null || apt-get install -y -q dnsmasq-base dnsutils tcpdump curl ethtool >/dev/null
done

ID=$$
SRV=gwdr-srv-$ID CLI=gwdr-cli-$ID VS=gwd-s$ID VC=gwd-c$ID
S4=10.77.0.1 C4=10.77.0.2 S6=fd77::1 C6=fd77::2
WORK=$(mktemp -d /tmp/gwdr.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    ip netns del "$SRV" 2>/dev/null || true
    ip netns del "$CLI" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
S() { ip netns exec "$SRV" "$@"; }
C() { ip netns exec "$CLI" "$@"; }

ip netns add "$SRV"
ip netns add "$CLI"
ip link add "$VS" type veth peer name "$VC"
ip link set "$VS" netns "$SRV"
ip link set "$VC" netns "$CLI"
S ip addr add "$S4/24" dev "$VS"
C ip addr add "$C4/24" dev "$VC"
S ip addr add "$S6/64" dev "$VS" nodad
C ip addr add "$C6/64" dev "$VC" nodad
for n in 11 12 13 14; do S ip addr add "198.51.100.$n/32" dev lo; done
S ip addr add 2001:db8:77::14/128 dev lo
S ip link set lo up
C ip link set lo up
S ip link set "$VS" up
C ip link set "$VC" up
C ip route add 198.51.100.0/24 via "$S4"
C ip -6 route add 2001:db8:77::/64 via "$S6"
S ethtool -K "$VS" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
C ethtool -K "$VC" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
sleep 1

mkdir -p "$WORK/www"
printf 'gatewatch relay page\n' >"$WORK/www/index.html"
ip netns exec "$SRV" python3 -m http.server 8000 --bind :: --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
ip netns exec "$SRV" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$S4" --user=root --pid-file="$WORK/dnsmasq.pid" \
    --host-record=relay1.gatewatch.test,198.51.100.11 \
    --host-record=relay2.gatewatch.test,198.51.100.12 \
    --host-record=relay3.gatewatch.test,198.51.100.13 \
    --host-record=relay4.gatewatch.test,198.51.100.14,2001:db8:77::14 \
    --cname=desk.gatewatch.test,relay1.gatewatch.test 2>"$WORK/dnsmasq.log" &
PIDS+=($!)
sleep 1.5

mkdir -p tests/pcap/dns-relay
ip netns exec "$SRV" tcpdump -Z root -i "$VS" -s 0 -U -n -w tests/pcap/dns-relay/input.pcap \
    2>"$WORK/tcpdump.log" &
TP=$!
sleep 1.5
C dig +short "@$S4" desk.gatewatch.test A
C curl -sS -o /dev/null http://198.51.100.11:8000/index.html
for n in 2 3; do
    C dig +short "@$S4" "relay$n.gatewatch.test" A
    C curl -sS -o /dev/null "http://198.51.100.1$n:8000/index.html"
done
C dig +short "@$S4" relay4.gatewatch.test AAAA
C curl -sS -o /dev/null -g "http://[2001:db8:77::14]:8000/index.html"
sleep 1
kill -TERM "$TP"
wait "$TP" || true

cat >tests/pcap/dns-relay/README.md <<EOF
# dns-relay: names looked up, then the addresses fetched by address

Real traffic between two network namespaces joined by a veth pair (server $S4 / $S6, client
$C4 / $C6; the "relay" addresses 198.51.100.11-14 and 2001:db8:77::14 on the server's loopback,
routed through it), offloads off, captured on the server end with \`tcpdump -i IF -s 0 -U -n -w\`.
Made by \`scripts/make-dns-relay-capture.sh\` on $(date -u +%Y-%m-%d).

\`\`\`
dnsmasq -k --no-resolv --no-hosts --host-record=relay1.gatewatch.test,198.51.100.11 (... relay2-3, relay4 with 2001:db8:77::14) --cname=desk.gatewatch.test,relay1.gatewatch.test
python3 -m http.server 8000 --bind ::
dig +short @$S4 desk.gatewatch.test A;   curl http://198.51.100.11:8000/index.html
dig +short @$S4 relay2.gatewatch.test A; curl http://198.51.100.12:8000/index.html
dig +short @$S4 relay3.gatewatch.test A; curl http://198.51.100.13:8000/index.html
dig +short @$S4 relay4.gatewatch.test AAAA; curl -g http://[2001:db8:77::14]:8000/index.html
\`\`\`

Versions: $(uname -sr); $(dnsmasq --version | head -1); $(dig -v 2>&1); $(curl --version | head -1); $(tcpdump --version 2>&1 | head -1)
EOF
ls -l tests/pcap/dns-relay/input.pcap
