//! Fuzz the GeoIP source builder with arbitrary JSON text: it must refuse
//! or build, and what it builds must pass our own verifier.
#![no_main]

use gatewatch::enrich::build::build_bytes;
use gatewatch::enrich::geoip::verify::verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((bytes, _summary)) = build_bytes("fuzz.json", data) {
        assert!(verify(&bytes).is_ok(), "the builder wrote a database our verifier refuses");
    }
});
