//! Fuzz the SSH parser on arbitrary bytes taken as one direction's stream
//! prefix. Invariants: no panic; views lie inside the input; every shorter
//! prefix of an input that parsed fully is `Incomplete` or a partial parse,
//! never `Malformed` (a stream that grows never turns malformed); the owned
//! record respects its caps; the streamed HASSH equals the MD5 of the string.
#![no_main]

use gatewatch::proto::ssh::hassh::{hash_hex, md5_hex, write_string};
use gatewatch::proto::ssh::record::{MAX_BANNER_COPY, MAX_NAME_LIST_LEN};
use gatewatch::proto::ssh::{parse_stream, Role, SshError, SshSideRecord};
use libfuzzer_sys::fuzz_target;

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fuzz_target!(|data: &[u8]| {
    let Ok(start) = parse_stream(data) else {
        return;
    };
    let b = start.banner;
    assert!(inside(data, b.line()));
    assert!(b.end() <= data.len() && b.start() < b.end());
    if let Ok(k) = start.kexinit {
        assert!(inside(data, k.cookie) && k.cookie.len() == 16);
        assert!(inside(data, k.kex_algorithms.as_bytes()));
        let mut s = Vec::new();
        for role in [Role::Client, Role::Server] {
            write_string(&k, role, &mut s);
            assert_eq!(md5_hex(&s), hash_hex(&k, role));
        }
        // A prefix cut inside KEXINIT is incomplete, not malformed.
        let cut = data.len() - 1;
        if let Ok(p) = parse_stream(&data[..cut]) {
            assert!(
                p.kexinit.is_ok() || matches!(p.kexinit, Err(SshError::Incomplete { .. })),
                "{:?}",
                p.kexinit
            );
        }
    }
    for role in [Role::Client, Role::Server] {
        if let Ok(r) = SshSideRecord::from_stream(data, role) {
            assert!(r.banner.len() <= MAX_BANNER_COPY);
            if let Some(l) = &r.kexinit {
                // Lossy UTF-8 may grow a byte to 3 bytes.
                assert!(l.kex_algorithms.len() <= 3 * MAX_NAME_LIST_LEN);
            }
        }
    }
});
