//! Fuzz the DHCPv4 and DHCPv6 parsers and the record on arbitrary bytes
//! taken as one datagram. Invariants: no panic; option values lie inside
//! the input; the record's strings respect their caps.
#![no_main]

use gatewatch::proto::dhcp::{v4, v6, DhcpRecord, MAX_TEXT};
use libfuzzer_sys::fuzz_target;

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fn check(r: &DhcpRecord) {
    // Lossy UTF-8 may turn a byte into 3.
    assert!(r.hostname.as_ref().is_none_or(|h| h.len() <= MAX_TEXT));
    assert!(r.vendor_class.as_ref().is_none_or(|h| h.len() <= MAX_TEXT));
    assert!(r.mac.as_ref().is_none_or(|m| m.len() == 17));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = v4::Message::new(data) {
        for (_, v) in m.options().flatten() {
            assert!(inside(data, v));
        }
        let mut r = DhcpRecord::default();
        let _ = r.add_v4(&m);
        check(&r);
    }
    if let Ok(m) = v6::Message::new(data) {
        for (_, v) in m.options().flatten() {
            assert!(inside(data, v));
        }
        let mut r = DhcpRecord::default();
        let _ = r.add_v6(&m);
        check(&r);
    }
});
