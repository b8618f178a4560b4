//! Fuzz the RDP stream dissector (and the RDPEUDP SYN view) on arbitrary
//! bytes cut into interleaved chunks of the two directions, each fed as a
//! growing stream prefix, as the flow table does. Invariants: no panic;
//! the record respects its caps; a prefix never goes back from Done.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::app::{AppSummary, Progress};
use gatewatch::proto::rdp::stream::RdpStream;
use gatewatch::proto::rdp::{udp, MAX_COOKIE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = udp::SynDatagram::parse(data);
    let mut s = RdpStream::new();
    let mut sum = AppSummary::default();
    let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut done = [false; 2];
    // Each chunk: one control byte (bit 7: direction, bits 0-6: length).
    let mut rest = data;
    let mut t = 0i64;
    while let Some((&ctl, tail)) = rest.split_first() {
        let n = usize::from(ctl & 0x7f).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let dir = if ctl & 0x80 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let d = dir.index();
        if done[d] {
            continue;
        }
        streams[d].extend_from_slice(chunk);
        t += 1000;
        if s.on_stream(dir, &streams[d], Timestamp(t), &mut sum) == Progress::Done {
            done[d] = true;
        }
    }
    if let Some(r) = &sum.rdp {
        assert!(r.cookie.as_ref().map_or(0, Vec::len) <= MAX_COOKIE_LEN);
        assert!(r.routing_token.as_ref().map_or(0, Vec::len) <= MAX_COOKIE_LEN);
        assert!(r.client_name.as_ref().map_or(0, |n| n.chars().count()) <= 16);
        let _ = serde_json::to_string(r);
    }
});
