//! JA4, the TLS client fingerprint of FoxIO (BSD-3-Clause; spec in
//! FoxIO-LLC/ja4 `technical_details/JA4.md`). Only JA4 itself: JA4S, JA4H,
//! JA4X and the other JA4+ methods are under the FoxIO licence.
//!
//! Shape: `a_b_c`, 10 + 1 + 12 + 1 + 12 = 36 ASCII bytes.
//! - a: protocol (`t` TCP, `q` QUIC, `d` DTLS), version, `d`/`i` (SNI),
//!   cipher count, extension count (2 digits each, capped at 99), ALPN chars.
//! - b: first 12 hex of SHA-256 over the sorted cipher suites, as 4-digit
//!   hex joined by `,`.
//! - c: first 12 hex of SHA-256 over the sorted extensions without SNI and
//!   ALPN, then `_` and the signature algorithms in wire order.
//!
//! Facts are gathered from the view, GREASE dropped on the way; the hash
//! input is streamed into SHA-256, so the only buffer is the caller's
//! reusable sort scratch.

#![deny(clippy::indexing_slicing)]

use sha2::{Digest, Sha256};

use super::parser::{is_grease, ClientHello};
use super::types::ExtensionType;
use crate::proto::hex::{hex_into, nibble};

/// Length of a JA4 fingerprint.
pub const JA4_LEN: usize = 36;

/// Transport the ClientHello came over: JA4's first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Quic,
    Dtls,
}

/// A JA4 fingerprint as ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ja4(pub [u8; JA4_LEN]);

impl Ja4 {
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl core::fmt::Display for Ja4 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// "If there are no ciphers in the sorted cipher list, then the value of
/// JA4_b is set to '000000000000'" (and likewise for JA4_c).
const EMPTY_HASH: &[u8; 12] = b"000000000000";

/// Compute JA4 of `ch`. `scratch` holds the sorted copies and is reused.
pub fn ja4(ch: &ClientHello<'_>, transport: Transport, scratch: &mut Vec<u16>) -> Ja4 {
    let mut out = [b'0'; JA4_LEN];
    let (a, rest) = out.split_at_mut(10);
    part_a(ch, transport, a);
    if let Some((sep1, rest)) = rest.split_first_mut() {
        *sep1 = b'_';
        let (b, rest) = rest.split_at_mut(12);
        part_b(ch, scratch, b);
        if let Some((sep2, c)) = rest.split_first_mut() {
            *sep2 = b'_';
            part_c(ch, scratch, c);
        }
    }
    Ja4(out)
}

fn part_a(ch: &ClientHello<'_>, transport: Transport, a: &mut [u8]) {
    let proto = match transport {
        Transport::Tcp => b't',
        Transport::Quic => b'q',
        Transport::Dtls => b'd',
    };
    let [v0, v1] = version_code(version(ch));
    // "If the SNI extension (0x0000) exists, then the destination of the
    // connection is a domain, or 'd'. If it does not exist, then it's an IP, 'i'."
    let sni = if ch.has_sni_extension() { b'd' } else { b'i' };
    let ciphers = ch.cipher_suites().filter(|c| !is_grease(c.0)).count();
    let exts = ch
        .extensions()
        .iter()
        .filter(|e| !is_grease(e.ty.0))
        .count();
    let [c0, c1] = two_digits(ciphers);
    let [e0, e1] = two_digits(exts);
    let [l0, l1] = alpn_chars(ch);
    for (dst, src) in a
        .iter_mut()
        .zip([proto, v0, v1, sni, c0, c1, e0, e1, l0, l1])
    {
        *dst = src;
    }
}

/// "If extension 0x002b exists (supported_versions), then the version is the
/// highest value within the extension. Ignore GREASE." Otherwise the
/// ClientHello's version.
fn version(ch: &ClientHello<'_>) -> u16 {
    ch.supported_versions()
        .and_then(|v| v.iter().filter(|&v| !is_grease(v)).max())
        .unwrap_or(ch.legacy_version.0)
}

fn version_code(v: u16) -> [u8; 2] {
    match v {
        0x0304 => *b"13",
        0x0303 => *b"12",
        0x0302 => *b"11",
        0x0301 => *b"10",
        0x0300 => *b"s3",
        0x0200 => *b"s2",
        0x0100 => *b"s1",
        0xfeff => *b"d1",
        0xfefd => *b"d2",
        0xfefc => *b"d3",
        _ => *b"00",
    }
}

/// "Two-digit number ... If there are more than 99, output 99."
fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// "The first and last alphanumeric characters of the ALPN (Application-Layer
/// Protocol Negotiation) first value. If there are no ALPN values or no ALPN
/// extension then we print '00' as the value in the fingerprint. If the first
/// or last byte of the first ALPN is non-alphanumeric (meaning not
/// 0x30-0x39, 0x41-0x5A, or 0x61-0x7A), then we print the first and last
/// characters of the hex representation of the first and last bytes of the
/// ALPN instead."
fn alpn_chars(ch: &ClientHello<'_>) -> [u8; 2] {
    let first = ch.alpn().and_then(|l| l.iter().next());
    let (Some(&b0), Some(&bn)) = (first.and_then(|v| v.first()), first.and_then(|v| v.last()))
    else {
        return *b"00";
    };
    if b0.is_ascii_alphanumeric() && bn.is_ascii_alphanumeric() {
        [b0, bn]
    } else {
        [nibble(b0 >> 4), nibble(bn)]
    }
}

/// JA4_b: "sorted cipher list ... 4 character hex values, comma delimited
/// ... GREASE values ignored ... truncated SHA256 hash".
fn part_b(ch: &ClientHello<'_>, scratch: &mut Vec<u16>, out: &mut [u8]) {
    scratch.clear();
    scratch.extend(ch.cipher_suites().map(|c| c.0).filter(|&c| !is_grease(c)));
    scratch.sort_unstable();
    if scratch.is_empty() {
        out.copy_from_slice(EMPTY_HASH);
        return;
    }
    let mut h = Sha256::new();
    hash_list(&mut h, scratch);
    finish12(h, out);
}

/// JA4_c: "sorted list of extensions ... ignore the SNI extension (0000) and
/// the ALPN extension (0010) ... followed by an underscore and the signature
/// algorithms in the order that they appear ... If there are no signature
/// algorithms in the hello packet, then the string ends without an
/// underscore". An empty extension list hashes to zeros, as for JA4_b.
///
/// GREASE is dropped from the signature algorithms too ("ignore GREASE
/// values anywhere it sees them"; FoxIO-LLC/ja4 issue #305: the reference
/// Rust tool hashed them until after snapshot 0e54bc8, Python did not).
fn part_c(ch: &ClientHello<'_>, scratch: &mut Vec<u16>, out: &mut [u8]) {
    scratch.clear();
    scratch.extend(
        ch.extensions()
            .iter()
            .map(|e| e.ty)
            .filter(|&t| {
                !is_grease(t.0) && t != ExtensionType::SERVER_NAME && t != ExtensionType::ALPN
            })
            .map(|t| t.0),
    );
    scratch.sort_unstable();
    if scratch.is_empty() {
        out.copy_from_slice(EMPTY_HASH);
        return;
    }
    let mut h = Sha256::new();
    hash_list(&mut h, scratch);
    let mut sigs = ch
        .signature_algorithms()
        .into_iter()
        .flat_map(|l| l.iter())
        .filter(|&s| !is_grease(s))
        .peekable();
    if sigs.peek().is_some() {
        h.update(b"_");
        let mut first = true;
        for s in sigs {
            hash_item(&mut h, s, first);
            first = false;
        }
    }
    finish12(h, out);
}

fn hash_list(h: &mut Sha256, values: &[u16]) {
    for (i, &v) in values.iter().enumerate() {
        hash_item(h, v, i == 0);
    }
}

fn hash_item(h: &mut Sha256, v: u16, first: bool) {
    if !first {
        h.update(b",");
    }
    let mut hex = [0u8; 4];
    hex_into(&v.to_be_bytes(), &mut hex);
    h.update(hex);
}

fn finish12(h: Sha256, out: &mut [u8]) {
    let digest = h.finalize();
    hex_into(digest.get(..6).unwrap_or(&[]), out);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::proto::tls::parser::parse_client_hello;
    use crate::proto::tls::samples::{CHROME_CLIENT_HELLO, TLS10_CLIENT_HELLO};
    use crate::testutil::hex;

    #[test]
    fn ja4_without_extensions_beyond_sni_matches_foxio() {
        // FoxIO Rust 0.18.6 snapshot for socks-https-example.pcap: only SNI,
        // so JA4_c hashes nothing and is all zeros.
        let stream = hex(TLS10_CLIENT_HELLO);
        let mut scratch = Vec::new();
        let ch = parse_client_hello(&stream, &mut scratch).unwrap();
        let mut sort = Vec::new();
        assert_eq!(
            ja4(&ch, Transport::Tcp, &mut sort).to_string(),
            "t10d230100_6a57a6f57151_000000000000"
        );
    }

    #[test]
    fn ja4_of_chrome_matches_foxio() {
        // FoxIO Rust 0.18.6 snapshot for tls-sni.pcapng, 192.168.1.168:50112.
        let stream = hex(CHROME_CLIENT_HELLO);
        let mut scratch = Vec::new();
        let ch = parse_client_hello(&stream, &mut scratch).unwrap();
        let mut sort = Vec::new();
        assert_eq!(
            ja4(&ch, Transport::Tcp, &mut sort).as_str(),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
    }

    #[test]
    fn alpn_rule_follows_the_spec() {
        // JA4.md: non-alphanumeric first or last byte -> first hex char of
        // the first byte and last hex char of the last byte ("0xab 0xcd"
        // prints "ad"); ALPN "h2" prints "h2".
        assert_eq!(alpn_of([0xab, 0xcd]), *b"ad");
        assert_eq!(alpn_of(*b"h2"), *b"h2");
        assert_eq!(alpn_of([b'h', 0xff]), *b"6f");
        assert_eq!(alpn_of([b'-', b'2']), *b"22");
    }

    /// The ALPN chars of the Chrome hello with its first ALPN value ("h2")
    /// replaced by two other bytes.
    fn alpn_of(first: [u8; 2]) -> [u8; 2] {
        let mut stream = hex(CHROME_CLIENT_HELLO);
        // ALPN extension data: list length 12, then "h2" with length 2.
        let at = stream
            .windows(5)
            .position(|w| w == [0x00, 0x0c, 0x02, b'h', b'2'])
            .unwrap();
        stream[at + 3..at + 5].copy_from_slice(&first);
        let mut scratch = Vec::new();
        let ch = parse_client_hello(&stream, &mut scratch).unwrap();
        alpn_chars(&ch)
    }

    #[test]
    fn counts_are_two_digits_capped_at_99() {
        assert_eq!(two_digits(0), *b"00");
        assert_eq!(two_digits(7), *b"07");
        assert_eq!(two_digits(99), *b"99");
        assert_eq!(two_digits(300), *b"99");
    }
}
