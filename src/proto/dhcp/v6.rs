//! Zero-copy view of a DHCPv6 message (RFC 8415 §8 client/server format,
//! §9 relay format) and its options (§21).

use super::DhcpError;

/// msg-type (1) + transaction-id (3) (RFC 8415 §8).
pub const CLIENT_HEADER_LEN: usize = 4;
/// msg-type, hop-count, link-address (16), peer-address (16) (§9).
pub const RELAY_HEADER_LEN: usize = 34;
/// option-code (2) + option-len (2) (§21.1).
pub const OPTION_HEADER_LEN: usize = 4;

/// Message types (RFC 8415 §7.3).
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const REPLY: u8 = 7;
    pub const RELAY_FORW: u8 = 12;
    pub const RELAY_REPL: u8 = 13;
}

/// Option codes (RFC 8415 §21, RFC 4704 §4).
pub mod option {
    pub const CLIENTID: u16 = 1;
    pub const IA_NA: u16 = 3;
    pub const IAADDR: u16 = 5;
    pub const RELAY_MSG: u16 = 9;
    pub const VENDOR_CLASS: u16 = 16;
    pub const CLIENT_FQDN: u16 = 39;
}

/// DUID types (RFC 8415 §11.1).
pub mod duid {
    pub const LLT: u16 = 1;
    pub const LL: u16 = 3;
    /// Hardware type 1: Ethernet.
    pub const HW_ETHERNET: u16 = 1;
}

/// Most relay layers unwrapped (RFC 8415 §7.6: HOP_COUNT_LIMIT is 8).
pub const MAX_RELAY_DEPTH: usize = 8;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// A client/server message (relays unwrapped by [`Message::new`]).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub msg_type: u8,
    options: &'a [u8],
}

impl<'a> Message<'a> {
    /// The client/server message in `buf`, unwrapping relay layers through
    /// their Relay Message option (§9, §21.10).
    pub fn new(mut buf: &'a [u8]) -> Result<Message<'a>, DhcpError> {
        for _ in 0..=MAX_RELAY_DEPTH {
            let msg_type = *buf.first().ok_or(DhcpError::Truncated {
                field: "msg-type",
                offset: 0,
            })?;
            if msg_type == msg::RELAY_FORW || msg_type == msg::RELAY_REPL {
                let opts = buf.get(RELAY_HEADER_LEN..).ok_or(DhcpError::Truncated {
                    field: "relay header",
                    offset: buf.len(),
                })?;
                let inner = Options { buf: opts, at: 0 }
                    .filter_map(Result::ok)
                    .find(|(c, _)| *c == option::RELAY_MSG)
                    .map(|(_, v)| v)
                    .ok_or(DhcpError::Malformed {
                        field: "relay message",
                        offset: RELAY_HEADER_LEN,
                        reason: "no Relay Message option",
                    })?;
                buf = inner;
                continue;
            }
            let options = buf.get(CLIENT_HEADER_LEN..).ok_or(DhcpError::Truncated {
                field: "header",
                offset: buf.len(),
            })?;
            return Ok(Message { msg_type, options });
        }
        Err(DhcpError::Malformed {
            field: "relay message",
            offset: 0,
            reason: "more than 8 relay layers",
        })
    }

    pub fn options(&self) -> Options<'a> {
        Options {
            buf: self.options,
            at: 0,
        }
    }
}

/// Iterator over (code, value) options of one level.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Options<'a> {
    /// The options inside an option's value (IA_NA after its 12 fixed
    /// bytes, IAADDR after its 24).
    pub fn nested(value: &'a [u8], skip: usize) -> Options<'a> {
        Options {
            buf: value.get(skip..).unwrap_or(&[]),
            at: 0,
        }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u16, &'a [u8]), DhcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let at = self.at;
        let parsed = (|| {
            let code = be16(self.buf, at)?;
            let len = usize::from(be16(self.buf, at + 2)?);
            let v = self
                .buf
                .get(at + OPTION_HEADER_LEN..at + OPTION_HEADER_LEN + len)?;
            Some((code, v))
        })();
        match parsed {
            Some((code, v)) => {
                self.at = at + OPTION_HEADER_LEN + v.len();
                Some(Ok((code, v)))
            }
            None => {
                self.at = self.buf.len();
                Some(Err(DhcpError::Truncated {
                    field: "option",
                    offset: at,
                }))
            }
        }
    }
}

/// The Ethernet address in a DUID-LLT or DUID-LL (RFC 8415 §11.2, §11.4).
pub fn duid_mac(duid: &[u8]) -> Option<&[u8]> {
    let skip = match be16(duid, 0)? {
        duid::LLT => 8,
        duid::LL => 4,
        _ => return None,
    };
    if be16(duid, 2)? != duid::HW_ETHERNET {
        return None;
    }
    duid.get(skip..).filter(|m| m.len() == 6)
}

/// The first vendor-class-data item of a Vendor Class option (§21.16):
/// enterprise-number (4), then items each with a two-byte length.
pub fn vendor_class(value: &[u8]) -> Option<&[u8]> {
    let len = usize::from(be16(value, 4)?);
    value.get(6..6 + len)
}

/// The domain name of a Client FQDN option (RFC 4704 §4): a flags byte,
/// then a name in DNS wire format without compression, maybe partial (no
/// root label). Labels are joined with dots into `out`, at most 255 bytes.
pub fn fqdn(value: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let mut at = 1;
    while let Some(&len) = value.get(at) {
        if len == 0 {
            break;
        }
        // Labels of at most 63 bytes (RFC 1035 §2.3.4); no pointers.
        if len > 63 {
            return None;
        }
        let label = value.get(at + 1..at + 1 + usize::from(len))?;
        if !out.is_empty() {
            out.push(b'.');
        }
        out.extend_from_slice(label);
        if out.len() > 255 {
            return None;
        }
        at += 1 + usize::from(len);
    }
    Some(())
}

/// Message type names (RFC 8415 §7.3), lowercase with `_`.
pub fn message_type_name(t: u8) -> std::borrow::Cow<'static, str> {
    let name = match t {
        1 => "solicit",
        2 => "advertise",
        3 => "request",
        4 => "confirm",
        5 => "renew",
        6 => "rebind",
        7 => "reply",
        8 => "release",
        9 => "decline",
        10 => "reconfigure",
        11 => "information_request",
        12 => "relay_forw",
        13 => "relay_repl",
        _ => return t.to_string().into(),
    };
    name.into()
}
