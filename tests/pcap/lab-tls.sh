#!/bin/sh
# Makes tests/pcap/tls-lab/tls-sni.pcap: real TLS clients (curl, openssl
# s_client) with chosen SNIs against `openssl s_server` (a TLS 1.2-only run,
# then a default TLS 1.3 run), in two network namespaces joined by a veth
# pair (see tests/pcap/tls-lab/README.md). Run as root from the crate root;
# needs openssl, curl, tcpdump, ethtool. Nothing leaves the namespaces; the
# namespaces are removed at the end (and at the start, if a previous run
# left them behind), so the script can be run again.
set -u
OUT=${OUT:-$(pwd)/tests/pcap/tls-lab}
SRV=gwtls-srv; CLI=gwtls-cli
SIP=10.78.0.1; CIP=10.78.0.2
# The SNIs: an AnyDesk relay name and a TeamViewer router name (both listed
# in catalogue/remote-access.toml), a name no entry matches, and the
# server's IP literal (RFC 6066 section 3 forbids literals: an anomaly).
ANYDESK=relay-3f2a9c1e.net.anydesk.com
TEAMVIEWER=router15.teamviewer.com
PLAIN=intranet.lab.example
WORK=$(mktemp -d)
cleanup() {
    for p in $(cat "$WORK"/pids 2>/dev/null); do kill "$p" 2>/dev/null; done
    sleep 1
    ip netns del $SRV 2>/dev/null; ip netns del $CLI 2>/dev/null
    rm -rf "$WORK"
}
ip netns del $SRV 2>/dev/null; ip netns del $CLI 2>/dev/null
trap cleanup EXIT

ip netns add $SRV && ip netns add $CLI || exit 1
ip link add gwt0 type veth peer name gwt1 || exit 1
ip link set gwt0 netns $SRV; ip link set gwt1 netns $CLI
ip -n $SRV addr add $SIP/24 dev gwt0; ip -n $CLI addr add $CIP/24 dev gwt1
for ns in $SRV $CLI; do ip -n $ns link set lo up; done
ip -n $SRV link set gwt0 up; ip -n $CLI link set gwt1 up
ip netns exec $SRV ethtool -K gwt0 tso off gso off gro off tx off rx off >/dev/null 2>&1
ip netns exec $CLI ethtool -K gwt1 tso off gso off gro off tx off rx off >/dev/null 2>&1

# A self-signed P-256 certificate made on the fly; its subject matches no
# catalogue entry, so only the SNI can name a tool.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 30 \
    -subj "/C=DE/O=gatewatch lab/CN=lab-tls-server" >>"$WORK/log" 2>&1 || exit 1

ip netns exec $SRV tcpdump -i gwt0 -s 0 -U -w "$WORK/all.pcap" "tcp port 443" >>"$WORK/log" 2>&1 &
td=$!; echo $td >>"$WORK/pids"
sleep 1

# One server run ($@: extra s_server options), then the clients, one at a
# time. `-www` answers a GET with a status page and closes.
serve() {
    ip netns exec $SRV openssl s_server -accept 443 -cert "$WORK/cert.pem" \
        -key "$WORK/key.pem" -www "$@" >>"$WORK/log" 2>&1 &
    srv=$!; sleep 1
    for name in $ANYDESK $TEAMVIEWER $PLAIN; do
        ip netns exec $CLI timeout 5 curl -sk -o /dev/null \
            --resolve $name:443:$SIP https://$name/ >>"$WORK/log" 2>&1
        sleep 0.3
    done
    for name in $ANYDESK $TEAMVIEWER $PLAIN $SIP; do
        printf 'GET / HTTP/1.0\r\n\r\n' | ip netns exec $CLI timeout 5 \
            openssl s_client -connect $SIP:443 -servername $name -ign_eof \
            >>"$WORK/log" 2>&1
        sleep 0.3
    done
    kill $srv; wait $srv 2>/dev/null
}
serve -tls1_2
serve
sleep 1; kill $td; wait $td 2>/dev/null

mkdir -p "$OUT"
cp "$WORK/all.pcap" "$OUT/tls-sni.pcap"
ls -l "$OUT/tls-sni.pcap"
tail -5 "$WORK/log"
