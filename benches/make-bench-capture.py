#!/usr/bin/env python3
"""Build a large mixed Ethernet capture for benchmarks from real traffic.

Every Ethernet capture (pcap or pcapng) of ../shared/corpus and tests/pcap is
read once; the set is then written out again and again until the target
packet count is reached. Copy k rewrites every IPv4 address's 2nd and 3rd
octets (XOR with k) and every IPv6 address's 2nd 16-bit word (XOR with k), so
each copy's flows are distinct; the IPv4 header checksum and the TCP/UDP
checksums are updated incrementally (RFC 1624) so they stay valid.
Timestamps run forward: the files follow each other in every copy, copies
follow each other, and gaps longer than MAX_GAP seconds inside a file are
shortened to MAX_GAP (some corpus files span days; out-of-order timestamps
become a zero gap) so the whole capture covers hours, not years.

Pure standard library, streaming output. Usage:
    benches/make-bench-capture.py [--packets N] [--out FILE]
Prints the packet count and file size.
"""

import argparse
import os
import struct
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SOURCES = [os.path.join(ROOT, "../shared/corpus"), os.path.join(ROOT, "tests/pcap")]
LINKTYPE_ETHERNET = 1
MAX_GAP_NS = 10 * 1_000_000_000
ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD = 0x0800, 0x86DD, 0x8100, 0x88A8, 0x9100
IPV6_EXT = {0, 43, 60}  # hop-by-hop, routing, destination options
IPV6_FRAG = 44


def read_pcap(data):
    """Yield (ts_ns, frame) of a classic pcap with Ethernet link type."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    if len(data) < 24 or struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF != LINKTYPE_ETHERNET:
        return
    off, hdr = 24, struct.Struct(e + "IIII")
    while off + 16 <= len(data):
        sec, frac, caplen, origlen = hdr.unpack_from(data, off)
        end = off + 16 + caplen
        if end > len(data) or caplen > 262144:
            return
        yield sec * 1_000_000_000 + (frac if nano else frac * 1000), data[off + 16:end], origlen
        off = end


def read_pcapng(data):
    """Yield (ts_ns, frame) of the Ethernet interfaces of a pcapng file."""
    off, e = 0, "<"
    ifaces = []  # (linktype, ns per tick)
    while off + 12 <= len(data):
        btype = struct.unpack_from(e + "I", data, off)[0]
        if btype == 0x0A0D0D0A:
            bom = data[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        blen = struct.unpack_from(e + "I", data, off + 4)[0]
        if blen < 12 or off + blen > len(data):
            return
        body = data[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 8:
            linktype = struct.unpack_from(e + "H", body, 0)[0]
            tick_ns = 1000
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack_from(e + "HH", body, o)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    r = body[o + 4]
                    tick_ns = (1e9 / (2 ** (r & 0x7F))) if r & 0x80 else (1e9 / (10 ** r))
                o += 4 + ((olen + 3) & ~3)
            ifaces.append((linktype, tick_ns))
        elif btype == 6 and len(body) >= 20:
            iid, hi, lo, caplen, origlen = struct.unpack_from(e + "IIIII", body, 0)
            if iid < len(ifaces) and ifaces[iid][0] == LINKTYPE_ETHERNET and 20 + caplen <= len(body):
                ticks = (hi << 32) | lo
                yield int(ticks * ifaces[iid][1]), body[20:20 + caplen], origlen
        off += blen


def captures():
    for base in SOURCES:
        if not os.path.isdir(base):
            print(f"note: {base} is absent", file=sys.stderr)
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not (dirpath == base and d == "expected"))
            for name in sorted(filenames):
                if name.endswith((".pcap", ".pcapng", ".cap")):
                    yield os.path.join(dirpath, name)


def l3_offset(frame):
    """(ethertype, offset of the IP header) after Ethernet and VLAN tags."""
    off = 12
    while off + 2 <= len(frame):
        et = (frame[off] << 8) | frame[off + 1]
        if et in (ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD):
            off += 4
            continue
        return et, off + 2
    return None, None


def prepare(frame):
    """Where the addresses and checksums of a frame are, or None.

    Returns (addr_word_offsets, ip_csum_offset or -1, l4_csum_offset or -1,
    is_udp): the 16-bit words that the rewrite changes, and the checksum
    fields to adjust.
    """
    et, o = l3_offset(frame)
    if et == ETH_IPV4 and o + 20 <= len(frame) and frame[o] >> 4 == 4:
        ihl = (frame[o] & 0x0F) * 4
        words = (o + 12, o + 16)  # 2nd/3rd octets: bytes 1..3 of each address
        proto = frame[o + 9]
        frag_off = ((frame[o + 6] << 8) | frame[o + 7]) & 0x1FFF
        l4 = -1
        if frag_off == 0:
            if proto == 6 and o + ihl + 18 <= len(frame):
                l4 = o + ihl + 16
            elif proto == 17 and o + ihl + 8 <= len(frame):
                l4 = o + ihl + 6
        return ("v4", words, o + 10, l4, proto == 17)
    if et == ETH_IPV6 and o + 40 <= len(frame) and frame[o] >> 4 == 6:
        words = (o + 8 + 2, o + 24 + 2)  # 2nd 16-bit word of each address
        nxt, p = frame[o + 6], o + 40
        for _ in range(8):
            if nxt in IPV6_EXT and p + 8 <= len(frame):
                nxt, p = frame[p], p + 8 * (frame[p + 1] + 1)
            elif nxt == IPV6_FRAG and p + 8 <= len(frame):
                if ((frame[p + 2] << 8) | frame[p + 3]) & 0xFFF8:
                    nxt = -1  # a later fragment: no transport header
                    break
                nxt, p = frame[p], p + 8
            else:
                break
        l4 = -1
        if nxt == 6 and p + 18 <= len(frame):
            l4 = p + 16
        elif nxt == 17 and p + 8 <= len(frame):
            l4 = p + 6
        return ("v6", words, -1, l4, nxt == 17)
    return None


def ones_add(a, b):
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def adjust(csum, old_words, new_words):
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    s = (~csum) & 0xFFFF
    for m, m2 in zip(old_words, new_words):
        s = ones_add(s, (~m) & 0xFFFF)
        s = ones_add(s, m2)
    return (~s) & 0xFFFF


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=2_000_000, help="at least this many packets")
    ap.add_argument("--out", default=os.path.join(ROOT, "benches/data/bench.pcap"))
    args = ap.parse_args()
    t0 = time.time()

    # Load every Ethernet frame once: (gap_ns, bytes, layout, wire length).
    frames = []
    files = 0
    for path in captures():
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            print(f"skip {path}: {e}", file=sys.stderr)
            continue
        reader = read_pcapng if data[:4] == b"\x0a\x0d\x0d\x0a" else read_pcap
        prev = None
        n0 = len(frames)
        for ts, frame, origlen in reader(data):
            gap = 0 if prev is None else min(max(ts - prev, 0), MAX_GAP_NS)
            prev = ts
            frames.append((gap, bytes(frame), prepare(frame), max(origlen, len(frame))))
        # A file starts one second after the previous one ended.
        if len(frames) > n0:
            frames[n0] = (1_000_000_000,) + frames[n0][1:]
            files += 1
    if not frames:
        sys.exit("no Ethernet frames found in " + ", ".join(SOURCES))
    copies = -(-args.packets // len(frames))
    print(f"{len(frames)} Ethernet frames from {files} captures, {copies} copies", file=sys.stderr)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    rec = struct.Struct("<IIII")
    ts = 1_700_000_000 * 1_000_000_000
    total = 0
    with open(args.out, "wb", buffering=1 << 20) as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
        for k in range(copies):
            kx = k & 0xFFFF
            for gap, frame, lay, origlen in frames:
                ts += gap
                if lay is not None and kx:
                    buf = bytearray(frame)
                    fam, words, ipc, l4c, is_udp = lay
                    old, new = [], []
                    for w in words:
                        if fam == "v4":
                            # bytes 1 and 2 of the address are not 16-bit
                            # aligned: rewrite both aligned words.
                            a = (buf[w] << 8) | buf[w + 1]
                            b = (buf[w + 2] << 8) | buf[w + 3]
                            buf[w + 1] ^= kx & 0xFF
                            buf[w + 2] ^= kx >> 8
                            old += [a, b]
                            new += [(buf[w] << 8) | buf[w + 1], (buf[w + 2] << 8) | buf[w + 3]]
                        else:
                            a = (buf[w] << 8) | buf[w + 1]
                            v = a ^ kx
                            buf[w], buf[w + 1] = v >> 8, v & 0xFF
                            old.append(a)
                            new.append(v)
                    if ipc >= 0:
                        c = adjust((buf[ipc] << 8) | buf[ipc + 1], old, new)
                        buf[ipc], buf[ipc + 1] = c >> 8, c & 0xFF
                    if l4c >= 0:
                        c0 = (buf[l4c] << 8) | buf[l4c + 1]
                        # A zero UDP checksum means "none" and stays zero.
                        if not (is_udp and c0 == 0):
                            c = adjust(c0, old, new)
                            if is_udp and c == 0:
                                c = 0xFFFF
                            buf[l4c], buf[l4c + 1] = c >> 8, c & 0xFF
                    frame = buf
                out.write(rec.pack(ts // 1_000_000_000, (ts % 1_000_000_000) // 1000, len(frame), origlen))
                out.write(frame)
                total += 1
    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: {total} packets, {size} bytes, {time.time() - t0:.1f} s")
    print(total)


if __name__ == "__main__":
    main()
