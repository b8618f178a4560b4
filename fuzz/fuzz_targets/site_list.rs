//! Fuzz the site-list parsers (text and CSV): the first byte picks the
//! format, the rest is the file's text. Whatever loads must answer lookups.
#![no_main]

use gatewatch::enrich::lists::NetworkList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(list) = NetworkList::parse("fuzz", text, sel & 1 == 1) {
        for addr in ["10.1.2.3", "::1", "2001:db8::1", "255.255.255.255", "0.0.0.0"] {
            let _ = list.lookup(addr.parse().expect("literal address"));
        }
    }
});
