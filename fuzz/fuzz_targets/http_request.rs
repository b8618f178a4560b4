//! Fuzz the HTTP/1.x head parsers and the stream dissector on arbitrary
//! bytes taken as one direction's stream prefix. Invariants: no panic;
//! views lie inside the input; a head that parsed is not made malformed by
//! more bytes; the record respects its caps.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::http::parser::{parse_request, parse_status, HttpError};
use gatewatch::proto::http::stream::{HttpStream, MAX_URI_LEN, MAX_USER_AGENT_LEN};
use gatewatch::proto::AppSummary;
use libfuzzer_sys::fuzz_target;

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = parse_request(data) {
        assert!(inside(data, h.line.method) && inside(data, h.line.target));
        assert!(h.end <= data.len());
        if let Some(v) = h.header(b"host") {
            assert!(inside(data, v));
        }
        // A shorter prefix is incomplete or (if cut after the head) fine.
        if let Some(cut) = data.len().checked_sub(1) {
            let p = parse_request(&data[..cut]);
            assert!(p.is_ok() || p.err() == Some(HttpError::Incomplete));
        }
    }
    let _ = parse_status(data);
    for dir in [Direction::ToServer, Direction::ToClient] {
        let mut s = AppSummary::default();
        HttpStream::new().on_stream(dir, data, Timestamp(0), &mut s);
        if let Some(r) = &s.http {
            assert!(r.uri.as_ref().is_none_or(|u| u.len() <= MAX_URI_LEN));
            assert!(r.user_agent.as_ref().is_none_or(|u| u.len() <= MAX_USER_AGENT_LEN));
        }
    }
});
