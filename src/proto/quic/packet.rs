//! Zero-copy view of a QUIC long-header packet (RFC 9000 §17.2) and the
//! versions whose Initial packets we can open (RFC 9001 §5.2, RFC 9369 §3,
//! the IETF drafts still seen on the wire).
//!
//! Only the header is read here: the packet number and the first byte's
//! low bits are header-protected (RFC 9001 §5.4) and read after removal,
//! in [`super::crypto`].

use super::QuicError;

/// Byte offsets of the long header (RFC 9000 §17.2).
pub mod field {
    /// Header Form (1) = 1, Fixed Bit (1), Long Packet Type (2), Type-Specific Bits (4).
    pub const FIRST: usize = 0;
    pub const VERSION: core::ops::Range<usize> = 1..5;
    pub const DCID_LEN: usize = 5;
    /// RFC 9000 §17.2: "Header Form: ... set to 1 for long headers".
    pub const HEADER_FORM: u8 = 0x80;
    /// RFC 9000 §17.2: "Fixed Bit: ... MUST be set to 1" (RFC 9287 §3 lets
    /// a peer grease it only after transport parameters, so never in a
    /// client's first Initial; a server may clear it from its first one).
    pub const FIXED_BIT: u8 = 0x40;
    /// RFC 9000 §17.2: connection IDs are at most 20 bytes in version 1.
    pub const MAX_CID_LEN: usize = 20;
}

/// RFC 9000 §17.2.2: "a client MUST expand the payload of all UDP
/// datagrams carrying Initial packets to at least 1200 bytes" (§14.1).
pub const MIN_CLIENT_INITIAL_DATAGRAM: usize = 1200;

/// The QUIC versions whose Initial protection is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// RFC 9000 version 1, `0x00000001`.
    V1,
    /// RFC 9369 version 2, `0x6b3343cf`.
    V2,
    /// draft-ietf-quic-transport-N, `0xff0000NN`, N in 27..=34.
    Draft(u8),
}

/// Initial salts. RFC 9001 §5.2 (v1, also used by drafts 33 and 34).
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 §3.3.1.
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// draft-ietf-quic-tls-29 §5.2 (drafts 29 to 32).
const SALT_DRAFT_29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
/// draft-ietf-quic-tls-23 §5.2 (drafts 23 to 28).
const SALT_DRAFT_23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];

const V1: u32 = 0x0000_0001;
const V2: u32 = 0x6b33_43cf;
/// RFC 9000 §15: draft versions are `0xff000000 + N`.
const DRAFT_BASE: u32 = 0xff00_0000;
const FIRST_DRAFT: u8 = 27;
const LAST_DRAFT: u8 = 34;

impl Version {
    /// The version of a wire value, when its Initial protection is known.
    pub fn from_wire(v: u32) -> Option<Version> {
        match v {
            V1 => Some(Version::V1),
            V2 => Some(Version::V2),
            _ => {
                let n = v.checked_sub(DRAFT_BASE)?;
                let n = u8::try_from(n).ok()?;
                (FIRST_DRAFT..=LAST_DRAFT)
                    .contains(&n)
                    .then_some(Version::Draft(n))
            }
        }
    }

    pub fn wire(self) -> u32 {
        match self {
            Version::V1 => V1,
            Version::V2 => V2,
            Version::Draft(n) => DRAFT_BASE + u32::from(n),
        }
    }

    /// `"1"`, `"2"`, `"draft-29"`.
    pub fn name(self) -> String {
        match self {
            Version::V1 => "1".into(),
            Version::V2 => "2".into(),
            Version::Draft(n) => format!("draft-{n}"),
        }
    }

    pub fn initial_salt(self) -> &'static [u8; 20] {
        match self {
            Version::V1 => &SALT_V1,
            Version::V2 => &SALT_V2,
            Version::Draft(n) if n <= 28 => &SALT_DRAFT_23,
            Version::Draft(n) if n <= 32 => &SALT_DRAFT_29,
            Version::Draft(_) => &SALT_V1,
        }
    }

    /// HKDF labels for key, iv and hp: RFC 9001 §5.1 ("quic key"...) and
    /// RFC 9369 §3.3.2 ("quicv2 key"...).
    pub fn labels(self) -> [&'static [u8]; 3] {
        match self {
            Version::V2 => [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"],
            _ => [b"quic key", b"quic iv", b"quic hp"],
        }
    }

    /// The Long Packet Type bits of an Initial: 0b00 in v1 (RFC 9000
    /// §17.2), 0b01 in v2 (RFC 9369 §3.2).
    pub fn initial_type(self) -> u8 {
        match self {
            Version::V2 => 0b01,
            _ => 0b00,
        }
    }

    /// The Long Packet Type bits of a Retry: 0b11 in v1, 0b00 in v2.
    pub fn retry_type(self) -> u8 {
        match self {
            Version::V2 => 0b00,
            _ => 0b11,
        }
    }
}

/// RFC 9000 §17.2.1: a Version Negotiation packet has version 0.
pub const VERSION_NEGOTIATION: u32 = 0;
/// RFC 9000 §15: "Versions that follow the pattern 0x?a?a?a?a are
/// reserved for use in forcing version negotiation to be exercised".
const RESERVED_MASK: u32 = 0x0f0f_0f0f;
const RESERVED_PATTERN: u32 = 0x0a0a_0a0a;

/// A version reserved to force version negotiation (RFC 9000 §15): a
/// client sending it expects a Version Negotiation and then starts over
/// with a real version (§6.1).
pub fn is_reserved_version(v: u32) -> bool {
    v & RESERVED_MASK == RESERVED_PATTERN
}

/// A version as written in the `quic` object: its name when known, else
/// `0x` and 8 hex digits.
pub fn version_text(v: u32) -> String {
    match Version::from_wire(v) {
        Some(known) => known.name(),
        None => format!("0x{v:08x}"),
    }
}

/// RFC 9000 §16 variable-length integer at the start of `b`: value and
/// its encoded length.
pub fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in bytes.get(1..).unwrap_or(&[]) {
        v = (v << 8) | u64::from(x);
    }
    Some((v, len))
}

/// A long-header packet, header fields borrowed (RFC 9000 §17.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    /// The first byte as sent (its low bits still protected).
    pub first: u8,
    pub version: u32,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// Long Packet Type bits (meaning depends on the version).
    pub packet_type: u8,
    /// Initial only: the token (RFC 9000 §17.2.2).
    pub token: &'a [u8],
    /// Initial/0-RTT/Handshake: where the (protected) packet number
    /// starts, from the start of the packet.
    pub pn_offset: usize,
    /// The whole packet's length in the datagram (header, packet number
    /// and payload): the next coalesced packet starts there (§12.2).
    pub packet_len: usize,
}

impl<'a> LongHeader<'a> {
    /// Parse the long header at the start of `b` (one datagram, possibly
    /// holding further coalesced packets). Version Negotiation (version 0)
    /// and unknown versions are returned with `packet_len` = the rest of
    /// the datagram, since their layout past the CIDs is not known.
    pub fn parse(b: &'a [u8]) -> Result<LongHeader<'a>, QuicError> {
        let first = *b.get(field::FIRST).ok_or(QuicError::Truncated {
            what: "first byte",
            at: 0,
        })?;
        if first & field::HEADER_FORM == 0 {
            return Err(QuicError::Malformed {
                what: "header form (short header)",
                at: 0,
            });
        }
        let version = match b.get(field::VERSION) {
            Some(&[a, b2, c, d]) => u32::from_be_bytes([a, b2, c, d]),
            _ => {
                return Err(QuicError::Truncated {
                    what: "version",
                    at: field::VERSION.start,
                })
            }
        };
        let mut at = field::DCID_LEN;
        let dcid = cid(b, &mut at, "destination connection id")?;
        let scid = cid(b, &mut at, "source connection id")?;
        let packet_type = (first >> 4) & 0b11;
        let mut hdr = LongHeader {
            first,
            version,
            dcid,
            scid,
            packet_type,
            token: &[],
            pn_offset: at,
            packet_len: b.len(),
        };
        let Some(v) = Version::from_wire(version) else {
            return Ok(hdr);
        };
        // The Fixed Bit is not checked here: RFC 9287 §3 lets an endpoint
        // that received its peer's grease_quic_bit transport parameter
        // send it as 0, and servers do so from their first Initial (which
        // follows the client's transport parameters). The probe, which
        // sees the client's first Initial only, still requires it.
        if packet_type == v.retry_type() {
            // RFC 9000 §17.2.5: a Retry has no Length; it fills the datagram.
            return Ok(hdr);
        }
        if packet_type == v.initial_type() {
            let (tlen, n) = varint(b.get(at..).unwrap_or(&[])).ok_or(QuicError::Truncated {
                what: "token length",
                at,
            })?;
            at += n;
            let tlen = usize::try_from(tlen).map_err(|_| QuicError::Malformed {
                what: "token length",
                at,
            })?;
            hdr.token = b
                .get(at..at.saturating_add(tlen))
                .ok_or(QuicError::Truncated { what: "token", at })?;
            at += tlen;
        }
        let (len, n) = varint(b.get(at..).unwrap_or(&[]))
            .ok_or(QuicError::Truncated { what: "length", at })?;
        at += n;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let end = at
            .checked_add(len)
            .filter(|&e| e <= b.len())
            .ok_or(QuicError::Truncated {
                what: "length (past the datagram)",
                at,
            })?;
        hdr.pn_offset = at;
        hdr.packet_len = end;
        Ok(hdr)
    }

    /// The version, when its Initial protection is known.
    pub fn known_version(&self) -> Option<Version> {
        Version::from_wire(self.version)
    }

    /// This is an Initial packet of a known version.
    pub fn is_initial(&self) -> bool {
        self.known_version()
            .is_some_and(|v| self.packet_type == v.initial_type())
    }
}

/// A connection ID with its one-byte length.
fn cid<'a>(b: &'a [u8], at: &mut usize, what: &'static str) -> Result<&'a [u8], QuicError> {
    let len = usize::from(*b.get(*at).ok_or(QuicError::Truncated { what, at: *at })?);
    if len > field::MAX_CID_LEN {
        return Err(QuicError::Malformed { what, at: *at });
    }
    let s = b
        .get(*at + 1..*at + 1 + len)
        .ok_or(QuicError::Truncated { what, at: *at })?;
    *at += 1 + len;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::super::vectors::*;
    use super::*;
    use crate::testutil::hex;

    #[test]
    fn varints_of_rfc9000_appendix_a1() {
        // RFC 9000 §A.1 examples.
        assert_eq!(
            varint(&hex("c2197c5eff14e88c")),
            Some((151_288_809_941_952_652, 8))
        );
        assert_eq!(varint(&hex("9d7f3e7d")), Some((494_878_333, 4)));
        assert_eq!(varint(&hex("7bbd")), Some((15_293, 2)));
        assert_eq!(varint(&hex("25")), Some((37, 1)));
        assert_eq!(varint(&hex("4025")), Some((37, 2)));
        assert_eq!(varint(&hex("80")), None);
    }

    #[test]
    fn rfc9001_client_initial_header() {
        let p = hex(V1_CLIENT_INITIAL);
        let h = LongHeader::parse(&p).unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(h.dcid, hex("8394c8f03e515708"));
        assert!(h.scid.is_empty());
        assert!(h.token.is_empty());
        assert!(h.is_initial());
        // "c0 00000001 08 8394c8f03e515708 00 00 449e": length 0x049e = 1182.
        assert_eq!(h.pn_offset, 18);
        assert_eq!(h.packet_len, 18 + 1182);
    }

    #[test]
    fn rfc9369_initial_uses_its_own_type_bits() {
        let p = hex(V2_CLIENT_INITIAL);
        let h = LongHeader::parse(&p).unwrap();
        assert_eq!(h.known_version(), Some(Version::V2));
        assert_eq!(h.packet_type, 0b01);
        assert!(h.is_initial());
        let s = hex(V2_SERVER_INITIAL);
        let h = LongHeader::parse(&s).unwrap();
        assert!(h.is_initial());
        assert_eq!(h.scid, hex("f067a5502a4262b5"));
    }

    #[test]
    fn truncation_and_bad_cids_are_reported() {
        let p = hex(V1_CLIENT_INITIAL);
        assert!(matches!(
            LongHeader::parse(&p[..600]),
            Err(QuicError::Truncated {
                what: "length (past the datagram)",
                ..
            })
        ));
        let mut bad = p.clone();
        bad[5] = 21;
        assert!(matches!(
            LongHeader::parse(&bad),
            Err(QuicError::Malformed { at: 5, .. })
        ));
        assert_eq!(version_text(0xff00_001d), "draft-29");
        // The version of tcpdump's quic_vn.pcap first Initial.
        assert!(is_reserved_version(0x1a2a_3a4a));
        assert!(!is_reserved_version(1) && !is_reserved_version(0x6b33_43cf));
        assert_eq!(version_text(0x5130_3436), "0x51303436");
    }
}
