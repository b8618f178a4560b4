//! L2TP version 2 over UDP 1701 (RFC 2661): the control message types of
//! the tunnel, and the peer's host and vendor names from the control
//! connection's setup (SCCRQ/SCCRP).
//!
//! Header (§3.1): flags and version (T, L, S, O, P bits, version 2), then
//! the optional length, tunnel and session ids, optional Ns/Nr and offset.
//! Control messages set T, L and S and clear O and P; their body is a list
//! of AVPs (§4.1) whose first is the Message Type AVP (§4.4.1), or nothing
//! at all (a zero-length body acknowledgement, ZLB, §5.8).

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppProto, AppSummary, FlowCx, Probe};

use super::{be16, name_field, VpnRecord};

pub const PORT: u16 = 1701;
pub const VERSION: u16 = 2;

/// Header bits (§3.1).
const FLAG_TYPE: u16 = 0x8000;
const FLAG_LENGTH: u16 = 0x4000;
const FLAG_SEQUENCE: u16 = 0x0800;
const FLAG_OFFSET: u16 = 0x0200;
const FLAG_PRIORITY: u16 = 0x0100;
const VERSION_MASK: u16 = 0x000f;
/// A control header: flags, length, tunnel, session, Ns, Nr.
const CONTROL_HEADER_LEN: usize = 12;

/// AVP header (§4.1): flags and 10-bit length, vendor id, attribute type.
const AVP_HEADER_LEN: usize = 6;
const AVP_LENGTH_MASK: u16 = 0x03ff;
/// The AVP's H bit: its value is hidden (§4.3).
const AVP_HIDDEN: u16 = 0x4000;
/// Attribute types (§4.4): Message Type, Host Name, Vendor Name.
const ATTR_MESSAGE_TYPE: u16 = 0;
const ATTR_HOST_NAME: u16 = 7;
const ATTR_VENDOR_NAME: u16 = 8;
/// At most this many AVPs are walked per message.
const MAX_AVPS: usize = 32;

/// Control message types (§3.2).
pub fn message_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "SCCRQ",
        2 => "SCCRP",
        3 => "SCCCN",
        4 => "StopCCN",
        6 => "HELLO",
        7 => "OCRQ",
        8 => "OCRP",
        9 => "OCCN",
        10 => "ICRQ",
        11 => "ICRP",
        12 => "ICCN",
        14 => "CDN",
        15 => "WEN",
        16 => "SLI",
        _ => return None,
    })
}

/// Why a datagram is not L2TPv2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2tpError {
    Short(usize),
    Version(u16),
    /// A control message without L and S, or with O or P (§3.1).
    ControlFlags(u16),
    Length {
        field: u16,
        datagram: usize,
    },
    /// The first AVP is not a known Message Type.
    MessageType,
}

impl std::fmt::Display for L2tpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            L2tpError::Short(n) => write!(f, "{n} bytes, header needs more"),
            L2tpError::Version(v) => write!(f, "version {v} at offset 1 is not 2"),
            L2tpError::ControlFlags(b) => write!(f, "control flags 0x{b:04x} at offset 0"),
            L2tpError::Length { field, datagram } => {
                write!(f, "length {field} at offset 2, datagram has {datagram}")
            }
            L2tpError::MessageType => write!(f, "first AVP at offset 12 is no message type"),
        }
    }
}

/// A checked view of one L2TPv2 message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
}

impl<'a> Message<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, L2tpError> {
        let bits = be16(buf, 0).ok_or(L2tpError::Short(buf.len()))?;
        if bits & VERSION_MASK != VERSION {
            return Err(L2tpError::Version(bits & VERSION_MASK));
        }
        let m = Message { buf };
        if !m.is_control() {
            return Ok(m);
        }
        let must = FLAG_LENGTH | FLAG_SEQUENCE;
        if bits & must != must || bits & (FLAG_OFFSET | FLAG_PRIORITY) != 0 {
            return Err(L2tpError::ControlFlags(bits));
        }
        let len = be16(buf, 2).ok_or(L2tpError::Short(buf.len()))?;
        if usize::from(len) != buf.len() || buf.len() < CONTROL_HEADER_LEN {
            return Err(L2tpError::Length {
                field: len,
                datagram: buf.len(),
            });
        }
        if buf.len() > CONTROL_HEADER_LEN && m.message_type().is_none() {
            return Err(L2tpError::MessageType);
        }
        Ok(m)
    }

    pub fn is_control(&self) -> bool {
        be16(self.buf, 0).is_some_and(|b| b & FLAG_TYPE != 0)
    }

    /// The control message's type name; `None` for a ZLB or data.
    pub fn message_type(&self) -> Option<&'static str> {
        let (attr, value) = self.avps().next()?;
        if attr != ATTR_MESSAGE_TYPE {
            return None;
        }
        message_name(be16(value, 0)?)
    }

    /// Unhidden AVPs of a control message: (attribute type, value), IETF
    /// vendor only.
    pub fn avps(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let buf = self.buf;
        let mut at = CONTROL_HEADER_LEN;
        let mut n = 0usize;
        std::iter::from_fn(move || loop {
            n += 1;
            if n > MAX_AVPS {
                return None;
            }
            let bits = be16(buf, at)?;
            let len = usize::from(bits & AVP_LENGTH_MASK);
            let value = buf.get(at + AVP_HEADER_LEN..at.checked_add(len)?)?;
            let vendor = be16(buf, at + 2)?;
            let attr = be16(buf, at + 4)?;
            at += len;
            if vendor == 0 && bits & AVP_HIDDEN == 0 {
                return Some((attr, value));
            }
        })
    }
}

/// Port 1701 and a well-formed control message (or ZLB).
pub fn probe(cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    if !cx.has_port(PORT) {
        return Probe::NoMatch;
    }
    match Message::parse(bytes) {
        Ok(m) if m.is_control() => Probe::Match,
        Ok(_) => Probe::NeedMore,
        Err(_) => Probe::NoMatch,
    }
}

#[derive(Debug, Default)]
pub struct L2tpState;

impl L2tpState {
    pub fn new() -> L2tpState {
        L2tpState
    }

    pub fn on_datagram(
        &mut self,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        summary.set_proto(AppProto::L2tp);
        let rec = summary.vpn.get_or_insert_with(|| VpnRecord::new("l2tp"));
        match Message::parse(payload) {
            Ok(m) if m.is_control() => {
                rec.saw(m.message_type().unwrap_or("ZLB"));
                for (attr, value) in m.avps() {
                    let slot = match attr {
                        ATTR_HOST_NAME => &mut rec.host_name,
                        ATTR_VENDOR_NAME => &mut rec.vendor,
                        _ => continue,
                    };
                    if slot.is_none() {
                        *slot = name_field(value);
                    }
                }
            }
            Ok(_) => rec.saw("data"),
            Err(e) => {
                rec.saw_malformed();
                summary.anomalies.push(
                    "l2tp",
                    "malformed_message",
                    Some(dir),
                    Some(&e.to_string()),
                    ts,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    /// An SCCRQ laid out by RFC 2661 §3.1/§4.4 (the corpus has no L2TP
    /// capture): flags 0xc802, length 0x0037, tunnel 0, session 0, Ns 0,
    /// Nr 0; AVPs Message Type = 1, Protocol Version 1.0, Host Name
    /// "lns-gw", Vendor Name "xelerance".
    const SCCRQ: &str = concat!(
        "c8020037000000000000",
        "0000",
        "800800000000",
        "0001",
        "800800000002",
        "0100",
        "000c00000007",
        "6c6e732d6777",
        "000f00000008",
        "78656c6572616e6365"
    );

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 1701,
            dst_port: 1701,
            ip_proto: 17,
        }
    }

    #[test]
    fn sccrq_type_and_names() {
        let b = hex(SCCRQ);
        let m = Message::parse(&b).unwrap();
        assert_eq!(m.message_type(), Some("SCCRQ"));
        assert_eq!(probe(&cx(), Direction::ToServer, &b), Probe::Match);
        let mut s = AppSummary::default();
        L2tpState::new().on_datagram(Direction::ToServer, &b, Timestamp(0), &mut s);
        let r = s.vpn.unwrap();
        assert_eq!(r.host_name.as_deref(), Some("lns-gw"));
        assert_eq!(r.vendor.as_deref(), Some("xelerance"));
        // Length field off by one, and version 3.
        let mut bad = b.clone();
        bad[3] = 0x33;
        assert!(Message::parse(&bad).is_err());
        bad[1] = 0x03;
        assert_eq!(Message::parse(&bad).err(), Some(L2tpError::Version(3)));
        // A ZLB acknowledgement is the bare header.
        assert!(Message::parse(&hex("c802000c0001000000010001")).is_ok());
    }
}
