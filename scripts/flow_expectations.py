#!/usr/bin/env python3
"""Aggregate tshark per-frame fields into per-directed-5-tuple flow counters.

Reads the tab-separated output of the tshark command that
scripts/make-flow-expectations.sh runs (fields in the order of FIELDS below,
`-E occurrence=a -E aggregator=,` so that a field repeated in a frame lists
every value) on stdin and writes the expectation file on stdout.

Output lines (tab-separated):
    # ...                                   comments (command, version, totals)
    flow PROTO SRC SPORT DST DPORT VLAN PKTS BYTES
    skip PROTO SRC SPORT DST DPORT VLAN REASON FRAMES

A `skip` line names a directed tuple (ports and proto may be `*`) that had at
least one frame tshark could not attribute cleanly (tunnelled, fragmented,
ICMP error quoting a header, several transport headers). Such tuples are
left out of `flow` lines and the conformance test ignores them on both sides.
"""

import sys
from collections import defaultdict

FIELDS = [
    "frame.number",
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "ip.proto",
    "ipv6.nxt",
    "vlan.id",
    "ip.flags.mf",
    "ip.frag_offset",
    "ipv6.fraghdr.offset",
    "ipv6.fraghdr.more",
]

# Protocol names in frame.protocols that mean tshark saw an encapsulation
# carrying another network layer (the outer addresses would be paired with
# inner ports, or gatewatch peels the layer and counts the inner flow).
TUNNEL_PROTOCOLS = {
    "gre", "erspan", "vxlan", "geneve", "gtp", "teredo", "l2tp", "etherip",
    "ipip", "nsh", "mip6", "6in4", "ipv6inipv4", "pptp", "lisp", "gtpv2",
}
IP_LAYERS = {"ip", "ipv6"}
ICMP_LAYERS = {"icmp", "icmpv6"}


def values(field):
    return [v for v in field.split(",") if v != ""] if field else []


def is_true(v):
    return v in ("1", "True", "true")


def main():
    source = sys.argv[1]
    flows = defaultdict(lambda: [0, 0])
    skips = defaultdict(lambda: [set(), 0])
    frames = counted = 0
    reasons = defaultdict(int)
    for line in sys.stdin:
        cols = line.rstrip("\n").split("\t")
        if len(cols) < len(FIELDS):
            cols += [""] * (len(FIELDS) - len(cols))
        f = dict(zip(FIELDS, cols))
        frames += 1
        protos = f["frame.protocols"].split(":")
        ip_layers = sum(1 for p in protos if p in IP_LAYERS)
        if ip_layers == 0:
            reasons["no-ip"] += 1
            continue
        src = values(f["ip.src"]) + values(f["ipv6.src"])
        dst = values(f["ip.dst"]) + values(f["ipv6.dst"])
        # The innermost addresses: tshark lists each field's values in
        # dissection order; for a frame with both families the innermost is
        # the family of the last IP layer in frame.protocols.
        last_ip = [p for p in protos if p in IP_LAYERS][-1]
        inner_src = (values(f["ipv6.src"]) if last_ip == "ipv6" else values(f["ip.src"]))
        inner_dst = (values(f["ipv6.dst"]) if last_ip == "ipv6" else values(f["ip.dst"]))
        if not inner_src or not inner_dst:
            reasons["no-address"] += 1
            continue
        s, d = inner_src[-1], inner_dst[-1]
        vlans = values(f["vlan.id"])
        vlan = vlans[0] if vlans else "0"
        tsp, tdp = values(f["tcp.srcport"]), values(f["tcp.dstport"])
        usp, udp_ = values(f["udp.srcport"]), values(f["udp.dstport"])
        if tsp and tdp:
            proto, sp, dp = "TCP", tsp[-1], tdp[-1]
        elif usp and udp_:
            proto, sp, dp = "UDP", usp[-1], udp_[-1]
        else:
            proto, sp, dp = "*", "*", "*"

        reason = None
        if any(p in TUNNEL_PROTOCOLS for p in protos):
            reason = "tunnel"
        elif ip_layers > 1:
            reason = "icmp-error" if any(p in ICMP_LAYERS for p in protos) else "tunnel"
        elif len(src) > 1 or len(dst) > 1:
            reason = "several-addresses"
        elif (len(tsp) + len(usp)) > 1 or (tsp and usp):
            reason = "several-transport-headers"
        elif (any(is_true(v) for v in values(f["ip.flags.mf"]))
              or any(v not in ("0", "") for v in values(f["ip.frag_offset"]))
              or values(f["ipv6.fraghdr.offset"]) or values(f["ipv6.fraghdr.more"])):
            reason = "fragment"

        if reason is not None:
            reasons[reason] += 1
            if reason == "tunnel" and len(src) > 1 and len(dst) > 1:
                # The outer pair too, any ports: gatewatch may or may not
                # peel this encapsulation, so neither the outer nor the inner
                # tuple is compared.
                key = ("*", src[0], "*", dst[0], "*", vlan)
                skips[key][0].add(reason)
                skips[key][1] += 1
            key = (proto, s, sp, d, dp, vlan)
            skips[key][0].add(reason)
            skips[key][1] += 1
            continue
        if proto == "*":
            reasons["no-ports"] += 1
            continue
        try:
            length = int(f["frame.len"])
        except ValueError:
            reasons["no-frame-len"] += 1
            continue
        counted += 1
        acc = flows[(proto, s, sp, d, dp, vlan)]
        acc[0] += 1
        acc[1] += length

    by_pair = defaultdict(list)
    for (kp, ks, ksp, kd, kdp, kv) in skips:
        by_pair[(ks, kd, kv)].append((kp, ksp, kdp))

    def tainted(key):
        proto, s, sp, d, dp, vlan = key
        return any(kp in ("*", proto) and ksp in ("*", sp) and kdp in ("*", dp)
                   for (kp, ksp, kdp) in by_pair.get((s, d, vlan), ()))

    out = sys.stdout
    out.write(f"# source: {source}\n")
    out.write(f"# frames: {frames} counted: {counted} "
              + " ".join(f"{k}={v}" for k, v in sorted(reasons.items())) + "\n")
    out.write("#kind\tproto\tsrc_ip\tsrc_port\tdst_ip\tdst_port\tvlan\tpkts|reason\tbytes|frames\n")
    n = 0
    for key in sorted(flows):
        if tainted(key):
            continue
        pkts, nbytes = flows[key]
        out.write("flow\t" + "\t".join(key) + f"\t{pkts}\t{nbytes}\n")
        n += 1
    for key in sorted(skips):
        why, count = skips[key]
        out.write("skip\t" + "\t".join(key) + f"\t{','.join(sorted(why))}\t{count}\n")
    out.write(f"# tuples: {n} skipped-tuples: {len(skips)}\n")


if __name__ == "__main__":
    main()
