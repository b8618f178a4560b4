#!/usr/bin/env bash
# Real-client captures for tests/pcap/<case>/input.pcap, made in two network
# namespaces joined by a veth pair (nothing leaves the machine). Run as root
# from the crate root: scripts/make-lab-captures.sh
#
# Cases: http (curl -> python3 http.server, IPv4 and IPv6), ssh (OpenSSH, key
# auth, one command), dns (dig -> dnsmasq, UDP and TCP, IPv4 and IPv6), and
# demo (the three merged with mergecap). Each case directory gets a README.md
# with the exact commands and program versions.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need sshd || ! need dnsmasq || ! need dig || ! need tcpdump || ! need mergecap || ! need ethtool; then
    apt-get install -y -q openssh-server openssh-client dnsutils dnsmasq-base tcpdump \
        wireshark-common ethtool iproute2 curl python3 >/dev/null
fi

ID=$$
SRV=gwlab-srv-$ID
CLI=gwlab-cli-$ID
VS=gwv-s$ID
VC=gwv-c$ID
S4=10.77.0.1 C4=10.77.0.2 S6=fd77::1 C6=fd77::2
WORK=$(mktemp -d /tmp/gwlab.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    # Anything still running in the namespaces was started here.
    for ns in "$SRV" "$CLI"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    done
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
S ip link set lo up
C ip link set lo up
S ip link set "$VS" up
C ip link set "$VC" up
# Wire frames, not 64 KB super-segments with unfinished checksums.
S ethtool -K "$VS" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
C ethtool -K "$VC" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
sleep 1

# capture CASE COMMAND...: tcpdump on the server end around COMMAND.
capture() {
    local case=$1
    shift
    mkdir -p "tests/pcap/$case"
    ip netns exec "$SRV" tcpdump -Z root -i "$VS" -s 0 -U -n -w "tests/pcap/$case/input.pcap" \
        2>"$WORK/tcpdump-$case.log" &
    local tp=$!
    sleep 1.5
    "$@"
    sleep 1
    kill -TERM "$tp"
    wait "$tp" || true
}

# --- http ------------------------------------------------------------------
mkdir -p "$WORK/www"
printf 'gatewatch lab page\n' >"$WORK/www/index.html"
# Started directly (not through a shell function) so that $! is the server.
ip netns exec "$SRV" python3 -m http.server 8000 --bind :: --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
sleep 1.5
http_client() {
    C curl -sS -o /dev/null "http://$S4:8000/index.html"
    sleep 0.3
    C curl -sS -o /dev/null -g "http://[$S6]:8000/index.html"
}
capture http http_client

# --- ssh -------------------------------------------------------------------
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
cat >"$WORK/sshd_config" <<EOF
ListenAddress $S4
Port 22
HostKey $WORK/host_key
AuthorizedKeysFile $WORK/authorized_keys
PidFile $WORK/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF
ip netns exec "$SRV" /usr/sbin/sshd -D -f "$WORK/sshd_config" -E "$WORK/sshd.log" &
PIDS+=($!)
sleep 1
ssh_client() {
    C ssh -i "$WORK/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes -o LogLevel=ERROR "root@$S4" 'uname -sr; echo gatewatch-lab' >/dev/null
}
capture ssh ssh_client

# --- dns -------------------------------------------------------------------
ip netns exec "$SRV" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$S4" --listen-address="$S6" --user=root --pid-file="$WORK/dnsmasq.pid" \
    --address=/host.gatewatch.test/10.77.0.9 --address=/host.gatewatch.test/fd77::9 \
    --txt-record=lab.gatewatch.test,"real client capture" 2>"$WORK/dnsmasq.log" &
PIDS+=($!)
sleep 1
dns_client() {
    C dig +short "@$S4" host.gatewatch.test A >/dev/null
    C dig +short "@$S6" host.gatewatch.test AAAA >/dev/null
    C dig +short +tcp "@$S4" lab.gatewatch.test TXT >/dev/null
}
capture dns dns_client

# --- demo: the three, merged in time order ----------------------------------
mkdir -p tests/pcap/demo
mergecap -F pcap -w tests/pcap/demo/input.pcap tests/pcap/http/input.pcap \
    tests/pcap/ssh/input.pcap tests/pcap/dns/input.pcap

# --- provenance ------------------------------------------------------------
versions() {
    echo "- kernel: $(uname -sr); Debian $(cat /etc/debian_version)"
    echo "- $(tcpdump --version 2>&1 | head -1); $(tcpdump --version 2>&1 | sed -n 2p)"
    echo "- $1"
}
readme() {
    local case=$1 title=$2 cmds=$3 ver=$4
    {
        echo "# $case: $title"
        echo
        echo "Real traffic between two network namespaces joined by a veth pair (server $S4 / $S6,"
        echo "client $C4 / $C6), offloads off on both ends (\`ethtool -K IF tso off gso off gro off tx off rx off\`),"
        echo "captured on the server end with \`tcpdump -i IF -s 0 -U -n -w input.pcap\`."
        echo "Made by \`scripts/make-lab-captures.sh\` on $(date -u +%Y-%m-%d)."
        echo
        echo "Commands (servers in the server namespace, clients in the client namespace):"
        echo
        echo '```'
        echo "$cmds"
        echo '```'
        echo
        echo "Versions:"
        echo
        versions "$ver"
        echo
        echo "Contents (\`capinfos -c -s\`): $(capinfos -c -s -M "tests/pcap/$case/input.pcap" 2>/dev/null | grep -E 'Number of packets|File size' | sed 's/  */ /g' | paste -sd ';')"
        echo
        echo "Expected flow counters: tests/conformance/expected/tests__pcap__${case}__input.pcap.flows.tsv"
        echo "(scripts/make-flow-expectations.sh, from tshark)."
    } >"tests/pcap/$case/README.md"
}
readme http "curl to python3 http.server over IPv4 and IPv6" \
    "python3 -m http.server 8000 --bind ::     # server namespace, serving a 19-byte index.html
curl -sS -o /dev/null http://$S4:8000/index.html
curl -sS -o /dev/null -g http://[$S6]:8000/index.html" \
    "$(curl --version | head -1); $(python3 --version)"
readme ssh "OpenSSH session with key authentication running one command" \
    "/usr/sbin/sshd -D -f sshd_config   # server namespace; ed25519 host key, key auth only, port 22
ssh -i client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes root@$S4 'uname -sr; echo gatewatch-lab'" \
    "$(ssh -V 2>&1)"
readme dns "dig against dnsmasq: UDP over IPv4 and IPv6, TCP over IPv4" \
    "dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces --listen-address=$S4 --listen-address=$S6 --address=/host.gatewatch.test/10.77.0.9 --address=/host.gatewatch.test/fd77::9 --txt-record=lab.gatewatch.test,\"real client capture\"   # server
dig +short @$S4 host.gatewatch.test A
dig +short @$S6 host.gatewatch.test AAAA
dig +short +tcp @$S4 lab.gatewatch.test TXT" \
    "$(dnsmasq --version | head -1); $(dig -v 2>&1)"
readme demo "the http, ssh and dns captures merged" \
    "mergecap -F pcap -w tests/pcap/demo/input.pcap tests/pcap/http/input.pcap tests/pcap/ssh/input.pcap tests/pcap/dns/input.pcap" \
    "$(mergecap --version 2>/dev/null | head -1)"

ls -l tests/pcap/*/input.pcap
