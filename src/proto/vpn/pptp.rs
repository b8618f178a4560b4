//! PPTP's control connection on TCP 1723 (RFC 2637): the control message
//! types, and the host name and vendor the client announces.
//!
//! Every control message (§2) starts with its length (2 bytes), the PPTP
//! message type (1: control), the magic cookie 0x1A2B3C4D, the control
//! message type and a reserved word. Start-Control-Connection-Request and
//! -Reply (§2.1, §2.2) carry a 64-byte host name at offset 28 and a
//! 64-byte vendor string at offset 92.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppProto, AppSummary, FlowCx, Probe, Progress};

use super::{be16, be32, name_field, VpnRecord};

pub const PORT: u16 = 1723;
pub const MAGIC_COOKIE: u32 = 0x1A2B_3C4D;
pub const MESSAGE_TYPE_CONTROL: u16 = 1;
pub const HEADER_LEN: usize = 12;
/// Start-Control-Connection-Request (§2.1) and its length.
pub const SCCRQ: u16 = 1;
pub const SCCRQ_LEN: usize = 156;
const NAME_LEN: usize = 64;

mod field {
    pub const LENGTH: usize = 0;
    pub const MESSAGE_TYPE: usize = 2;
    pub const COOKIE: usize = 4;
    pub const CONTROL_TYPE: usize = 8;
    pub const HOST_NAME: usize = 28;
    pub const VENDOR: usize = 92;
}

/// Control message types (§2).
pub fn control_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "Start-Control-Connection-Request",
        2 => "Start-Control-Connection-Reply",
        3 => "Stop-Control-Connection-Request",
        4 => "Stop-Control-Connection-Reply",
        5 => "Echo-Request",
        6 => "Echo-Reply",
        7 => "Outgoing-Call-Request",
        8 => "Outgoing-Call-Reply",
        9 => "Incoming-Call-Request",
        10 => "Incoming-Call-Reply",
        11 => "Incoming-Call-Connected",
        12 => "Call-Clear-Request",
        13 => "Call-Disconnect-Notify",
        14 => "WAN-Error-Notify",
        15 => "Set-Link-Info",
        _ => return None,
    })
}

/// Why bytes are not a PPTP control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PptpError {
    Short(usize),
    Cookie(u32),
    Length(u16),
    ControlType(u16),
}

impl std::fmt::Display for PptpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PptpError::Short(n) => write!(f, "{n} bytes, header needs 12"),
            PptpError::Cookie(c) => write!(f, "magic cookie 0x{c:08x} at offset 4"),
            PptpError::Length(l) => write!(f, "length {l} at offset 0 is below 12"),
            PptpError::ControlType(t) => write!(f, "control message type {t} at offset 8"),
        }
    }
}

/// A checked view of one PPTP message (its whole length present).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parse the message at the start of `buf`; `Ok(None)` when more
    /// bytes are needed. Returns the message and its length.
    pub fn parse(buf: &'a [u8]) -> Result<Option<(Message<'a>, usize)>, PptpError> {
        let (Some(len), Some(cookie)) = (be16(buf, field::LENGTH), be32(buf, field::COOKIE)) else {
            return Ok(None);
        };
        if cookie != MAGIC_COOKIE {
            return Err(PptpError::Cookie(cookie));
        }
        let n = usize::from(len);
        if n < HEADER_LEN {
            return Err(PptpError::Length(len));
        }
        let Some(msg) = buf.get(..n) else {
            return Ok(None);
        };
        Ok(Some((Message { buf: msg }, n)))
    }

    pub fn is_control(&self) -> bool {
        be16(self.buf, field::MESSAGE_TYPE) == Some(MESSAGE_TYPE_CONTROL)
    }

    pub fn control_type(&self) -> u16 {
        be16(self.buf, field::CONTROL_TYPE).unwrap_or(0)
    }

    /// Host name and vendor of an SCCRQ (§2.1).
    pub fn names(&self) -> Option<(Option<String>, Option<String>)> {
        if self.control_type() != SCCRQ {
            return None;
        }
        let host = self
            .buf
            .get(field::HOST_NAME..field::HOST_NAME + NAME_LEN)?;
        let vendor = self.buf.get(field::VENDOR..field::VENDOR + NAME_LEN)?;
        Some((name_field(host), name_field(vendor)))
    }
}

/// The magic cookie at offset 4 is proof on any port.
pub fn probe(_cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    let want = MAGIC_COOKIE.to_be_bytes();
    let have = bytes.get(field::COOKIE..).unwrap_or(&[]);
    let n = have.len().min(want.len());
    if have.get(..n) != want.get(..n) {
        return Probe::NoMatch;
    }
    if n < want.len() {
        Probe::NeedMore
    } else {
        Probe::Match
    }
}

/// One flow's PPTP state: where the next message starts per direction.
#[derive(Debug, Default)]
pub struct PptpState {
    next: [usize; 2],
}

impl PptpState {
    pub fn new() -> PptpState {
        PptpState::default()
    }

    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        summary.set_proto(AppProto::Pptp);
        let rec = summary.vpn.get_or_insert_with(|| VpnRecord::new("pptp"));
        let d = dir.index();
        loop {
            let at = self.next.get(d).copied().unwrap_or(usize::MAX);
            let rest = prefix.get(at..).unwrap_or(&[]);
            match Message::parse(rest) {
                Ok(Some((m, n))) => {
                    let name = if m.is_control() {
                        control_name(m.control_type()).unwrap_or("unknown")
                    } else {
                        "management"
                    };
                    rec.saw(name);
                    if let Some((host, vendor)) = m.names() {
                        rec.host_name = rec.host_name.take().or(host);
                        rec.vendor = rec.vendor.take().or(vendor);
                    }
                    if let Some(x) = self.next.get_mut(d) {
                        *x = at + n;
                    }
                }
                Ok(None) => return Progress::NeedMore,
                Err(e) => {
                    rec.saw_malformed();
                    summary.anomalies.push(
                        "pptp",
                        "malformed_message",
                        Some(dir),
                        Some(&format!("{e} (stream offset {at})")),
                        ts,
                    );
                    return Progress::Done;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::vpn::testdata::payloads;

    /// nDPI's pptp.pcap: tshark reads an SCCRQ with host name "local" and
    /// vendor "cananian" (frame 4: `009c00011a2b3c4d0001...`), then SCCRP, OCRQ, OCRP,
    /// Set-Link-Info twice, Call-Clear-Request, Call-Disconnect-Notify.
    #[test]
    fn ndpi_capture_messages_and_host_name() {
        let Some(pkts) = payloads("ndpi/pcap/pptp.pcap") else {
            return;
        };
        let cx = FlowCx {
            src_port: 41366,
            dst_port: PORT,
            ip_proto: 6,
        };
        let mut st = PptpState::new();
        let mut sum = AppSummary::default();
        let mut streams: [Vec<u8>; 2] = Default::default();
        let mut last: [&[u8]; 2] = [&[], &[]];
        for (sp, _, p) in &pkts {
            assert_ne!(probe(&cx, Direction::ToServer, p), Probe::NoMatch);
            let dir = if *sp == PORT {
                Direction::ToClient
            } else {
                Direction::ToServer
            };
            // Frame 19 retransmits frame 16.
            if last[dir.index()] == p.as_slice() {
                continue;
            }
            last[dir.index()] = p;
            streams[dir.index()].extend_from_slice(p);
            st.on_stream(dir, &streams[dir.index()], Timestamp(0), &mut sum);
        }
        let r = sum.vpn.unwrap();
        assert_eq!(r.host_name.as_deref(), Some("local"));
        assert_eq!(r.vendor.as_deref(), Some("cananian"));
        assert_eq!(
            r.message_types,
            [
                "Start-Control-Connection-Request",
                "Start-Control-Connection-Reply",
                "Outgoing-Call-Request",
                "Outgoing-Call-Reply",
                "Set-Link-Info",
                "Call-Clear-Request",
                "Call-Disconnect-Notify",
            ]
        );
        assert_eq!(r.malformed, 0);
        assert_eq!(
            probe(&cx, Direction::ToServer, b"\x00\x9c\x00\x01\x1a\x2b"),
            Probe::NeedMore
        );
    }
}
