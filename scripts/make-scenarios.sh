#!/usr/bin/env bash
# Makes the detection scenarios of tests/scenarios/ (and the demo capture
# tests/pcap/demo-detection/input.pcap) from REAL clients: OpenSSH, FreeRDP
# against xrdp, TigerVNC, curl, openssl s_client, wireguard-go. See
# tests/scenarios/README.md for the stories and the ground truth.
#
# Run as root from anywhere in the crate. Nothing leaves the machine: five
# network namespaces made here (no default route out), removed at the end,
# like the test users alice, bob and carol when this script created them.
#
#   gwsc-lan  10.80.0.2 --- 10.80.0.1  gwsc-srv (sshd, xrdp, Xtigervnc, s_server)
#                                      10.80.1.1
#                                        |  (sensor: tcpdump on both server links)
#   gwsc-far  10.80.2.2 ~~~ 10.80.2.1  gwsc-hop 10.80.1.2
#             (~~~: 75 ms each way, NFQUEUE, scripts/nfq-delay.c)
#   gwsc-wgc  10.80.3.2 --- 10.80.3.1  gwsc-hop   (WireGuard 10.81.0.2 -> 10.81.0.1)
#
# gwsc-hop is a router (far, direct client) or, for the relayed session, a
# socat TCP hop listening on 10.80.2.1. Captures are then trimmed (editcap),
# moved to the demo GeoIP addresses (tcprewrite --pnat) and in time
# (editcap -t) so that each one happens when its story says.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/tests/scenarios}
DEMO=${DEMO:-$ROOT/tests/pcap/demo-detection}

pkgs="openssh-server openssh-client xrdp xorgxrdp freerdp2-x11 xvfb tigervnc-standalone-server
tigervnc-viewer tigervnc-tools socat iptables libnetfilter-queue-dev gcc tcpdump tcpreplay tshark
ethtool curl openssl wireguard-go wireguard-tools"
for t in sshd ssh xrdp xfreerdp Xvfb Xtigervnc vncviewer vncpasswd socat iptables gcc tcpdump \
    tcprewrite editcap mergecap tshark ethtool curl openssl wireguard-go wg; do
    command -v "$t" >/dev/null || { apt-get install -y -q $pkgs >/dev/null || exit 1; break; }
done

# ---------------------------------------------------------------- ground truth
gt() { # what tshark (an established dissector) sees in one capture
    local f=$1
    echo "== ${f#"$ROOT"/}"
    capinfos -c -s -a -e "$f" | sed 1d
    echo "-- TCP handshakes (client, server, SYN MSS, initial RTT s as tshark measures it at the sensor):"
    tshark -r "$f" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e ip.src -e ip.dst -e tcp.dstport \
        -e tcp.options.mss_val 2>/dev/null | sort -u
    tshark -r "$f" -Y 'tcp.analysis.initial_rtt && tcp.flags.syn==0 && tcp.seq==1 && tcp.ack==1 && tcp.len==0' \
        -T fields -e ip.src -e tcp.stream -e tcp.analysis.initial_rtt 2>/dev/null | sort -u -k2,2n
    echo "-- RDP cookies, SSH versions, TLS SNIs, RFB versions:"
    tshark -r "$f" -d tcp.port==5901,vnc -Y 'rdp.rt_cookie || ssh.protocol || tls.handshake.extensions_server_name || vnc.server_proto_ver' \
        -T fields -e frame.time -e ip.src -e rdp.rt_cookie -e ssh.protocol \
        -e tls.handshake.extensions_server_name -e vnc.server_proto_ver 2>/dev/null
    echo "-- application round trips at the sensor (per TCP stream: first server data segment after the client's"
    echo "   last one -> the client's next data segment; count, min, median ms; tshark frame times, reduced in python):"
    tshark -r "$f" -Y 'tcp.len>0' -T fields -e tcp.stream -e tcp.srcport -e frame.time_epoch 2>/dev/null |
        python3 -c '
import sys, statistics
SERVER_PORTS = {"22", "3389", "5901", "443"}
pending, rtts = {}, {}
for line in sys.stdin:
    stream, sport, t = line.split()
    if sport in SERVER_PORTS:
        pending.setdefault(stream, float(t))
    elif stream in pending:
        rtts.setdefault(stream, []).append((float(t) - pending.pop(stream)) * 1000)
for s, v in sorted(rtts.items(), key=lambda kv: int(kv[0])):
    print(f"stream {s}: {len(v)}, min {min(v):.3f}, median {statistics.median(v):.3f}")
'
}
ground_truth() {
    {
    echo "# tshark $(tshark --version | head -1 | sed 's/.*(Wireshark) //'); made $(date -u +%FT%TZ) on $(uname -r)"
    for f in "$OUT"/*/capture.pcap "$DEMO/input.pcap"; do gt "$f"; done
    } >"$OUT/ground-truth.txt"
}
if [ "${1:-}" = --ground-truth ]; then ground_truth; exit 0; fi

SRV=gwsc-srv LAN=gwsc-lan HOP=gwsc-hop FAR=gwsc-far WGC=gwsc-wgc
S_LAN=10.80.0.1 C_LAN=10.80.0.2    # server <-> near client
S_HOP=10.80.1.1 H_SRV=10.80.1.2    # server <-> hop
H_FAR=10.80.2.1 C_FAR=10.80.2.2    # hop <-> far client (delayed)
H_WG=10.80.3.1 C_WG=10.80.3.2      # hop <-> WireGuard client (the tunnel's outer addresses)
T_HOP=10.81.0.1 T_CLI=10.81.0.2    # inside the WireGuard tunnel
DELAY_MS=${DELAY_MS:-75}           # each way: 150 ms round trip (Milan-Bengaluru is ~7,300 km: >= 73 ms)
PASS=Lab-pass-1
# FreeRDP sends /v:'s argument as the TLS SNI: a name, not a lab address
# (an IP literal there is an anomaly, and rewriting would not move it).
# `ip netns exec` mounts /etc/netns/NS/hosts over /etc/hosts.
RDPHOST=rdp.gatewatch-demo.example
DISP=:57
WORK=$(mktemp -d /tmp/gwsc.XXXXXX)
chmod 755 "$WORK"
PIDS=()
MADE_USERS=()
MADE_DIRS=()
MADE_ETC_NETNS=; [ -d /etc/netns ] || MADE_ETC_NETNS=1
log() { printf '%s\n' "$*" >&2; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    # xrdp-sesman forks each session (Xorg, xterm, chansrv) as the test user
    # and detaches it: end what the users we made still run.
    for u in "${MADE_USERS[@]}"; do
        for p in $(ps -o pid= -u "$u" 2>/dev/null); do kill "$p" 2>/dev/null; done
    done
    sleep 2
    for ns in $SRV $LAN $HOP $FAR $WGC; do ip netns del $ns 2>/dev/null; done
    for d in "${MADE_DIRS[@]}"; do rm -rf "$d"; done
    [ -n "$MADE_ETC_NETNS" ] && rmdir /etc/netns 2>/dev/null
    for u in "${MADE_USERS[@]}"; do userdel -r "$u" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
bg() { "$@" >>"$WORK/log" 2>&1 & PIDS+=($!); }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------- the lab
for ns in $SRV $LAN $HOP $FAR $WGC; do ip netns del $ns 2>/dev/null; ip netns add $ns || exit 1; done
link() { # link NS_A IF_A ADDR_A NS_B IF_B ADDR_B
    ip link add "$2" type veth peer name "$5" || exit 1
    ip link set "$2" netns "$1"; ip link set "$5" netns "$4"
    ip -n "$1" addr add "$3/24" dev "$2"; ip -n "$4" addr add "$6/24" dev "$5"
    ip -n "$1" link set "$2" up; ip -n "$4" link set "$5" up
    in_ns "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1
    in_ns "$4" ethtool -K "$5" tso off gso off gro off tx off rx off >/dev/null 2>&1
}
link $SRV gwsc-s0 $S_LAN $LAN gwsc-l0 $C_LAN
link $SRV gwsc-s1 $S_HOP $HOP gwsc-h0 $H_SRV
link $HOP gwsc-h1 $H_FAR $FAR gwsc-f0 $C_FAR
link $HOP gwsc-h2 $H_WG $WGC gwsc-w0 $C_WG
for ns in $SRV $LAN $HOP $FAR $WGC; do ip -n $ns link set lo up; done
ip -n $SRV route add 10.80.2.0/24 via $H_SRV
ip -n $SRV route add 10.81.0.0/24 via $H_SRV
ip -n $FAR route add default via $H_FAR
in_ns $HOP sysctl -qw net.ipv4.ip_forward=1
hosts() { # NS ADDR: the RDP server's name in that namespace's /etc/hosts
    [ -e "/etc/netns/$1" ] && { log "/etc/netns/$1 exists: not ours, stopping"; exit 1; }
    mkdir -p "/etc/netns/$1" && MADE_DIRS+=("/etc/netns/$1")
    printf '127.0.0.1 localhost\n%s %s\n' "$2" "$RDPHOST" >"/etc/netns/$1/hosts"
}
hosts $LAN $S_LAN
hosts $FAR $H_FAR   # the far client dials the company's name; the relay answers

# The far client's link waits DELAY_MS each way, in both directions.
gcc -O2 -Wall -o "$WORK/nfq-delay" scripts/nfq-delay.c -lnetfilter_queue || exit 1
in_ns $FAR iptables -A OUTPUT -o gwsc-f0 -j NFQUEUE --queue-num 7
in_ns $FAR iptables -A INPUT -i gwsc-f0 -j NFQUEUE --queue-num 7
bg ip netns exec $FAR "$WORK/nfq-delay" 7 "$DELAY_MS"

# A WireGuard tunnel (wireguard-go, userspace: this kernel has no wireguard
# module) from gwsc-wgc to the hop, which routes on to the server: the
# server sees the client's inner address, the MSS of the tunnel's 1420-byte
# MTU and one router hop.
umask 077
wg genkey >"$WORK/wg-hop.key" && wg pubkey <"$WORK/wg-hop.key" >"$WORK/wg-hop.pub"
wg genkey >"$WORK/wg-cli.key" && wg pubkey <"$WORK/wg-cli.key" >"$WORK/wg-cli.pub"
umask 022
bg ip netns exec $HOP wireguard-go -f gwsc-wg0
bg ip netns exec $WGC wireguard-go -f gwsc-wg1
sleep 1
in_ns $HOP wg set gwsc-wg0 private-key "$WORK/wg-hop.key" listen-port 51820 \
    peer "$(cat "$WORK/wg-cli.pub")" allowed-ips $T_CLI/32 || exit 1
in_ns $WGC wg set gwsc-wg1 private-key "$WORK/wg-cli.key" \
    peer "$(cat "$WORK/wg-hop.pub")" allowed-ips 10.81.0.0/24,10.80.1.0/24 endpoint $H_WG:51820 || exit 1
ip -n $HOP addr add $T_HOP/24 dev gwsc-wg0; ip -n $HOP link set gwsc-wg0 up
ip -n $WGC addr add $T_CLI/24 dev gwsc-wg1; ip -n $WGC link set gwsc-wg1 up
ip -n $WGC route add 10.80.1.0/24 dev gwsc-wg1

# ---------------------------------------------------------------- servers
for u in alice bob carol; do
    if ! id "$u" >/dev/null 2>&1; then
        useradd -m -s /bin/sh "$u" && MADE_USERS+=("$u") || exit 1
    fi
    echo "$u:$PASS" | chpasswd
    printf 'exec xterm\n' >"/home/$u/.xsession"
done

# OpenSSH: key authentication only, so no prompt sits in any exchange.
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key" && ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
cp "$WORK/id.pub" "$WORK/authorized_keys"; chmod 644 "$WORK/authorized_keys"
cat >"$WORK/sshd_config" <<EOF
Port 22
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers alice
PrintMotd no
PrintLastLog no
EOF
mkdir -p /run/sshd
bg ip netns exec $SRV /usr/sbin/sshd -D -e -f "$WORK/sshd_config"
bg Xvfb $DISP -screen 0 1024x768x24 -nolisten tcp
bg ip netns exec $SRV xrdp-sesman --nodaemon
bg ip netns exec $SRV xrdp --nodaemon
printf '%s\n' "$PASS" | vncpasswd -f >"$WORK/vncpasswd"; chmod 600 "$WORK/vncpasswd"
bg ip netns exec $SRV Xtigervnc :58 -rfbport 5901 -SecurityTypes VncAuth -PasswordFile "$WORK/vncpasswd" \
    -desktop lab-desktop -geometry 800x600 -localhost=0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/tls.key" \
    -out "$WORK/tls.crt" -days 30 -subj "/C=DE/O=gatewatch lab/CN=lab-tls-server" >>"$WORK/log" 2>&1
bg ip netns exec $SRV openssl s_server -accept 443 -cert "$WORK/tls.crt" -key "$WORK/tls.key" -www
# The relay: a socat TCP hop on the hop's far side, to the server's sshd and xrdp.
bg ip netns exec $HOP socat TCP-LISTEN:22,bind=$H_FAR,fork,reuseaddr TCP:$S_HOP:22
bg ip netns exec $HOP socat TCP-LISTEN:3389,bind=$H_FAR,fork,reuseaddr TCP:$S_HOP:3389
sleep 3

# ---------------------------------------------------------------- clients
mkdir -p "$WORK/raw"
# cap NAME SERVER_IF LAB_CLIENT LAB_SERVER CMD...: one capture on the server's
# link (the sensor's place), the client command run in its namespace.
cap() {
    local name=$1 ifc=$2 lc=$3 ls=$4; shift 4
    echo "$lc $ls" >"$WORK/raw/$name.addr"
    ip netns exec $SRV tcpdump -i "$ifc" -s 0 -U -n -w "$WORK/raw/$name.pcap" tcp >>"$WORK/log" 2>&1 &
    local td=$!
    sleep 1
    "$@" >>"$WORK/log" 2>&1
    sleep 1.5
    kill $td; wait $td 2>/dev/null
    log "captured $name: $(tshark -r "$WORK/raw/$name.pcap" 2>/dev/null | wc -l) packets"
}
# A person typing "echo hi" and "exit" into an interactive shell: each
# keystroke's echo is an application round trip that needs no user action.
typist() {
    sleep "${1:-2}"
    for c in e c h o ' ' h i; do printf '%s' "$c"; sleep 0.4; done
    printf '\r'; sleep 1
    for c in e x i t; do printf '%s' "$c"; sleep 0.4; done
    printf '\r'; sleep 1.5
}
ssh_session() { # NS ADDR [extra ssh options]
    local ns=$1 addr=$2; shift 2
    typist 3 | in_ns "$ns" timeout 30 ssh -tt -F /dev/null -i "$WORK/id" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR "$@" "alice@$addr"
}
rdp_session() { # NS ADDR USER
    DISPLAY=$DISP timeout "${RDP_SECS:-8}" ip netns exec "$1" xfreerdp /v:"$2" /u:"$3" /p:$PASS \
        /cert:ignore /size:800x600 /client-hostname:"WS-${3^^}"
}
vnc_session() { # NS ADDR::PORT
    DISPLAY=$DISP timeout 6 ip netns exec "$1" vncviewer -passwd "$WORK/vncpasswd" "$2"
}
tls_sessions() { # NS ADDR NAME: curl (TLS 1.3) then openssl s_client (TLS 1.2)
    in_ns "$1" curl -sk -o /dev/null --resolve "$3:443:$2" "https://$3/"
    sleep 0.5
    printf 'GET / HTTP/1.0\r\n\r\n' | in_ns "$1" timeout 5 openssl s_client -connect "$2:443" \
        -servername "$3" -tls1_2 -ign_eof
}

# RDP sessions from the near client (each story gets its own real session).
for n in contractor vpn india travel1 travel2 night1 night2 night3 night4; do
    cap rdp_alice_$n gwsc-s0 $C_LAN $S_LAN rdp_session $LAN $RDPHOST alice
done
for u in alice bob carol; do
    cap rdp_${u}_farm gwsc-s0 $C_LAN $S_LAN rdp_session $LAN $RDPHOST $u
    cap rdp_${u}_demo gwsc-s0 $C_LAN $S_LAN rdp_session $LAN $RDPHOST $u
done
# An account no identity names (and the server does not know: the login fails).
cap rdp_dave gwsc-s0 $C_LAN $S_LAN rdp_session $LAN $RDPHOST dave
# SSH and VNC from the near client: LAN round trips.
cap ssh_near gwsc-s0 $C_LAN $S_LAN ssh_session $LAN $S_LAN
cap ssh_benign gwsc-s0 $C_LAN $S_LAN ssh_session $LAN $S_LAN
cap vnc_benign gwsc-s0 $C_LAN $S_LAN vnc_session $LAN $S_LAN::5901
cap ssh_demo gwsc-s0 $C_LAN $S_LAN ssh_session $LAN $S_LAN
# A tunnel's smaller path MTU: the client's route advertises MSS 1300.
ip -n $LAN route replace 10.80.0.0/24 dev gwsc-l0 advmss 1300
cap ssh_mss gwsc-s0 $C_LAN $S_LAN ssh_session $LAN $S_LAN
ip -n $LAN route replace 10.80.0.0/24 dev gwsc-l0
# Through the WireGuard tunnel (the hop decrypts and routes to the server).
cap ssh_wireguard gwsc-s1 $T_CLI $S_HOP ssh_session $WGC $S_HOP
# The issued laptop talks TLS to a remote-desktop relay name.
cap tls_anydesk gwsc-s0 $C_LAN $S_LAN tls_sessions $LAN $S_LAN relay-3f2a9c1e.net.anydesk.com
# The far client: through the socat relay (the server sees the relay) and
# routed (the server sees the far client itself).
cap ssh_relay gwsc-s1 $H_SRV $S_HOP ssh_session $FAR $H_FAR
cap ssh_far gwsc-s1 $C_FAR $S_HOP ssh_session $FAR $S_HOP
RDP_SECS=12 cap rdp_relay gwsc-s1 $H_SRV $S_HOP rdp_session $FAR $RDPHOST alice

# ---------------------------------------------------------------- scenarios
SERVER=203.0.113.70
# place RAW CLIENT SERVER "YYYY-MM-DD HH:MM:SS" (Europe/Rome) [MAX_PACKETS]:
# trim, move the lab addresses, shift the first packet to the given time.
place() {
    local raw=$1 client=$2 server=$3 when=$4 max=${5:-0}
    local lc ls; read -r lc ls <"$WORK/raw/$raw.addr"
    local src=$WORK/raw/$raw.pcap n
    n=$(mktemp -u "$WORK/placed.XXXXXX")
    if [ "$max" -gt 0 ]; then editcap -F pcap -r "$src" "$n.t.pcap" "1-$max"; src=$n.t.pcap; fi
    tcprewrite --pnat="$lc/32:$client/32,$ls/32:$server/32" --fixcsum -i "$src" -o "$n.w.pcap" || return 1
    local first target
    first=$(tshark -r "$n.w.pcap" -c 1 -T fields -e frame.time_epoch 2>/dev/null)
    target=$(TZ=Europe/Rome date -d "$when" +%s)
    editcap -F pcap -t "$(awk "BEGIN { printf \"%.6f\", $target - $first }")" "$n.w.pcap" "$n.pcap" || return 1
    echo "$n.pcap"
}
scenario() { # NAME PARTS...: merge the placed parts into NAME/capture.pcap
    local name=$1; shift
    mkdir -p "$OUT/$name"
    mergecap -F pcap -w "$OUT/$name/capture.pcap" "$@" || exit 1
    log "scenario $name: $(capinfos -c -M "$OUT/$name/capture.pcap" | sed -n 's/Number of packets: *//p') packets"
}
RDPN=${RDPN:-150}   # RDP sessions: the first packets are enough (cookie, TLS, first screen)
D=2026-11-24        # a Tuesday; CET (UTC+1)

scenario contractor_expected "$(place rdp_alice_contractor 192.0.2.10 $SERVER "$D 10:00:00" $RDPN)"
scenario vpn_exit "$(place rdp_alice_vpn 198.51.100.23 $SERVER "$D 10:00:00" $RDPN)"
scenario unexpected_country "$(place rdp_alice_india 192.0.2.201 $SERVER "$D 10:00:00" $RDPN)"
scenario shared_egress \
    "$(place rdp_alice_farm 192.0.2.140 $SERVER "$D 16:05:00" $RDPN)" \
    "$(place rdp_bob_farm 192.0.2.140 $SERVER "$D 17:20:00" $RDPN)" \
    "$(place rdp_carol_farm 192.0.2.140 $SERVER "$D 18:40:00" $RDPN)"
scenario impossible_travel \
    "$(place rdp_alice_travel1 192.0.2.10 $SERVER "$D 10:00:00" $RDPN)" \
    "$(place rdp_alice_travel2 192.0.2.201 $SERVER "$D 10:30:00" $RDPN)"
scenario off_hours \
    "$(place rdp_alice_night1 192.0.2.10 $SERVER "2026-11-24 02:20:00" $RDPN)" \
    "$(place rdp_alice_night2 192.0.2.10 $SERVER "2026-11-25 03:10:00" $RDPN)" \
    "$(place rdp_alice_night3 192.0.2.10 $SERVER "2026-11-26 04:05:00" $RDPN)" \
    "$(place rdp_alice_night4 192.0.2.10 $SERVER "2026-11-27 02:40:00" $RDPN)"
scenario anydesk_laptop "$(place tls_anydesk 10.10.0.21 51.83.238.219 "$D 10:00:00")"
scenario relayed_session \
    "$(place ssh_relay 192.0.2.20 $SERVER "$D 10:00:00")" \
    "$(place rdp_relay 192.0.2.20 $SERVER "$D 10:20:00" $RDPN)"
scenario far_direct "$(place ssh_far 192.0.2.210 $SERVER "$D 10:00:00")"
scenario near_placed_far "$(place ssh_near 192.0.2.211 $SERVER "$D 10:00:00")"
scenario benign_lan \
    "$(place ssh_benign 10.10.0.30 10.20.0.5 "$D 10:00:00")" \
    "$(place vnc_benign 10.10.0.30 10.20.0.5 "$D 10:05:00" 60)"
scenario tunnel "$(place ssh_mss 192.0.2.30 $SERVER "$D 10:00:00")"
scenario tunnel_wireguard "$(place ssh_wireguard 192.0.2.31 $SERVER "$D 10:00:00")"
scenario unknown_identity "$(place rdp_dave 192.0.2.11 $SERVER "$D 10:00:00" $RDPN)"

# The README's demo: three RDP users behind one VPN exit, one ordinary SSH
# session from the Turin ISP; for the embedded default policy and no flags,
# so the server has a private (site by default) address: a DMZ host behind
# the gateway's port forwarding.
mkdir -p "$DEMO"
DMZ=10.20.0.70
mergecap -F pcap -w "$DEMO/input.pcap" \
    "$(place rdp_alice_demo 198.51.100.23 $DMZ "$D 10:00:00" 40)" \
    "$(place rdp_bob_demo 198.51.100.23 $DMZ "$D 10:12:00" 40)" \
    "$(place rdp_carol_demo 198.51.100.23 $DMZ "$D 10:31:00" 40)" \
    "$(place ssh_demo 192.0.2.10 $DMZ "$D 10:45:00")" || exit 1

ground_truth
ls -l "$OUT"/*/capture.pcap "$DEMO/input.pcap"
grep -i -E 'error|fail' "$WORK/log" | sort | uniq -c | head -20
