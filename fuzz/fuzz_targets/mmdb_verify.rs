//! The MaxMind DB verifier on arbitrary bytes: it must return, never panic,
//! and a file it accepts must look up without panicking.
#![no_main]

use gatewatch::enrich::geoip::{verify::verify, GeoDatabase};
use gatewatch::enrich::GeoInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if verify(data).is_ok() {
        // GeoDatabase wants 'static bytes (embedded databases); leaking is
        // fine for the rare accepted input.
        let bytes: &'static [u8] = Box::leak(data.to_vec().into_boxed_slice());
        if let Ok(db) = GeoDatabase::from_bytes("fuzz", bytes) {
            let mut info = GeoInfo::default();
            for a in ["1.2.3.4", "255.255.255.255", "::", "2001:db8::1"] {
                db.lookup_into(a.parse().unwrap(), &mut info);
            }
        }
    }
});
