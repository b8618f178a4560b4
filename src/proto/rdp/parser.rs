//! Zero-copy views of the clear-text start of an RDP connection:
//! TPKT (RFC 1006 §6), the X.224 Connection Request and Confirm with their
//! RDP negotiation structures (MS-RDPBCGR 2.2.1.1, 2.2.1.2), and the MCS
//! Connect-Initial's GCC Client Core Data (MS-RDPBCGR 2.2.1.3, T.125,
//! T.124), which only travels in clear under standard RDP security.
//!
//! Every view borrows the stream it was parsed from; nothing here
//! allocates.

use std::fmt;

/// Why a structure could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdpError {
    /// The bytes end before the structure does; at least `need` bytes
    /// from the structure's start are needed.
    Incomplete { need: usize },
    /// The bytes are not this structure.
    Malformed {
        field: &'static str,
        offset: usize,
        what: &'static str,
    },
}

impl fmt::Display for RdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdpError::Incomplete { need } => write!(f, "incomplete: {need} bytes needed"),
            RdpError::Malformed {
                field,
                offset,
                what,
            } => write!(f, "{field} at offset {offset}: {what}"),
        }
    }
}

fn malformed(field: &'static str, offset: usize, what: &'static str) -> RdpError {
    RdpError::Malformed {
        field,
        offset,
        what,
    }
}

fn u16_be(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// TPKT header (RFC 1006 §6): version 3, a reserved byte, and the packet
/// length (header included), big-endian.
pub mod tpkt {
    pub const VERSION: u8 = 3;
    pub const HEADER_LEN: usize = 4;
    /// The header plus the shortest X.224 TPDU (a Data TPDU: LI, code, EOT).
    pub const MIN_LEN: usize = 7;
}

/// One TPKT: its payload (an X.224 TPDU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpkt<'a> {
    pub payload: &'a [u8],
}

impl<'a> Tpkt<'a> {
    /// The TPKT at the start of `b` and the bytes it takes.
    pub fn parse(b: &'a [u8]) -> Result<(Tpkt<'a>, usize), RdpError> {
        match b.first() {
            None => return Err(RdpError::Incomplete { need: 1 }),
            Some(&tpkt::VERSION) => {}
            Some(_) => return Err(malformed("tpkt.version", 0, "not 3")),
        }
        let len = match u16_be(b, 2) {
            Some(l) => usize::from(l),
            None => return Err(RdpError::Incomplete { need: 4 }),
        };
        if len < tpkt::MIN_LEN {
            return Err(malformed("tpkt.length", 2, "shorter than a TPDU"));
        }
        let payload = b
            .get(tpkt::HEADER_LEN..len)
            .ok_or(RdpError::Incomplete { need: len })?;
        Ok((Tpkt { payload }, len))
    }
}

/// X.224 (ISO 8073 §13.3, §13.4, §13.7) TPDU codes, in the high nibble of
/// the byte after the length indicator.
pub mod x224 {
    pub const CONNECTION_REQUEST: u8 = 0xE0;
    pub const CONNECTION_CONFIRM: u8 = 0xD0;
    pub const DATA: u8 = 0xF0;
    /// LI, code, DST-REF, SRC-REF, class option: the fixed part of CR/CC.
    pub const CONNECTION_FIXED_LEN: usize = 7;
    /// LI, code, EOT: the Data TPDU header of class 0.
    pub const DATA_HEADER_LEN: usize = 3;
}

/// The RDP negotiation structures' types and length (MS-RDPBCGR 2.2.1.1.1,
/// 2.2.1.2.1, 2.2.1.2.2).
pub mod neg {
    pub const TYPE_REQ: u8 = 0x01;
    pub const TYPE_RSP: u8 = 0x02;
    pub const TYPE_FAILURE: u8 = 0x03;
    pub const LEN: usize = 8;
}

/// An X.224 connection TPDU (CR or CC): the bytes after its fixed part,
/// and whether the length indicator agreed with the TPKT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnectionTpdu<'a> {
    variable: &'a [u8],
    li_mismatch: bool,
}

fn connection_tpdu<'a>(tpdu: &'a [u8], code: u8) -> Result<ConnectionTpdu<'a>, RdpError> {
    let (li, c) = match tpdu {
        [li, c, ..] => (*li, *c),
        _ => return Err(malformed("x224", 0, "truncated TPDU")),
    };
    if c & 0xF0 != code {
        return Err(malformed("x224.code", 1, "unexpected TPDU type"));
    }
    let variable = tpdu.get(x224::CONNECTION_FIXED_LEN..).ok_or(malformed(
        "x224",
        0,
        "shorter than the fixed part",
    ))?;
    Ok(ConnectionTpdu {
        variable,
        // MS-RDPBCGR counts the cookie and negotiation structure in LI.
        li_mismatch: usize::from(li) + 1 != tpdu.len(),
    })
}

/// The cookie prefix of 2.2.1.1 (`Cookie: mstshash=IDENTIFIER\r\n`).
pub const MSTSHASH_PREFIX: &[u8] = b"Cookie: mstshash=";
/// The start every routing token seen in practice has.
pub const COOKIE_PREFIX: &[u8] = b"Cookie: ";

/// The token before the negotiation request: a user-name cookie or a
/// load balancer's routing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// The IDENTIFIER of `Cookie: mstshash=IDENTIFIER` (without CR LF).
    Mstshash(&'a [u8]),
    /// Any other CR LF-terminated token (without CR LF), e.g.
    /// `Cookie: msts=3640205228.15629.0000`.
    Routing(&'a [u8]),
}

/// X.224 Connection Request PDU (MS-RDPBCGR 2.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRequest<'a> {
    pub token: Option<Token<'a>>,
    /// RDP_NEG_REQ requestedProtocols (2.2.1.1.1), when present.
    pub requested_protocols: Option<u32>,
    /// The X.224 length indicator disagrees with the TPKT length.
    pub li_mismatch: bool,
}

impl<'a> ConnectionRequest<'a> {
    /// Parse the TPDU carried by a TPKT.
    pub fn parse(tpdu: &'a [u8]) -> Result<ConnectionRequest<'a>, RdpError> {
        let t = connection_tpdu(tpdu, x224::CONNECTION_REQUEST)?;
        let mut rest = t.variable;
        let mut at = x224::CONNECTION_FIXED_LEN;
        let mut token = None;
        if !rest.is_empty() && !is_neg(rest, neg::TYPE_REQ) {
            // 2.2.1.1: routingToken or cookie, "terminated by a 0x0D0A
            // two-byte sequence".
            let end = rest.windows(2).position(|w| w == b"\r\n").ok_or(malformed(
                "x224.cookie",
                at,
                "no CR LF terminator",
            ))?;
            let text = rest.get(..end).unwrap_or_default();
            token = Some(match text.strip_prefix(MSTSHASH_PREFIX) {
                Some(user) => Token::Mstshash(user),
                None => Token::Routing(text),
            });
            rest = rest.get(end + 2..).unwrap_or_default();
            at += end + 2;
        }
        let mut requested_protocols = None;
        if !rest.is_empty() {
            if !is_neg(rest, neg::TYPE_REQ) {
                return Err(malformed("rdp_neg_req", at, "not an RDP_NEG_REQ"));
            }
            requested_protocols = u32_le(rest, 4);
        }
        Ok(ConnectionRequest {
            token,
            requested_protocols,
            li_mismatch: t.li_mismatch,
        })
    }
}

/// `b` starts with a negotiation structure of type `ty` and length 8
/// (its length field is little-endian, 2.2.1.1.1).
fn is_neg(b: &[u8], ty: u8) -> bool {
    b.len() >= neg::LEN && b.first() == Some(&ty) && u16_le(b, 2) == Some(neg::LEN as u16)
}

/// What the server answered in its Connection Confirm (2.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiation {
    /// No negotiation structure: a server of before RDP 5.2, standard RDP
    /// security.
    Legacy,
    /// RDP_NEG_RSP selectedProtocol (2.2.1.2.1).
    Selected(u32),
    /// RDP_NEG_FAILURE failureCode (2.2.1.2.2).
    Failed(u32),
}

/// X.224 Connection Confirm PDU (MS-RDPBCGR 2.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfirm {
    pub negotiation: Negotiation,
    pub li_mismatch: bool,
}

impl ConnectionConfirm {
    pub fn parse(tpdu: &[u8]) -> Result<ConnectionConfirm, RdpError> {
        let t = connection_tpdu(tpdu, x224::CONNECTION_CONFIRM)?;
        let at = x224::CONNECTION_FIXED_LEN;
        let v = t.variable;
        let negotiation = if v.is_empty() {
            Negotiation::Legacy
        } else if v.len() != neg::LEN {
            return Err(malformed("rdp_neg_rsp.length", at, "not 8 bytes"));
        } else if is_neg(v, neg::TYPE_RSP) {
            Negotiation::Selected(u32_le(v, 4).unwrap_or_default())
        } else if is_neg(v, neg::TYPE_FAILURE) {
            Negotiation::Failed(u32_le(v, 4).unwrap_or_default())
        } else {
            return Err(malformed(
                "rdp_neg_rsp",
                at,
                "neither RDP_NEG_RSP nor RDP_NEG_FAILURE",
            ));
        };
        Ok(ConnectionConfirm {
            negotiation,
            li_mismatch: t.li_mismatch,
        })
    }
}

/// BER tags of T.125 MCS Connect-Initial (ITU-T T.125 §7, Part 2).
mod ber {
    /// `[APPLICATION 101]` in the high-tag-number form (X.690 §8.1.2.4).
    pub const CONNECT_INITIAL: [u8; 2] = [0x7F, 0x65];
    pub const BOOLEAN: u8 = 0x01;
    pub const OCTET_STRING: u8 = 0x04;
    pub const SEQUENCE: u8 = 0x30;
}

/// Client data block types (MS-RDPBCGR 2.2.1.3.1).
pub const CS_CORE: u16 = 0xC001;
/// The H.221 non-standard key clients put before their data blocks
/// (MS-RDPBCGR 2.2.1.3, T.124 ConferenceCreateRequest userData).
const H221_CLIENT_KEY: &[u8] = b"Duca";
/// The key comes within this many bytes of userData: the T.124 object
/// identifier, the ConnectPDU length and the fixed ConferenceCreateRequest
/// fields before it take 21 bytes when encoded as MS-RDPBCGR shows.
const H221_KEY_WITHIN: usize = 64;

/// A BER length (X.690 §8.1.3): short form, or long form of 1-2 bytes.
fn ber_len(b: &[u8], at: usize) -> Result<(usize, usize), RdpError> {
    let first = *b.get(at).ok_or(RdpError::Incomplete { need: at + 1 })?;
    match first {
        0..=0x7F => Ok((usize::from(first), 1)),
        0x81 => b
            .get(at + 1)
            .map(|&l| (usize::from(l), 2))
            .ok_or(RdpError::Incomplete { need: at + 2 }),
        0x82 => u16_be(b, at + 1)
            .map(|l| (usize::from(l), 3))
            .ok_or(RdpError::Incomplete { need: at + 3 }),
        _ => Err(malformed("ber.length", at, "unsupported length form")),
    }
}

/// The value of the BER element with `tag` at `at`, and where the next
/// element starts.
fn ber_element(b: &[u8], at: usize, tag: u8) -> Result<(&[u8], usize), RdpError> {
    match b.get(at) {
        None => return Err(RdpError::Incomplete { need: at + 1 }),
        Some(&t) if t == tag => {}
        Some(_) => return Err(malformed("ber.tag", at, "unexpected tag")),
    }
    let (len, len_len) = ber_len(b, at + 1)?;
    let start = at + 1 + len_len;
    let end = start + len;
    let v = b
        .get(start..end)
        .ok_or(RdpError::Incomplete { need: end })?;
    Ok((v, end))
}

/// TS_UD_CS_CORE (MS-RDPBCGR 2.2.1.3.2): the fields we keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCoreData<'a> {
    pub keyboard_layout: u32,
    pub client_build: u32,
    /// clientName: 32 bytes of UTF-16LE, NUL-terminated.
    pub client_name_utf16: &'a [u8],
}

/// Offsets in TS_UD_CS_CORE, from the start of its TS_UD_HEADER.
mod core {
    pub const KEYBOARD_LAYOUT: usize = 16;
    pub const CLIENT_BUILD: usize = 20;
    pub const CLIENT_NAME: usize = 24;
    pub const CLIENT_NAME_LEN: usize = 32;
    pub const MIN_LEN: usize = CLIENT_NAME + CLIENT_NAME_LEN;
}

impl<'a> ClientCoreData<'a> {
    /// The client name, decoded up to its first NUL.
    pub fn client_name(&self) -> String {
        let units = self
            .client_name_utf16
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0);
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

/// The Client Core Data of the MCS Connect-Initial PDU carried by the
/// TPDU of one TPKT (2.2.1.3): X.224 Data, BER Connect-Initial, its
/// userData octet string, then the client data blocks after the H.221 key.
pub fn client_core_data(tpdu: &[u8]) -> Result<ClientCoreData<'_>, RdpError> {
    match tpdu {
        [2, code, _, ..] if code & 0xF0 == x224::DATA => {}
        _ => return Err(malformed("x224", 0, "not a Data TPDU")),
    }
    let ci = tpdu.get(x224::DATA_HEADER_LEN..).unwrap_or_default();
    if ci.get(..2) != Some(&ber::CONNECT_INITIAL[..]) {
        return Err(malformed("mcs", 0, "not a Connect-Initial"));
    }
    let (len, len_len) = ber_len(ci, 2)?;
    let body = ci
        .get(2 + len_len..2 + len_len + len)
        .ok_or(RdpError::Incomplete {
            need: 2 + len_len + len,
        })?;
    // callingDomainSelector, calledDomainSelector, upwardFlag, the three
    // DomainParameters, then userData (T.125 Connect-Initial).
    let mut at = 0;
    for tag in [
        ber::OCTET_STRING,
        ber::OCTET_STRING,
        ber::BOOLEAN,
        ber::SEQUENCE,
        ber::SEQUENCE,
        ber::SEQUENCE,
    ] {
        at = ber_element(body, at, tag)?.1;
    }
    let (user_data, _) = ber_element(body, at, ber::OCTET_STRING)?;
    let head = user_data.get(..user_data.len().min(H221_KEY_WITHIN));
    let key_at = head
        .and_then(|h| h.windows(4).position(|w| w == H221_CLIENT_KEY))
        .ok_or(malformed("gcc.h221_key", 0, "no client key \"Duca\""))?;
    // A PER length (X.691 §10.9): one byte, or two with the top bits 10.
    let mut at = key_at + H221_CLIENT_KEY.len();
    let first = *user_data
        .get(at)
        .ok_or(malformed("gcc.length", at, "missing"))?;
    at += if first & 0x80 != 0 { 2 } else { 1 };
    // TS_UD_HEADER blocks (2.2.1.3.1): type and length, little-endian.
    while let (Some(ty), Some(len)) = (u16_le(user_data, at), u16_le(user_data, at + 2)) {
        let len = usize::from(len);
        if len < 4 {
            return Err(malformed("ts_ud_header.length", at + 2, "below 4"));
        }
        let block = user_data.get(at..at + len).ok_or(malformed(
            "ts_ud_header.length",
            at + 2,
            "beyond userData",
        ))?;
        if ty == CS_CORE {
            if len < core::MIN_LEN {
                return Err(malformed("ts_ud_cs_core", at, "shorter than clientName"));
            }
            return Ok(ClientCoreData {
                keyboard_layout: u32_le(block, core::KEYBOARD_LAYOUT).unwrap_or_default(),
                client_build: u32_le(block, core::CLIENT_BUILD).unwrap_or_default(),
                client_name_utf16: block
                    .get(core::CLIENT_NAME..core::MIN_LEN)
                    .unwrap_or_default(),
            });
        }
        at += len;
    }
    Err(malformed("ts_ud_cs_core", at, "no client core data"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::hex;

    /// The Connection Request of zeek/traces/rdp/rdp-to-ssl.pcap (frame 4):
    /// tshark shows `Cookie: mstshash=AWAKECODI`, requestedProtocols 0x3.
    const CR_AWAKECODI: &str = "0300002f2ae00000000000436f6f6b69653a206d737473686173683d4157414b45434f44490d0a0100080003000000";

    /// MCS Connect-Initial of zeek/traces/rdp/rdp-proprietary-encryption.pcap
    /// (frame 14): tshark shows clientName FROG-POND, keyboardLayout 1033,
    /// clientBuild 6000 (Zeek: "FROG-POND", "RDP 6.0").
    pub(crate) const CONNECT_INITIAL_FROG_POND: &str = "030001ac02f0807f658201a00401010401010101ff30190201220201020201000201010201000201010202ffff020102301902010102010102010102010102010002010102020420020102301c0202ffff0202fc170202ffff0201010201000201010202ffff0201020482013f000500147c00018136000800100001c00044756361812801c0d800040008008004600301ca03aa0904000070170000460052004f0047002d0050004f004e004400000000000000000000000000000004000000000000000c0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001ca01000000000018000f000b000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000004c00c000d0000000000000002c00c001b0000000000000003c0380004000000726470647200000000008080726470736e640000000000c0647264796e766300000080c0636c6970726472000000a0c0";

    #[test]
    fn client_core_data_of_connect_initial() {
        let b = hex(CONNECT_INITIAL_FROG_POND);
        let (t, used) = Tpkt::parse(&b).unwrap();
        assert_eq!(used, b.len());
        let core = client_core_data(t.payload).unwrap();
        assert_eq!(core.client_name(), "FROG-POND");
        assert_eq!(core.keyboard_layout, 1033);
        assert_eq!(core.client_build, 6000);
        // Cut inside userData: a malformed length, never a panic.
        for cut in 0..b.len() {
            let _ = Tpkt::parse(&b[..cut]).map(|(t, _)| client_core_data(t.payload));
            let _ = client_core_data(&b[4..cut.max(4)]);
        }
    }

    #[test]
    fn connection_request_with_cookie_and_neg_req() {
        let b = hex(CR_AWAKECODI);
        let (t, used) = Tpkt::parse(&b).unwrap();
        assert_eq!(used, b.len());
        let cr = ConnectionRequest::parse(t.payload).unwrap();
        assert_eq!(cr.token, Some(Token::Mstshash(b"AWAKECODI")));
        assert_eq!(cr.requested_protocols, Some(3));
        assert!(!cr.li_mismatch);
    }

    #[test]
    fn tpkt_needs_its_whole_length() {
        let b = hex(CR_AWAKECODI);
        assert_eq!(
            Tpkt::parse(&b[..10]),
            Err(RdpError::Incomplete { need: 47 })
        );
        assert!(matches!(
            Tpkt::parse(&[3, 0, 0, 5]),
            Err(RdpError::Malformed { .. })
        ));
    }

    #[test]
    fn cookie_without_crlf_is_malformed() {
        let tpdu = b"\x16\xe0\x00\x00\x00\x00\x00Cookie: mstshash=x";
        assert!(matches!(
            ConnectionRequest::parse(tpdu),
            Err(RdpError::Malformed {
                field: "x224.cookie",
                ..
            })
        ));
    }

    #[test]
    fn connection_confirm_forms() {
        // rdp-to-ssl.pcap frame 6: RDP_NEG_RSP selectedProtocol 0x2 (HYBRID).
        let b = hex("030000130ed000001234000201080002000000");
        let (t, _) = Tpkt::parse(&b).unwrap();
        let cc = ConnectionConfirm::parse(t.payload).unwrap();
        assert_eq!(cc.negotiation, Negotiation::Selected(2));
        // rdp-proprietary-encryption.pcap frame 5: failureCode 2.
        let fail = hex("0ed000001234000300080002000000");
        assert_eq!(
            ConnectionConfirm::parse(&fail).unwrap().negotiation,
            Negotiation::Failed(2)
        );
        let legacy = hex("06 d0 00 00 12 34 00");
        assert_eq!(
            ConnectionConfirm::parse(&legacy).unwrap().negotiation,
            Negotiation::Legacy
        );
        // rdp-invalid-length.pcap's confirm: a response with length 9.
        let bad = hex("0e d0 00 00 12 34 00 02 00 09 00 01 00 00 00");
        assert!(ConnectionConfirm::parse(&bad).is_err());
    }
}
