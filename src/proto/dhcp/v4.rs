//! Zero-copy view of a DHCPv4 message (RFC 2131 §2, the BOOTP layout of
//! RFC 951) and an iterator over its options (RFC 2132 §2).

use std::net::Ipv4Addr;

use super::DhcpError;

/// Fixed fields (RFC 2131 §2, figure 1).
pub mod field {
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const YIADDR: usize = 16;
    pub const CHADDR: usize = 28;
    pub const CHADDR_LEN: usize = 16;
    /// After op..file (236 bytes): the magic cookie, then the options.
    pub const COOKIE: usize = 236;
    pub const OPTIONS: usize = 240;
}

/// 99.130.83.99 (RFC 2131 §3, RFC 2132 §2).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// BOOTREQUEST / BOOTREPLY (RFC 2131 §2).
pub const OP_REQUEST: u8 = 1;
pub const OP_REPLY: u8 = 2;
/// htype 1: 10 Mb Ethernet (RFC 1700 "Hardware Type").
pub const HTYPE_ETHERNET: u8 = 1;
pub const ETHERNET_ADDR_LEN: usize = 6;

/// Option codes (RFC 2132).
pub mod option {
    pub const PAD: u8 = 0;
    pub const HOST_NAME: u8 = 12;
    pub const REQUESTED_IP: u8 = 50;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// A checked view of one DHCPv4 message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
}

impl<'a> Message<'a> {
    /// The fixed part and the magic cookie must be there (a BOOTP message
    /// without the cookie is not DHCP).
    pub fn new(buf: &'a [u8]) -> Result<Message<'a>, DhcpError> {
        let cookie = buf
            .get(field::COOKIE..field::OPTIONS)
            .ok_or(DhcpError::Truncated {
                field: "fixed fields",
                offset: buf.len(),
            })?;
        if cookie != MAGIC_COOKIE {
            return Err(DhcpError::Malformed {
                field: "magic cookie",
                offset: field::COOKIE,
                reason: "not 99.130.83.99",
            });
        }
        let op = buf.get(field::OP).copied().unwrap_or(0);
        if op != OP_REQUEST && op != OP_REPLY {
            return Err(DhcpError::Malformed {
                field: "op",
                offset: field::OP,
                reason: "neither BOOTREQUEST nor BOOTREPLY",
            });
        }
        Ok(Message { buf })
    }

    pub fn op(&self) -> u8 {
        self.buf.get(field::OP).copied().unwrap_or(0)
    }

    /// 'your' (client) IP address: the address a server offers or assigns.
    pub fn yiaddr(&self) -> Ipv4Addr {
        addr4(self.buf.get(field::YIADDR..field::YIADDR + 4)).unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// The client hardware address when it is an Ethernet MAC.
    pub fn ethernet_chaddr(&self) -> Option<&'a [u8]> {
        let htype = *self.buf.get(field::HTYPE)?;
        let hlen = usize::from(*self.buf.get(field::HLEN)?);
        if htype != HTYPE_ETHERNET || hlen != ETHERNET_ADDR_LEN {
            return None;
        }
        self.buf
            .get(field::CHADDR..field::CHADDR + ETHERNET_ADDR_LEN)
    }

    pub fn options(&self) -> Options<'a> {
        Options {
            buf: self.buf,
            at: field::OPTIONS,
        }
    }
}

/// Four bytes as an IPv4 address.
pub fn addr4(b: Option<&[u8]>) -> Option<Ipv4Addr> {
    let b: [u8; 4] = b?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Iterator over (code, value) options; ends at END, at the end of the
/// buffer, or at a truncated option (yielded as an error).
#[derive(Debug, Clone)]
pub struct Options<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u8, &'a [u8]), DhcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let code = *self.buf.get(self.at)?;
            match code {
                option::PAD => self.at += 1,
                option::END => {
                    self.at = self.buf.len();
                    return None;
                }
                _ => {
                    let at = self.at;
                    let len = self.buf.get(at + 1).map(|&l| usize::from(l));
                    let value = len.and_then(|l| self.buf.get(at + 2..at + 2 + l));
                    let Some(value) = value else {
                        self.at = self.buf.len();
                        return Some(Err(DhcpError::Truncated {
                            field: "option",
                            offset: at,
                        }));
                    };
                    self.at = at + 2 + value.len();
                    return Some(Ok((code, value)));
                }
            }
        }
    }
}

/// DHCP message type names (RFC 2132 §9.6; 9-18 from the IANA registry),
/// lowercase as Suricata's `dhcp_type`.
pub fn message_type_name(t: u8) -> std::borrow::Cow<'static, str> {
    let name = match t {
        1 => "discover",
        2 => "offer",
        3 => "request",
        4 => "decline",
        5 => "ack",
        6 => "nak",
        7 => "release",
        8 => "inform",
        9 => "forcerenew",
        10 => "leasequery",
        11 => "leaseunassigned",
        12 => "leaseunknown",
        13 => "leaseactive",
        _ => return t.to_string().into(),
    };
    name.into()
}
