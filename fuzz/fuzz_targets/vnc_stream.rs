//! Fuzz the RFB stream dissector on arbitrary bytes cut into interleaved
//! chunks of the two directions, each fed as a growing stream prefix, as
//! the flow table does. Invariants: no panic; the record respects its
//! caps.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::app::{AppSummary, Progress};
use gatewatch::proto::vnc::stream::VncStream;
use gatewatch::proto::vnc::{MAX_DESKTOP_NAME, MAX_SECURITY_TYPES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = VncStream::new();
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
    if let Some(r) = &sum.vnc {
        assert!(r.security_types.len() <= MAX_SECURITY_TYPES);
        assert!(r.vencrypt_subtypes.len() <= MAX_SECURITY_TYPES);
        assert!(r.desktop_name.as_ref().map_or(0, String::len) <= MAX_DESKTOP_NAME);
        let _ = serde_json::to_string(r);
    }
});
