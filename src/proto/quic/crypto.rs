//! Initial packet protection (RFC 9001 §5): the keys every observer can
//! derive from the client's Destination Connection ID, header protection
//! removal (§5.4, AES-based) and payload decryption (§5.3,
//! AEAD_AES_128_GCM).
//!
//! Decryption works in place on a copy of the packet (see the module doc
//! of [`super`] for why that copy is allowed).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

use super::packet::Version;
use super::QuicError;

/// AEAD_AES_128_GCM: 16-byte key and tag, 12-byte nonce (RFC 5116 §5.1).
pub const KEY_LEN: usize = 16;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// RFC 9001 §5.4.2: "the sampled ciphertext ... is 16 bytes"; the sample
/// starts 4 bytes after the start of the Packet Number field.
pub const SAMPLE_LEN: usize = 16;
const SAMPLE_OFFSET: usize = 4;
/// RFC 9001 §5.4.1: long headers protect the low 4 bits of the first byte.
const LONG_HEADER_MASK: u8 = 0x0f;
/// RFC 9000 §17.2: "Packet Number Length: ... the length of the Packet
/// Number field minus one" in the two lowest bits.
const PN_LEN_MASK: u8 = 0x03;

/// Which end's Initial secret (RFC 9001 §5.2 "client in" / "server in").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// The Initial keys of one direction.
#[derive(Clone, PartialEq, Eq)]
pub struct InitialKeys {
    pub key: [u8; KEY_LEN],
    pub iv: [u8; IV_LEN],
    pub hp: [u8; KEY_LEN],
}

impl core::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Public by construction (derived from the wire), but long.
        f.write_str("InitialKeys { .. }")
    }
}

impl InitialKeys {
    /// RFC 9001 §5.2: `initial_secret = HKDF-Extract(initial_salt,
    /// client_dst_connection_id)`, then the side's secret and its key, iv
    /// and hp with the version's labels (RFC 9369 §3.3.2 for v2).
    pub fn derive(version: Version, client_dcid: &[u8], side: Side) -> InitialKeys {
        let (_, initial) = Hkdf::<Sha256>::extract(Some(version.initial_salt()), client_dcid);
        let label: &[u8] = match side {
            Side::Client => b"client in",
            Side::Server => b"server in",
        };
        let mut secret = [0u8; 32];
        expand_label(&initial, label, &mut secret);
        let Ok(hk) = Hkdf::<Sha256>::from_prk(&secret) else {
            // A 32-byte PRK is always accepted (it is SHA-256's size).
            return InitialKeys {
                key: [0; KEY_LEN],
                iv: [0; IV_LEN],
                hp: [0; KEY_LEN],
            };
        };
        let [lk, liv, lhp] = version.labels();
        let mut keys = InitialKeys {
            key: [0; KEY_LEN],
            iv: [0; IV_LEN],
            hp: [0; KEY_LEN],
        };
        expand_label(&hk, lk, &mut keys.key);
        expand_label(&hk, liv, &mut keys.iv);
        expand_label(&hk, lhp, &mut keys.hp);
        keys
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context: the info is
/// `struct { uint16 length; opaque label<7..255> = "tls13 " + Label;
/// opaque context<0..255>; }`.
fn expand_label(hk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) {
    const PREFIX: &[u8] = b"tls13 ";
    let mut info = [0u8; 2 + 1 + 255 + 1];
    let full = PREFIX.len() + label.len();
    let (Ok(out_len), Ok(label_len)) = (u16::try_from(out.len()), u8::try_from(full)) else {
        return;
    };
    let mut n = 0;
    for part in [
        &out_len.to_be_bytes()[..],
        &[label_len],
        PREFIX,
        label,
        &[0u8],
    ] {
        if let Some(dst) = info.get_mut(n..n + part.len()) {
            dst.copy_from_slice(part);
        }
        n += part.len();
    }
    // Outputs of at most 32 bytes are far below HKDF's 255 * 32 limit.
    let _ = hk.expand(info.get(..n).unwrap_or(&[]), out);
}

/// A packet whose protection was removed in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The truncated packet number (the full one for a flow's first
    /// packets, which count from 0: RFC 9000 §12.3).
    pub packet_number: u64,
    /// Where the plaintext payload lies in the packet buffer.
    pub payload: core::ops::Range<usize>,
}

/// Remove header protection (RFC 9001 §5.4) and decrypt the payload
/// (§5.3) of the long-header packet that is all of `packet`, whose packet
/// number starts at `pn_offset`. `packet` is modified; on error it is left
/// partly unprotected and must be copied again before another try.
pub fn open(packet: &mut [u8], pn_offset: usize, keys: &InitialKeys) -> Result<Opened, QuicError> {
    let sample_at = pn_offset + SAMPLE_OFFSET;
    let sample: [u8; SAMPLE_LEN] = packet
        .get(sample_at..sample_at + SAMPLE_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(QuicError::Truncated {
            what: "header protection sample",
            at: sample_at,
        })?;
    let mask = hp_mask(&keys.hp, sample);
    let first = packet.first_mut().ok_or(QuicError::Truncated {
        what: "first byte",
        at: 0,
    })?;
    *first ^= mask[0] & LONG_HEADER_MASK;
    let pn_len = usize::from(*first & PN_LEN_MASK) + 1;
    let pn_bytes = packet
        .get_mut(pn_offset..pn_offset + pn_len)
        .ok_or(QuicError::Truncated {
            what: "packet number",
            at: pn_offset,
        })?;
    let mut pn = 0u64;
    for (b, m) in pn_bytes.iter_mut().zip(mask.iter().skip(1)) {
        *b ^= m;
        pn = (pn << 8) | u64::from(*b);
    }
    let payload_at = pn_offset + pn_len;
    if packet.len() < payload_at + TAG_LEN {
        return Err(QuicError::Truncated {
            what: "payload (shorter than the AEAD tag)",
            at: payload_at,
        });
    }
    let (aad, body) = packet.split_at_mut(payload_at);
    let (ciphertext, tag) = body.split_at_mut(body.len() - TAG_LEN);
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= p;
    }
    let cipher = Aes128Gcm::new((&keys.key).into());
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            aad,
            ciphertext,
            Tag::from_slice(tag),
        )
        .map_err(|_| QuicError::Decrypt { at: payload_at })?;
    Ok(Opened {
        packet_number: pn,
        payload: payload_at..packet.len() - TAG_LEN,
    })
}

/// RFC 9001 §5.4.3: `mask = AES-ECB(hp_key, sample)`.
fn hp_mask(hp: &[u8; KEY_LEN], sample: [u8; SAMPLE_LEN]) -> [u8; SAMPLE_LEN] {
    let cipher = aes::Aes128::new(hp.into());
    let mut block = sample.into();
    cipher.encrypt_block(&mut block);
    block.into()
}

#[cfg(test)]
mod tests {
    use super::super::packet::LongHeader;
    use super::super::vectors::*;
    use super::*;
    use crate::testutil::hex;

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn rfc9001_a1_keys() {
        let c = InitialKeys::derive(Version::V1, &hex(DCID), Side::Client);
        assert_eq!(c.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(c.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(c.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
        let s = InitialKeys::derive(Version::V1, &hex(DCID), Side::Server);
        assert_eq!(s.key.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
        assert_eq!(s.iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
        assert_eq!(s.hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
    }

    #[test]
    fn rfc9369_a1_keys() {
        let c = InitialKeys::derive(Version::V2, &hex(DCID), Side::Client);
        assert_eq!(c.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(c.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(c.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
        let s = InitialKeys::derive(Version::V2, &hex(DCID), Side::Server);
        assert_eq!(s.key.to_vec(), hex("82db637861d55e1d011f19ea71d5d2a7"));
        assert_eq!(s.iv.to_vec(), hex("dd13c276499c0249d3310652"));
        assert_eq!(s.hp.to_vec(), hex("edf6d05c83121201b436e16877593c3a"));
    }

    fn open_vector(v: Version, packet: &str, side: Side) -> (Vec<u8>, Opened) {
        let mut p = hex(packet);
        let pn_offset = LongHeader::parse(&p).unwrap().pn_offset;
        let keys = InitialKeys::derive(v, &hex(DCID), side);
        let o = open(&mut p, pn_offset, &keys).unwrap();
        (p, o)
    }

    #[test]
    fn rfc9001_a2_client_initial_decrypts() {
        let (p, o) = open_vector(Version::V1, V1_CLIENT_INITIAL, Side::Client);
        // A.2: unprotected header c300000001088394c8f03e5157080000449e00000002.
        assert_eq!(
            p[..22],
            hex("c300000001088394c8f03e5157080000449e00000002")[..]
        );
        assert_eq!(o.packet_number, 2);
        let payload = &p[o.payload.clone()];
        let crypto = hex(CLIENT_CRYPTO_FRAME);
        assert_eq!(&payload[..crypto.len()], &crypto[..]);
        assert!(payload[crypto.len()..].iter().all(|&b| b == 0));
        assert_eq!(payload.len(), crypto.len() + 917);
    }

    #[test]
    fn rfc9369_a2_client_initial_decrypts() {
        let (p, o) = open_vector(Version::V2, V2_CLIENT_INITIAL, Side::Client);
        assert_eq!(
            p[..22],
            hex("d36b3343cf088394c8f03e5157080000449e00000002")[..]
        );
        assert_eq!(o.packet_number, 2);
        let crypto = hex(CLIENT_CRYPTO_FRAME);
        assert_eq!(
            &p[o.payload.start..o.payload.start + crypto.len()],
            &crypto[..]
        );
    }

    #[test]
    fn server_initials_decrypt_with_server_keys() {
        // RFC 9001 A.3 / RFC 9369 A.3: ACK then CRYPTO (ServerHello).
        for (v, pkt) in [
            (Version::V1, V1_SERVER_INITIAL),
            (Version::V2, V2_SERVER_INITIAL),
        ] {
            let (p, o) = open_vector(v, pkt, Side::Server);
            assert_eq!(o.packet_number, 1);
            assert_eq!(
                &p[o.payload.start..o.payload.start + 8],
                &hex("0200000000060040")
            );
        }
    }

    #[test]
    fn wrong_keys_or_tampering_fail_authentication() {
        let mut p = hex(V1_CLIENT_INITIAL);
        let keys = InitialKeys::derive(Version::V2, &hex(DCID), Side::Client);
        assert!(open(&mut p, 18, &keys).is_err());
        let mut p = hex(V1_CLIENT_INITIAL);
        p[600] ^= 1;
        let keys = InitialKeys::derive(Version::V1, &hex(DCID), Side::Client);
        assert!(matches!(
            open(&mut p, 18, &keys),
            Err(QuicError::Decrypt { .. })
        ));
        let mut short = hex(V1_CLIENT_INITIAL)[..30].to_vec();
        assert!(matches!(
            open(&mut short, 18, &keys),
            Err(QuicError::Truncated { .. })
        ));
    }
}
