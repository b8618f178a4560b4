//! Fuzz the QUIC dissector: the input is a sequence of datagrams (each a
//! 2-byte length, its top bit choosing the direction, then the bytes) fed
//! to one flow. Checks that the probe and the flow state never panic, and
//! that the long-header view stays inside its input.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::app::{AppSummary, FlowCx};
use gatewatch::proto::quic::{probe, LongHeader, QuicFlow};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cx = FlowCx {
        src_port: 50000,
        dst_port: 443,
        ip_proto: 17,
    };
    let mut flow = QuicFlow::new();
    let mut summary = AppSummary::default();
    let mut rest = data;
    let mut ts = 0i64;
    while let [hi, lo, tail @ ..] = rest {
        let dir = if hi & 0x80 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let len = usize::from(u16::from_be_bytes([hi & 0x7f, *lo])).min(tail.len());
        let (dgram, next) = tail.split_at(len);
        let _ = probe(&cx, dir, dgram);
        if let Ok(h) = LongHeader::parse(dgram) {
            assert!(h.packet_len <= dgram.len());
            assert!(h.pn_offset <= h.packet_len);
        }
        flow.on_datagram(dir, dgram, Timestamp(ts), &mut summary);
        ts += 1;
        rest = next;
    }
});
