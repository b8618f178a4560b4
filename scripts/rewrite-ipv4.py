#!/usr/bin/env python3
"""Move an IPv4 address in a classic pcap (Ethernet): every IPv4 header
naming OLD names NEW instead; the IPv4 header checksum and the TCP/UDP
checksums (RFC 791, RFC 793/768 pseudo-header) are recomputed over the
bytes the IP total length covers. Ethernet padding is left as it is.

Written because tcprewrite 4.4.3 --pnat grows the IP total length of padded
60-byte frames (44 -> 46 bytes: two padding bytes become TCP payload).

Usage: scripts/rewrite-ipv4.py IN.pcap OUT.pcap OLD NEW
"""
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def rewrite(frame, old, new):
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    f = bytearray(frame)
    ihl = (f[14] & 0x0F) * 4
    total = struct.unpack("!H", f[16:18])[0]
    if f[26:30] != old and f[30:34] != old:
        return frame
    for off in (26, 30):
        if f[off:off + 4] == old:
            f[off:off + 4] = new
    f[24:26] = b"\0\0"
    f[24:26] = struct.pack("!H", csum(bytes(f[14:14 + ihl])))
    proto = f[23]
    seg = 14 + ihl
    end = 14 + total
    if proto in (6, 17) and end <= len(f) and struct.unpack("!H", f[20:22])[0] & 0x1FFF == 0 and not f[20] & 0x20:
        at = seg + (16 if proto == 6 else 6)
        if proto == 17 and f[at:at + 2] == b"\0\0":
            return bytes(f)  # UDP without a checksum stays so
        f[at:at + 2] = b"\0\0"
        pseudo = bytes(f[26:34]) + struct.pack("!BBH", 0, proto, end - seg)
        c = csum(pseudo + bytes(f[seg:end]))
        if proto == 17 and c == 0:
            c = 0xFFFF
        f[at:at + 2] = struct.pack("!H", c)
    return bytes(f)


def main():
    src, dst, old, new = sys.argv[1:5]
    old, new = socket.inet_aton(old), socket.inet_aton(new)
    data = open(src, "rb").read()
    magic = data[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    if struct.unpack(e + "I", data[20:24])[0] != 1:
        sys.exit("only Ethernet pcaps")
    out = [data[:24]]
    off = 24
    while off + 16 <= len(data):
        hdr = data[off:off + 16]
        caplen = struct.unpack(e + "I", hdr[8:12])[0]
        out.append(hdr + rewrite(data[off + 16:off + 16 + caplen], old, new))
        off += 16 + caplen
    open(dst, "wb").write(b"".join(out))


main()
