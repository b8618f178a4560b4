//! HASSH and HASSH-server (salesforce/hassh): fingerprints of the algorithms
//! an SSH client or server offers in its KEXINIT.
//!
//! The spec: "hassh = md5(kex_algorithms;encryption_algorithms;
//! mac_algorithms;compression_algorithms)" with the client-to-server lists
//! for a client, and "hasshServer" the same with the server-to-client lists
//! for a server. The name-lists are used as sent (wire order, commas kept),
//! joined by `;`; the hash is MD5 in lower-case hex.
//!
//! The hash is computed by feeding the borrowed lists to MD5 one after the
//! other, so it needs no allocation and is exact even when the owned record
//! caps its copy of the string.

use md5::{Digest, Md5};

use super::parser::{KexInit, NameList};

/// Which end sent the KEXINIT: it picks the c2s or s2c lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The connection's initiator (HASSH).
    Client,
    /// The responder (HASSH-server).
    Server,
}

impl From<crate::flow::Direction> for Role {
    /// The role of the side that sends in this direction.
    fn from(d: crate::flow::Direction) -> Role {
        match d {
            crate::flow::Direction::ToServer => Role::Client,
            crate::flow::Direction::ToClient => Role::Server,
        }
    }
}

const SEPARATOR: &[u8] = b";";
/// MD5 digest as lower-case hex.
pub const HASH_HEX_LEN: usize = 32;

/// The four lists of a role, in HASSH order.
pub fn parts<'a>(k: &KexInit<'a>, role: Role) -> [NameList<'a>; 4] {
    match role {
        Role::Client => [
            k.kex_algorithms,
            k.encryption_client_to_server,
            k.mac_client_to_server,
            k.compression_client_to_server,
        ],
        Role::Server => [
            k.kex_algorithms,
            k.encryption_server_to_client,
            k.mac_server_to_client,
            k.compression_server_to_client,
        ],
    }
}

/// Length of the HASSH string of a role (to size or cap a copy).
pub fn string_len(k: &KexInit<'_>, role: Role) -> usize {
    parts(k, role)
        .iter()
        .map(|p| p.as_bytes().len())
        .sum::<usize>()
        + 3 * SEPARATOR.len()
}

/// Feed the HASSH string's bytes, in order, to `sink`.
fn for_each_piece<'a>(k: &KexInit<'a>, role: Role, mut sink: impl FnMut(&'a [u8])) {
    for (i, p) in parts(k, role).iter().enumerate() {
        if i > 0 {
            sink(SEPARATOR);
        }
        sink(p.as_bytes());
    }
}

/// The HASSH string (`kex;enc;mac;cmp`), written into `out` (cleared
/// first; reuse it across flows to avoid allocating).
pub fn write_string(k: &KexInit<'_>, role: Role, out: &mut Vec<u8>) {
    out.clear();
    for_each_piece(k, role, |b| out.extend_from_slice(b));
}

/// MD5 of the HASSH string, as lower-case hex, without building the string.
pub fn hash_hex(k: &KexInit<'_>, role: Role) -> [u8; HASH_HEX_LEN] {
    let mut md5 = Md5::new();
    for_each_piece(k, role, |b| md5.update(b));
    hex_lower(&md5.finalize().into())
}

/// MD5 of arbitrary bytes as lower-case hex (for an already built string).
pub fn md5_hex(bytes: &[u8]) -> [u8; HASH_HEX_LEN] {
    hex_lower(&Md5::digest(bytes).into())
}

fn hex_lower(digest: &[u8; 16]) -> [u8; HASH_HEX_LEN] {
    let mut out = [0u8; HASH_HEX_LEN];
    crate::proto::hex::hex_into(digest, &mut out);
    out
}

/// A fingerprint as the sensor reports it: the string and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hassh {
    pub role: Role,
    /// `kex;enc;mac;cmp`, capped at `cap` bytes (lossy UTF-8: the lists are
    /// US-ASCII by RFC 4251 §5).
    pub string: String,
    /// The string was cut at the cap (the hash is over the whole string).
    pub string_truncated: bool,
    /// MD5 of the whole string, lower-case hex.
    pub hash: String,
}

impl Hassh {
    /// Build the owned fingerprint (allocates: once per flow and side).
    pub fn new(k: &KexInit<'_>, role: Role, cap: usize) -> Hassh {
        let mut s = Vec::with_capacity(string_len(k, role).min(cap));
        write_string(k, role, &mut s);
        let string_truncated = s.len() > cap;
        s.truncate(cap);
        let hash = hash_hex(k, role);
        Hassh {
            role,
            string: String::from_utf8_lossy(&s).into_owned(),
            string_truncated,
            hash: String::from_utf8_lossy(&hash).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ssh::parser::tests::{curve25519_server_stream, DH_GROUP18_CLIENT_KEXINIT};
    use crate::proto::ssh::parser::{parse_kexinit, parse_stream};
    use crate::testutil::hex;

    #[test]
    fn hassh_server_matches_tshark() {
        // tshark ssh.kex.hasshserver(_algorithms), frame 9.
        let s = curve25519_server_stream();
        let k = parse_stream(&s).unwrap().kexinit.unwrap();
        let h = Hassh::new(&k, Role::Server, 4096);
        assert_eq!(
            h.string,
            "curve25519-sha256;chacha20-poly1305@openssh.com;hmac-sha2-512-etm@openssh.com;none,zlib@openssh.com"
        );
        assert_eq!(h.hash, "a95c22bf8e9b19ed0a5dc74bb2f9c613");
        assert!(!h.string_truncated);
    }

    #[test]
    fn hassh_client_matches_tshark() {
        // tshark ssh.kex.hassh(_algorithms), frame 8.
        let p = hex(DH_GROUP18_CLIENT_KEXINIT);
        let k = parse_kexinit(&p, 0).unwrap();
        let h = Hassh::new(&k, Role::Client, 4096);
        assert_eq!(
            h.string,
            "diffie-hellman-group18-sha512,ext-info-c,kex-strict-c-v00@openssh.com;\
             aes192-ctr,aes256-ctr,aes128-ctr;hmac-sha2-256,hmac-sha1,hmac-sha2-512;zlib@openssh.com,none"
        );
        assert_eq!(h.hash, "422e6fdef10393678795b9a542d89ab6");
        // The streamed hash equals the hash of the built string.
        assert_eq!(md5_hex(h.string.as_bytes()), hash_hex(&k, Role::Client));
        assert_eq!(string_len(&k, Role::Client), h.string.len());
    }

    #[test]
    fn capped_string_keeps_the_full_hash() {
        let p = hex(DH_GROUP18_CLIENT_KEXINIT);
        let k = parse_kexinit(&p, 0).unwrap();
        let h = Hassh::new(&k, Role::Client, 10);
        assert_eq!(h.string, "diffie-hel");
        assert!(h.string_truncated);
        assert_eq!(h.hash, "422e6fdef10393678795b9a542d89ab6");
    }

    #[test]
    fn md5_of_empty_is_the_rfc1321_value() {
        // RFC 1321 A.5: MD5("") = d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(&md5_hex(b""), b"d41d8cd98f00b204e9800998ecf8427e");
    }
}
