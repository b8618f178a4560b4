#!/usr/bin/env python3
"""Writes the synthetic capture files of this folder from a real corpus capture.

Run from this folder: python3 make_synthetic.py ../../../../shared/corpus
(the corpus path is /work/shared/corpus on the build machine).

The frames are the real frames of tcpdump/tests/tfo-5c1fa7f9ae91.pcap; only the
container changes (byte order, timestamp resolution, pcapng block kinds), to
cover what the corpus lacks. Ground truth is tshark's reading of the written
files (see README.md), not this script.
"""
import struct, sys, os

corpus = sys.argv[1] if len(sys.argv) > 1 else "../../../../shared/corpus"
src = open(os.path.join(corpus, "tcpdump/tests/tfo-5c1fa7f9ae91.pcap"), "rb").read()
assert src[:4] == b"\xd4\xc3\xb2\xa1"
frames = []  # (sec, usec, data, orig_len)
off = 24
while off < len(src):
    s, us, incl, orig = struct.unpack("<IIII", src[off:off + 16])
    frames.append((s, us, src[off + 16:off + 16 + incl], orig))
    off += 16 + incl

def pcap(bo, nano, snaplen=65535):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(bo + "IHHiIII", magic, 2, 4, 0, 0, snaplen, 1)
    for i, (s, us, data, orig) in enumerate(frames):
        # nanosecond files get a sub-microsecond part so resolution matters
        frac = us * 1000 + (i * 37) % 1000 if nano else us
        out += struct.pack(bo + "IIII", s, frac, len(data), orig) + data
    return out

def pad(b):
    return b + b"\0" * ((4 - len(b) % 4) % 4)

def block(bo, btype, body):
    body = pad(body)
    n = 12 + len(body)
    return struct.pack(bo + "II", btype, n) + body + struct.pack(bo + "I", n)

def opt(bo, code, value):
    return struct.pack(bo + "HH", code, len(value)) + pad(value)

def shb(bo):
    return block(bo, 0x0A0D0D0A, struct.pack(bo + "IHHq", 0x1A2B3C4D, 1, 0, -1)
                 + opt(bo, 4, b"make_synthetic.py") + opt(bo, 0, b""))

def idb(bo, link, snaplen, opts=b""):
    return block(bo, 1, struct.pack(bo + "HHI", link, 0, snaplen) + opts)

def epb(bo, iface, units, data, orig):
    return block(bo, 6, struct.pack(bo + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), orig) + data)

def opb(bo, iface, units, data, orig):
    return block(bo, 2, struct.pack(bo + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF, len(data), orig) + data)

def spb(bo, data, orig):
    return block(bo, 3, struct.pack(bo + "I", orig) + data)

def multi_section():
    out = b""
    # Section 1, big-endian. Interface 0: Ethernet, snaplen 96, 2^-20 s ticks,
    # if_tsoffset 1000 s. Interface 1: raw IP, millisecond ticks.
    bo = ">"
    out += shb(bo)
    out += idb(bo, 1, 96, opt(bo, 9, b"\x94") + opt(bo, 14, struct.pack(bo + "q", 1000)) + opt(bo, 0, b""))
    out += idb(bo, 101, 0, opt(bo, 2, b"raw0") + opt(bo, 9, b"\x03") + opt(bo, 0, b""))
    out += block(bo, 4, pad(struct.pack(bo + "HH", 1, 9) + b"\x0a\x00\x00\x01" + b"host\0") + struct.pack(bo + "HH", 0, 0))  # NRB
    for i, (s, us, data, orig) in enumerate(frames[:6]):
        if i % 2 == 0:
            units = ((s - 1000) << 20) + (us << 20) // 1000000
            out += epb(bo, 0, units, data, orig)
        else:
            out += epb(bo, 1, s * 1000 + us // 1000, data[14:], orig - 14)
    out += spb(bo, frames[6][2][:96], frames[6][3])   # SPB: interface 0, cut to snaplen 96
    out += block(bo, 0x00000BAD, struct.pack(bo + "I", 32473) + b"custom data")  # custom block, skipped
    out += block(bo, 5, struct.pack(bo + "III", 0, 0, 0))  # ISB, skipped
    s, us, data, orig = frames[7]
    out += opb(bo, 1, s * 1000 + us // 1000, data[14:], orig - 14)
    # Section 2, little-endian: interfaces start again at 0. Nanosecond Ethernet.
    bo = "<"
    out += shb(bo)
    out += idb(bo, 1, 0, opt(bo, 9, b"\x09") + opt(bo, 0, b""))
    out += block(bo, 0x7FFF1234, b"unknown block type")
    for i, (s, us, data, orig) in enumerate(frames[8:]):
        out += epb(bo, 0, s * 10**9 + us * 1000 + i, data, orig)
    return out

open("tfo_be_micro.pcap", "wb").write(pcap(">", False))
open("tfo_be_nano.pcap", "wb").write(pcap(">", True))
open("tfo_le_nano.pcap", "wb").write(pcap("<", True))
open("multi_section.pcapng", "wb").write(multi_section())
