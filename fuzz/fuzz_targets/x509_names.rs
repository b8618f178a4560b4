//! Fuzz the certificate-name DER walk and the Certificate message framing:
//! no panic, names capped.
#![no_main]

use gatewatch::proto::tls::cert::{leaf_of_certificate_message, names, MAX_NAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = names(data) {
        assert!(n.subject.len() <= MAX_NAME_LEN && n.issuer.len() <= MAX_NAME_LEN);
    }
    if let Some(Ok(leaf)) = leaf_of_certificate_message(data) {
        let _ = names(leaf);
    }
});
