#!/usr/bin/env python3
"""Expected application-layer round trips (`app_rtt`) from tshark's frame times.

Usage (from the crate root; captures named as the test names them):

  scripts/app_rtt_expectations.py tests/pcap/ssh/input.pcap tests/pcap/tls-lab/tls-sni.pcap \
    ../shared/corpus/zeek/traces/ssh/*.pcap ../shared/corpus/ndpi/pcap/ssh.pcap \
    ../shared/corpus/foxio-ja4/pcap/* ../shared/corpus/zeek/traces/tls/*.pcap \
    > tests/data/app_rtt_expected.tsv

For every TCP connection whose SYN is in the capture and that tshark dissects as
SSH or TLS, the pairs docs/events.md lists (`app_rtt`) are found in tshark's
per-frame fields, and the smallest gap per replier is written, in ns:

  capture  client_ip  client_port  server_ip  server_port  proto  client_reply_ns  server_reply_ns  samples

SSH (tshark's ssh.message_code, on the frame that completes each message; a
message reassembled from several segments started in the first frame tshark
lists in tcp.segment):
  client replies: server 31 -> client 32 (GEX group -> init); server 31/33 ->
  client 21 (kex reply -> NEWKEYS); request = frame completing the server
  message, reply = frame starting the client's.
  server replies: client 30/34 -> server 31; client 32 -> server 33.
TLS (tls.handshake.type, tls.handshake.random for HelloRetryRequest,
tls.handshake.extension.type 42 for early_data):
  server replies: each ClientHello (frame completing it) -> the first server
  payload frame after it, when a ServerHello or HelloRetryRequest follows.
  client replies: each ClientHello -> the next client payload frame, when it is
  a later frame, server payload frames came in between, and the hello offered
  no early data; request = the last server payload frame before it.
"""
import subprocess
import sys
from decimal import Decimal

HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
FIELDS = [
    "frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src",
    "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.len",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.analysis.retransmission",
    "ssh.message_code", "tcp.segment", "tls.handshake.type",
    "tls.handshake.random", "tls.handshake.extension.type", "tls.record.content_type",
]
# Captures tshark cannot dissect (pre-banner lines before the server's SSH
# banner end its SSH parse); tests/app_rtt.rs checks them by hand.
SKIP = ("server-pre-banner-data.pcap",)
# Captures whose SSH runs on another port.
DECODE_AS = {"ssh_kex_mlkem.pcap": ["-d", "tcp.port==2299,ssh"]}


def frames(path):
    extra = []
    for name, args in DECODE_AS.items():
        if path.endswith(name):
            extra = args
    cmd = ["tshark", "-n", "-o", "tcp.reassemble_out_of_order:TRUE", "-r", path, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=,"] + extra
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        v["ns"] = int(Decimal(v["frame.time_epoch"]) * 1_000_000_000)
        v["len"] = int(v["tcp.len"] or 0)
        v["n"] = int(v["frame.number"])
        # The innermost addresses (tunnels list the outer ones first).
        v["src"] = (v["ip.src"] or v["ipv6.src"]).split(",")[-1]
        v["dst"] = (v["ip.dst"] or v["ipv6.dst"]).split(",")[-1]
        yield v


def lst(v, k):
    return [x for x in v.get(k, "").split(",") if x]


def ssh_pairs(fr, from_client, times):
    msgs = []  # (is_client, code, started_ns, complete_ns) in capture order
    for v in fr:
        codes = lst(v, "ssh.message_code")
        segs = [int(s) for s in lst(v, "tcp.segment")]
        for i, c in enumerate(codes):
            start = times[min(segs)] if (i == 0 and segs) else v["ns"]
            msgs.append((from_client(v), int(c), start, v["ns"]))
    client, server = [], []
    creq = sreq = None
    for is_client, code, started, complete in msgs:
        if is_client:
            if sreq and ((sreq[0] == 31 and code in (32, 21)) or (sreq[0] == 33 and code == 21)):
                client.append(started - sreq[1])
                sreq = None
            if code in (30, 32, 34):
                creq = (code, complete)
        else:
            if creq and ((creq[0] in (30, 34) and code == 31) or (creq[0] == 32 and code == 33)):
                server.append(started - creq[1])
                creq = None
            if code in (31, 33):
                sreq = (code, complete)
    return client, server


def tls_pairs(fr, from_client):
    client, server = [], []
    payload = [v for v in fr if v["len"] > 0]
    for i, v in enumerate(payload):
        # A ClientHello in a TLS record (an SSLv2-format hello has no
        # record content type and is not a TLS handshake record).
        if not from_client(v) or "1" not in lst(v, "tls.handshake.type") or \
                "22" not in lst(v, "tls.record.content_type"):
            continue
        later = payload[i + 1:]
        # Server: the first server payload frame after the hello, when a
        # ServerHello (or HelloRetryRequest) answers it before the next hello.
        answered = False
        for w in later:
            if from_client(w) and "1" in lst(w, "tls.handshake.type"):
                break
            if not from_client(w) and "2" in lst(w, "tls.handshake.type"):
                answered = True
                break
        srv = [w for w in later if not from_client(w) and not w["tcp.analysis.retransmission"]]
        if answered and srv:
            server.append(srv[0]["ns"] - v["ns"])
        # Client: its next payload frame (not a retransmission).
        early = "42" in lst(v, "tls.handshake.extension.type")
        # Records after the hello in its frame: sent without waiting.
        more_in_frame = lst(v, "tls.record.content_type")[-1:] != ["22"] or \
            lst(v, "tls.handshake.type")[-1:] != ["1"]
        nxt = next((w for w in later if from_client(w) and not w["tcp.analysis.retransmission"]), None)
        if early or more_in_frame or nxt is None:
            continue
        between = [w for w in later if w["n"] < nxt["n"] and not from_client(w)]
        if between:
            client.append(nxt["ns"] - between[-1]["ns"])
    return client, server


def main():
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    print("# app_rtt expectations from tshark frame times (" + version.splitlines()[0] + ")")
    print("# scripts/app_rtt_expectations.py " + " ".join(sys.argv[1:]))
    print("# capture\tclient_ip\tclient_port\tserver_ip\tserver_port\tproto"
          "\tclient_reply_ns\tserver_reply_ns\tsamples")
    for path in sys.argv[1:]:
        if path.endswith(SKIP):
            continue
        all_frames = list(frames(path))
        times = {v["n"]: v["ns"] for v in all_frames}
        streams = {}
        for v in all_frames:
            if v["tcp.stream"]:
                streams.setdefault(v["tcp.stream"], []).append(v)
        for fr in streams.values():
            syn = next((v for v in fr if v["tcp.flags.syn"] in ("1", "True") and
                        v["tcp.flags.ack"] in ("0", "False")), None)
            if syn is None:
                continue
            cport = syn["tcp.srcport"]
            cip = syn["src"]
            from_client = lambda v: v["tcp.srcport"] == cport and v["src"] == cip
            if any(lst(v, "ssh.message_code") for v in fr):
                proto = "ssh"
                client, server = ssh_pairs(fr, from_client, times)
            elif any("1" in lst(v, "tls.handshake.type") for v in fr):
                proto = "tls"
                client, server = tls_pairs(fr, from_client)
            else:
                continue
            name = path[len("../shared/"):] if path.startswith("../shared/") else path
            fmt = lambda xs: str(min(xs)) if xs else "-"
            print("\t".join([name, cip, cport, syn["dst"], syn["tcp.dstport"], proto,
                             fmt(client), fmt(server), str(len(client) + len(server))]))


if __name__ == "__main__":
    main()
