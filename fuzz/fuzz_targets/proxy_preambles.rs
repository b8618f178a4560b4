//! Fuzz the SOCKS (RFC 1928/1929, SOCKS4/4a) and NoMachine NX dissectors on
//! arbitrary bytes cut into interleaved chunks of the two directions, each
//! fed as a growing stream prefix with the other direction's prefix beside
//! it, as the flow table does. Invariants: no panic; the records respect
//! their caps and serialise.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::app::AppSummary;
use gatewatch::proto::nx::NxStream;
use gatewatch::proto::socks::SocksStream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut socks = SocksStream::new();
    let mut nx = NxStream::new();
    let mut sum = AppSummary::default();
    let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
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
        streams[dir.index()].extend_from_slice(chunk);
        t += 1000;
        let (this, other) = match dir {
            Direction::ToServer => (&streams[0], &streams[1]),
            Direction::ToClient => (&streams[1], &streams[0]),
        };
        socks.on_stream(dir, this, other, Timestamp(t), &mut sum);
        nx.on_stream(dir, this, other, Timestamp(t), &mut sum);
    }
    if let Some(r) = &sum.socks {
        assert!(r.user.as_ref().map_or(0, String::len) <= 255);
        assert!(r.target.as_ref().map_or(0, String::len) <= 300);
        let _ = serde_json::to_string(r);
    }
    if let Some(t) = &sum.tls {
        let _ = serde_json::to_string(t);
    }
});
