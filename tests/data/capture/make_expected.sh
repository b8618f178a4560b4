#!/bin/sh
# Regenerates the *.tshark.tsv ground-truth files of this folder with tshark.
# Usage: sh make_expected.sh /work/shared/corpus
# Columns: frame.number frame.time_epoch frame.len frame.cap_len frame.interface_id.
# Rows without an interface id in a pcapng file are blocks tshark shows as frames
# but that carry no packet (custom blocks); they are dropped with awk.
set -e
C=${1:-../../../../shared/corpus}
F="-T fields -e frame.number -e frame.time_epoch -e frame.len -e frame.cap_len -e frame.interface_id"
t() { tshark -r "$1" $F 2>/dev/null; }
t tfo_be_micro.pcap > tfo_be_micro.tshark.tsv
t tfo_be_nano.pcap > tfo_be_nano.tshark.tsv
t tfo_le_nano.pcap > tfo_le_nano.tshark.tsv
t multi_section.pcapng | awk -F'\t' '$5 != ""' > multi_section.tshark.tsv
t "$C/tcpdump/tests/tfo-5c1fa7f9ae91.pcap" > tfo-5c1fa7f9ae91.tshark.tsv
t "$C/ndpi/pcap/anydesk.pcapng" > anydesk.tshark.tsv
t "$C/tcpdump/tests/quic_handshake.pcap" > quic_handshake.tshark.tsv
t "$C/zeek/traces/ssh/kex-quadratic-1000.pcap.gz" > kex-quadratic-1000.tshark.tsv
