//! Helpers for the unit tests (compiled only for tests).

/// Decode a hex dump (as tshark prints payloads; whitespace ignored).
/// Test data only: panics on a malformed dump.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}
