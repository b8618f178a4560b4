//! JA3 and JA3S (Salesforce, BSD-3-Clause): the text
//! `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`
//! (JA3S: `SSLVersion,Cipher,Extensions`), each value in decimal, list
//! items joined by `-`, GREASE values (RFC 8701) removed, then MD5 in hex.
//!
//! The text goes into a caller-owned `String` so a flow can reuse it.

#![deny(clippy::indexing_slicing)]

use md5::{Digest, Md5};

use super::parser::{is_grease, ClientHello, ServerHello};
use crate::proto::hex::hex_into;

/// Write the JA3 text of `ch` into `out` (cleared first).
pub fn ja3_string(ch: &ClientHello<'_>, out: &mut String) {
    out.clear();
    // "SSLVersion" is the ClientHello's legacy version, not the record's.
    push_num(out, ch.legacy_version.0);
    out.push(',');
    push_list(out, ch.cipher_suites().map(|c| c.0));
    out.push(',');
    push_list(out, ch.extensions().iter().map(|e| e.ty.0));
    out.push(',');
    push_list(
        out,
        ch.supported_groups().into_iter().flat_map(|g| g.iter()),
    );
    out.push(',');
    push_list(
        out,
        ch.ec_point_formats()
            .unwrap_or(&[])
            .iter()
            .map(|&f| u16::from(f)),
    );
}

/// Write the JA3S text of `sh` into `out` (cleared first).
pub fn ja3s_string(sh: &ServerHello<'_>, out: &mut String) {
    out.clear();
    push_num(out, sh.legacy_version.0);
    out.push(',');
    push_num(out, sh.cipher_suite.0);
    out.push(',');
    push_list(out, sh.extensions().iter().map(|e| e.ty.0));
}

/// MD5 of a JA3/JA3S text, as 32 lowercase hex digits.
pub fn ja3_hash(text: &str) -> Ja3Hash {
    let digest = Md5::digest(text.as_bytes());
    let mut hex = [0u8; 32];
    hex_into(&digest, &mut hex);
    Ja3Hash(hex)
}

/// A JA3 or JA3S hash in lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ja3Hash(pub [u8; 32]);

impl Ja3Hash {
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl core::fmt::Display for Ja3Hash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn push_num(out: &mut String, v: u16) {
    // itoa rather than `write!`: a hello has ~60 numbers, and `fmt` costs
    // several times more per number.
    out.push_str(itoa::Buffer::new().format(v));
}

fn push_list(out: &mut String, values: impl Iterator<Item = u16>) {
    let mut first = true;
    for v in values.filter(|&v| !is_grease(v)) {
        if !first {
            out.push('-');
        }
        first = false;
        push_num(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tls::parser::{parse_client_hello, parse_server_hello};
    use crate::proto::tls::samples::{CHROME_CLIENT_HELLO, TLS10_CLIENT_HELLO, TLS13_SERVER_HELLO};
    use crate::testutil::hex;

    #[test]
    fn ja3_with_empty_lists_matches_tshark() {
        // tshark 4.0, socks-https-example.pcap frame 8: no groups, no point
        // formats, so the text ends with two empty fields.
        let stream = hex(TLS10_CLIENT_HELLO);
        let mut scratch = Vec::new();
        let ch = parse_client_hello(&stream, &mut scratch).unwrap();
        let mut text = String::new();
        ja3_string(&ch, &mut text);
        assert_eq!(
            text,
            "769,57-56-53-22-19-10-51-50-47-154-153-150-5-4-21-18-9-20-17-8-6-3-255,0,,"
        );
        assert_eq!(
            ja3_hash(&text).to_string(),
            "06a92bf69b367389d2feb0d70501ddfe"
        );
    }

    #[test]
    fn ja3_of_chrome_matches_tshark() {
        // tshark 4.0 `tls.handshake.ja3_full` / `ja3`, tls-sni.pcapng frame 1.
        let stream = hex(CHROME_CLIENT_HELLO);
        let mut scratch = Vec::new();
        let ch = parse_client_hello(&stream, &mut scratch).unwrap();
        let mut text = String::new();
        ja3_string(&ch, &mut text);
        assert_eq!(
            text,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
             65281-51-45-5-17513-13-16-35-27-43-0-18-10-23-11-21,29-23-24,0"
        );
        assert_eq!(ja3_hash(&text).as_str(), "1c258ebef8eee2dfa3df6d8d07285af9");
    }

    #[test]
    fn ja3s_of_tls13_server_hello_matches_tshark() {
        // tshark 4.0 `tls.handshake.ja3s_full` / `ja3s`, tls-handshake.pcapng frame 2.
        let stream = hex(TLS13_SERVER_HELLO);
        let mut scratch = Vec::new();
        let sh = parse_server_hello(&stream, &mut scratch).unwrap();
        let mut text = String::new();
        ja3s_string(&sh, &mut text);
        assert_eq!(text, "771,4865,51-43");
        assert_eq!(ja3_hash(&text).as_str(), "eb1d94daa7e0344597e756a1fb6e7054");
    }
}
