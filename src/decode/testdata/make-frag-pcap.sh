#!/bin/sh
# Recreate frag-netns.pcap: one 3000-byte UDP datagram over IPv4 and one over
# IPv6, fragmented by the Linux kernel on a 1500-MTU veth pair between two
# network namespaces (created and removed here). Needs root, tcpdump, python3.
set -eu
out=${1:-frag-netns.pcap}
ip netns add gw-frag-a
ip netns add gw-frag-b
trap 'ip netns del gw-frag-a; ip netns del gw-frag-b' EXIT
ip link add veth-fa netns gw-frag-a type veth peer name veth-fb netns gw-frag-b
ip -n gw-frag-a addr add 10.99.0.1/24 dev veth-fa
ip -n gw-frag-b addr add 10.99.0.2/24 dev veth-fb
ip -n gw-frag-a addr add fd00:99::1/64 dev veth-fa nodad
ip -n gw-frag-b addr add fd00:99::2/64 dev veth-fb nodad
ip -n gw-frag-a link set veth-fa up
ip -n gw-frag-b link set veth-fb up
ip netns exec gw-frag-b tcpdump -i veth-fb -w "$out" -U 'udp or (ip[6:2] & 0x3fff != 0) or ip6' &
pid=$!
sleep 1
ip netns exec gw-frag-a python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(bytes(i % 251 for i in range(3000)), ("10.99.0.2", 5555))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.sendto(bytes(i % 241 for i in range(3000)), ("fd00:99::2", 6666))
PY
sleep 1
kill "$pid"
wait "$pid" || true
