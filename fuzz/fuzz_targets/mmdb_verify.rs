//! The MaxMind DB verifier on arbitrary bytes: it must return, never panic,
//! and a file it accepts must look up without panicking.
#![no_main]

use gatewatch::enrich::geoip::{verify::verify, GeoDatabase};
use gatewatch::enrich::GeoInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if verify(data).is_ok() {
        if let Ok(db) = GeoDatabase::from_vec("fuzz", data.to_vec()) {
            let mut info = GeoInfo::default();
            for a in ["1.2.3.4", "255.255.255.255", "::", "2001:db8::1"] {
                db.lookup_into(a.parse().unwrap(), &mut info);
            }
        }
    }
});
