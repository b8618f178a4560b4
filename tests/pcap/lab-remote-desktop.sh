#!/bin/sh
# Makes the captures of tests/pcap/rdp and tests/pcap/vnc: real clients
# against real servers in two network namespaces (see README.md in each
# folder). Run as root from the crate root; needs xrdp, xorgxrdp,
# freerdp2-x11, xvfb, tigervnc-standalone-server, tigervnc-viewer, x11vnc,
# tcpdump, editcap. Nothing leaves the namespaces.
set -u
OUT=${OUT:-$(pwd)/tests/pcap}
SRV=gwlab-srv; CLI=gwlab-cli
SIP=10.77.0.1; CIP=10.77.0.2
WORK=$(mktemp -d)
cleanup() {
    for p in $(cat "$WORK"/pids 2>/dev/null); do kill "$p" 2>/dev/null; done
    # xrdp-sesman forks the session (Xorg, xterm, chansrv) as alice and
    # detaches it: end the daemon and what the test user still runs.
    for p in $(pgrep -x xrdp-sesman -P 1) $(ps -o pid= -u alice 2>/dev/null); do kill "$p" 2>/dev/null; done
    sleep 2
    ip netns del $SRV 2>/dev/null; ip netns del $CLI 2>/dev/null
    userdel -r alice 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
bg() { "$@" >>"$WORK/log" 2>&1 & echo $! >>"$WORK/pids"; }

ip netns add $SRV && ip netns add $CLI || exit 1
ip link add gwl0 type veth peer name gwl1
ip link set gwl0 netns $SRV; ip link set gwl1 netns $CLI
ip -n $SRV addr add $SIP/24 dev gwl0; ip -n $CLI addr add $CIP/24 dev gwl1
for ns in $SRV $CLI; do ip -n $ns link set lo up; done
ip -n $SRV link set gwl0 up; ip -n $CLI link set gwl1 up
ip netns exec $SRV ethtool -K gwl0 tso off gso off gro off tx off rx off >/dev/null 2>&1
ip netns exec $CLI ethtool -K gwl1 tso off gso off gro off tx off rx off >/dev/null 2>&1

useradd -m -s /bin/sh alice && echo alice:Lab-pass-1 | chpasswd
printf 'exec xterm\n' >/home/alice/.xsession

# One capture: $1 file, $2 port, then the client command (in the client
# namespace under its own Xvfb), killed after $SECS seconds.
capture() {
    f=$1; port=$2; shift 2
    ip netns exec $SRV tcpdump -i gwl0 -s 0 -U -w "$WORK/$f" "tcp port $port" >>"$WORK/log" 2>&1 &
    td=$!; sleep 1
    DISPLAY=:91 timeout "${SECS:-6}" ip netns exec $CLI "$@" >>"$WORK/log" 2>&1
    sleep 1; kill $td; wait $td 2>/dev/null
}
bg Xvfb :91 -screen 0 1024x768x24 -nolisten tcp

# --- RDP: xrdp 0.9 (TLS by default; /sec:rdp gives standard RDP security)
bg ip netns exec $SRV xrdp-sesman --nodaemon
bg ip netns exec $SRV xrdp --nodaemon
sleep 2
capture rdp-tls.pcap 3389 xfreerdp /v:$SIP /u:alice /p:Lab-pass-1 /cert:ignore /size:800x600
capture rdp-sec-rdp.pcap 3389 xfreerdp /v:$SIP /u:alice /p:Lab-pass-1 /cert:ignore /sec:rdp /client-hostname:LABCLIENT /size:800x600

# --- VNC: TigerVNC's Xvnc with VNC authentication and with VeNCrypt
# X509/TLS, and x11vnc without authentication.
printf 'Lab-pass-1\n' | vncpasswd -f >"$WORK/passwd"
chmod 600 "$WORK/passwd"
bg ip netns exec $SRV Xtigervnc :92 -rfbport 5901 -SecurityTypes VncAuth -PasswordFile "$WORK/passwd" -desktop lab-desktop -geometry 800x600 -localhost=0 -interface $SIP
bg ip netns exec $SRV Xtigervnc :93 -rfbport 5902 -SecurityTypes TLSVnc -PasswordFile "$WORK/passwd" -desktop lab-tls -geometry 640x480 -localhost=0 -interface $SIP
sleep 2
capture vnc-vncauth.pcap 5901 sh -c "vncviewer -passwd $WORK/passwd $SIP::5901"
capture vnc-tlsvnc.pcap 5902 sh -c "vncviewer -passwd $WORK/passwd -SecurityTypes TLSVnc $SIP::5902"

mkdir -p "$OUT/rdp" "$OUT/vnc"
for f in rdp-tls rdp-sec-rdp; do editcap -r "$WORK/$f.pcap" "$OUT/rdp/$f.pcap" 1-${PKTS:-60}; done
for f in vnc-vncauth vnc-tlsvnc; do editcap -r "$WORK/$f.pcap" "$OUT/vnc/$f.pcap" 1-${PKTS:-60}; done
ls -l "$OUT/rdp" "$OUT/vnc"
tail -30 "$WORK/log"
