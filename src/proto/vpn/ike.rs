//! IKEv1 and IKEv2 on UDP 500 and 4500, and ESP in UDP on 4500.
//!
//! - Header: RFC 7296 §3.1 (IKEv2) and RFC 2408 §3.1 (ISAKMP, IKEv1) share
//!   one 28-byte layout: initiator SPI, responder SPI, next payload,
//!   version, exchange type, flags, message id, length.
//! - Port 4500 (RFC 3948 §2.2): IKE messages follow a 4-byte zero non-ESP
//!   marker; anything else is ESP (its SPI is never zero, and SPIs 1-255
//!   are reserved, RFC 4303 §2.1), or a one-byte 0xFF NAT keepalive (§2.3).
//! - IKEv1 aggressive mode sends the identification payloads in clear
//!   (RFC 2409 §5.4); their layout is RFC 2407 §4.6.2. IKEv2 always
//!   encrypts IDi/IDr (RFC 7296 §3.5 inside §3.14), so IKEv2 shows none.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{wire_text, AppProto, AppSummary, FlowCx, Probe};

use super::{be16, be32, hex8, VpnRecord, MAX_IDENTITY_LEN};

pub const PORT: u16 = 500;
pub const NAT_T_PORT: u16 = 4500;
pub const HEADER_LEN: usize = 28;
/// RFC 3948 §2.2: the non-ESP marker before IKE on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// RFC 3948 §2.3.
pub const NAT_KEEPALIVE: u8 = 0xff;
/// ESP header: SPI and sequence number (RFC 4303 §2).
pub const ESP_HEADER_LEN: usize = 8;
/// SPIs below this are reserved (RFC 4303 §2.1).
pub const ESP_SPI_MIN: u32 = 256;

/// Payload types carrying identities: IKEv1 ID (RFC 2408 §3.1), IKEv2
/// IDi and IDr (RFC 7296 §3.2).
pub const PAYLOAD_ID_V1: u8 = 5;
pub const PAYLOAD_IDI: u8 = 35;
pub const PAYLOAD_IDR: u8 = 36;
/// IKEv1 flags: the E(ncryption) bit (RFC 2408 §3.1).
pub const FLAG_V1_ENCRYPTED: u8 = 0x01;
/// At most this many payloads are walked per message.
const MAX_PAYLOADS: usize = 32;

mod field {
    pub const INITIATOR_SPI: usize = 0;
    pub const RESPONDER_SPI: usize = 8;
    pub const NEXT_PAYLOAD: usize = 16;
    pub const VERSION: usize = 17;
    pub const EXCHANGE_TYPE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const LENGTH: usize = 24;
}

/// Why bytes are not an IKE message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeError {
    Short(usize),
    Version(u8),
    ExchangeType(u8),
    /// The header's length field against the datagram's.
    Length {
        field: u32,
        datagram: usize,
    },
    ZeroInitiatorSpi,
}

impl std::fmt::Display for IkeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IkeError::Short(n) => write!(f, "{n} bytes, header needs 28"),
            IkeError::Version(v) => write!(f, "version 0x{v:02x} at offset 17 is not 1.x or 2.x"),
            IkeError::ExchangeType(t) => write!(f, "exchange type {t} at offset 18 is unknown"),
            IkeError::Length { field, datagram } => {
                write!(f, "length {field} at offset 24, datagram has {datagram}")
            }
            IkeError::ZeroInitiatorSpi => write!(f, "initiator SPI at offset 0 is zero"),
        }
    }
}

/// A checked view of one IKE message (after any non-ESP marker).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
}

impl<'a> Message<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, IkeError> {
        let header = buf.get(..HEADER_LEN).ok_or(IkeError::Short(buf.len()))?;
        let m = Message { buf };
        if !matches!(m.major_version(), 1 | 2) {
            return Err(IkeError::Version(
                header.get(field::VERSION).copied().unwrap_or(0),
            ));
        }
        if exchange_name(m.major_version(), m.exchange_type()).is_none() {
            return Err(IkeError::ExchangeType(m.exchange_type()));
        }
        let len = be32(buf, field::LENGTH).unwrap_or(0);
        // A message may be cut by the capture's snap length, never padded.
        if usize::try_from(len).map_or(true, |l| l < HEADER_LEN || l < buf.len()) {
            return Err(IkeError::Length {
                field: len,
                datagram: buf.len(),
            });
        }
        if header.get(..8) == Some(&[0u8; 8][..]) {
            return Err(IkeError::ZeroInitiatorSpi);
        }
        Ok(m)
    }

    pub fn major_version(&self) -> u8 {
        self.buf.get(field::VERSION).map_or(0, |v| v >> 4)
    }

    pub fn exchange_type(&self) -> u8 {
        self.buf.get(field::EXCHANGE_TYPE).copied().unwrap_or(0)
    }

    pub fn flags(&self) -> u8 {
        self.buf.get(field::FLAGS).copied().unwrap_or(0)
    }

    pub fn initiator_spi(&self) -> Option<String> {
        hex8(self.buf, field::INITIATOR_SPI)
    }

    /// The responder SPI, `None` while it is still zero.
    pub fn responder_spi(&self) -> Option<String> {
        let raw = self
            .buf
            .get(field::RESPONDER_SPI..field::RESPONDER_SPI + 8)?;
        if raw.iter().all(|&b| b == 0) {
            None
        } else {
            hex8(self.buf, field::RESPONDER_SPI)
        }
    }

    /// The identities in the clear payloads: IKEv1 ID payloads unless the
    /// message is encrypted, IKEv2 IDi/IDr if any appear unencrypted.
    pub fn identities(&self, out: &mut dyn FnMut(String)) {
        if self.major_version() == 1 && self.flags() & FLAG_V1_ENCRYPTED != 0 {
            return;
        }
        let mut next = self.buf.get(field::NEXT_PAYLOAD).copied().unwrap_or(0);
        let mut at = HEADER_LEN;
        // Payload chain: generic header of next type, reserved, length
        // (RFC 2408 §3.2, RFC 7296 §3.2).
        for _ in 0..MAX_PAYLOADS {
            if next == 0 {
                return;
            }
            let Some(len) = be16(self.buf, at + 2).map(usize::from) else {
                return;
            };
            let Some(body) = (len >= 4).then(|| self.buf.get(at + 4..at + len)).flatten() else {
                return;
            };
            let id = match (self.major_version(), next) {
                // ID type, then 3 bytes (v1: protocol and port; v2:
                // reserved), then the data.
                (1, PAYLOAD_ID_V1) | (2, PAYLOAD_IDI | PAYLOAD_IDR) => {
                    match (body.first(), body.get(4..)) {
                        (Some(&t), Some(data)) => identity(t, data),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(id) = id {
                out(id);
            }
            next = self.buf.get(at).copied().unwrap_or(0);
            at += len;
        }
    }
}

/// `type:value` for an identification payload's data (ID types: RFC 2407
/// §4.6.2.1; IKEv2 uses the same numbers, RFC 7296 §3.5).
fn identity(id_type: u8, data: &[u8]) -> Option<String> {
    let text = |name: &str| Some(format!("{name}:{}", wire_text(data, MAX_IDENTITY_LEN)));
    let hex = |name: &str| {
        let mut s = format!("{name}:");
        for &b in data.iter().take(MAX_IDENTITY_LEN / 2) {
            s.push(char::from(crate::proto::hex::nibble(b >> 4)));
            s.push(char::from(crate::proto::hex::nibble(b)));
        }
        Some(s)
    };
    match id_type {
        1 => {
            let a: [u8; 4] = data.try_into().ok()?;
            Some(format!("ipv4:{}", Ipv4Addr::from(a)))
        }
        2 => text("fqdn"),
        3 => text("user_fqdn"),
        5 => {
            let a: [u8; 16] = data.try_into().ok()?;
            Some(format!("ipv6:{}", Ipv6Addr::from(a)))
        }
        9 => hex("der_asn1_dn"),
        11 => hex("key_id"),
        // Subnets and ranges are quick-mode proxy ids, not identities.
        _ => None,
    }
}

/// Exchange type names (IKEv1: RFC 2408 §3.1, RFC 2409 §5.5 and §5.6;
/// IKEv2: RFC 7296 §3.1, RFC 5723 §4.1, RFC 9242 §3).
pub fn exchange_name(major: u8, t: u8) -> Option<&'static str> {
    Some(match (major, t) {
        (1, 0) => "None",
        (1, 1) => "Base",
        (1, 2) => "Identity Protection",
        (1, 3) => "Authentication Only",
        (1, 4) => "Aggressive",
        (1, 5) => "Informational",
        (1, 32) => "Quick Mode",
        (1, 33) => "New Group Mode",
        (2, 34) => "IKE_SA_INIT",
        (2, 35) => "IKE_AUTH",
        (2, 36) => "CREATE_CHILD_SA",
        (2, 37) => "INFORMATIONAL",
        (2, 38) => "IKE_SESSION_RESUME",
        (2, 43) => "IKE_INTERMEDIATE",
        _ => return None,
    })
}

/// What one datagram of an IKE port holds.
#[derive(Debug, Clone, Copy)]
pub enum Datagram<'a> {
    Ike(Message<'a>),
    Esp { spi: u32 },
    Keepalive,
}

/// Split a datagram by port (RFC 3948 §2.2 on 4500).
pub fn classify<'a>(cx: &FlowCx, payload: &'a [u8]) -> Result<Datagram<'a>, IkeError> {
    if !cx.has_port(NAT_T_PORT) {
        return Message::parse(payload).map(Datagram::Ike);
    }
    if payload == [NAT_KEEPALIVE] {
        return Ok(Datagram::Keepalive);
    }
    if payload.get(..4) == Some(&NON_ESP_MARKER[..]) {
        return Message::parse(payload.get(4..).unwrap_or(&[])).map(Datagram::Ike);
    }
    match be32(payload, 0) {
        Some(spi) if spi >= ESP_SPI_MIN && payload.len() >= ESP_HEADER_LEN => {
            Ok(Datagram::Esp { spi })
        }
        _ => Err(IkeError::Short(payload.len())),
    }
}

/// IKE ports only: a well-formed header (or ESP on 4500) is a match.
pub fn probe(cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    if !cx.has_port(PORT) && !cx.has_port(NAT_T_PORT) {
        return Probe::NoMatch;
    }
    match classify(cx, bytes) {
        Ok(Datagram::Keepalive) => Probe::NeedMore,
        Ok(_) => Probe::Match,
        Err(_) => Probe::NoMatch,
    }
}

/// One flow's IKE state: everything lives in the record.
#[derive(Debug, Default)]
pub struct IkeState;

impl IkeState {
    pub fn new() -> IkeState {
        IkeState
    }

    pub fn on_datagram(
        &mut self,
        cx: &FlowCx,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        summary.set_proto(AppProto::Ike);
        let rec = summary.vpn.get_or_insert_with(|| VpnRecord::new("ike"));
        match classify(cx, payload) {
            Ok(Datagram::Ike(m)) => {
                rec.protocol = "ike";
                on_message(rec, &m);
            }
            Ok(Datagram::Esp { .. }) => {
                if rec.messages == 0 && rec.esp_packets == 0 {
                    rec.protocol = "esp-in-udp";
                }
                rec.esp_packets = rec.esp_packets.saturating_add(1);
            }
            Ok(Datagram::Keepalive) => {}
            Err(e) => {
                rec.saw_malformed();
                summary.anomalies.push(
                    "ike",
                    "malformed_message",
                    Some(dir),
                    Some(&e.to_string()),
                    ts,
                );
            }
        }
    }
}

fn on_message(rec: &mut VpnRecord, m: &Message<'_>) {
    let major = m.major_version();
    rec.saw(exchange_name(major, m.exchange_type()).unwrap_or("unknown"));
    if rec.ike_version.is_none() {
        rec.ike_version = Some(major);
        rec.exchange_type = Some(m.exchange_type());
        rec.initiator_spi = m.initiator_spi();
    }
    if rec.responder_spi.is_none() {
        rec.responder_spi = m.responder_spi();
    }
    m.identities(&mut |id| rec.add_identity(id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::vpn::testdata::payloads;

    fn cx(port: u16) -> FlowCx {
        FlowCx {
            src_port: port,
            dst_port: port,
            ip_proto: 17,
        }
    }

    /// Corelight's aggressive-mode capture: tshark shows SPIs
    /// e47a591f78c99d7f / a00b8ef0ea9ff883, exchange type 4 then 32, and
    /// ID_IPV4_ADDR 192.168.12.2 in both aggressive messages.
    #[test]
    fn aggressive_mode_identities_and_spis() {
        let Some(pkts) =
            payloads("zeek-spicy-ipsec/traces/ipsec-ikev1-isakmp-aggressive-mode.pcap")
        else {
            return;
        };
        let mut rec = VpnRecord::new("ike");
        for (_, _, p) in &pkts {
            let Ok(Datagram::Ike(m)) = classify(&cx(500), p) else {
                panic!("not IKE: {p:02x?}");
            };
            on_message(&mut rec, &m);
        }
        assert_eq!(rec.ike_version, Some(1));
        assert_eq!(rec.exchange_type, Some(4));
        assert_eq!(rec.initiator_spi.as_deref(), Some("e47a591f78c99d7f"));
        assert_eq!(rec.responder_spi.as_deref(), Some("a00b8ef0ea9ff883"));
        assert_eq!(rec.message_types, ["Aggressive", "Quick Mode"]);
        assert_eq!(rec.identities, ["ipv4:192.168.12.2"]);
    }

    /// Zeek's "payload bad length" and "zero length" traces must not
    /// panic; tshark still reads the first one's header (exchange type 2).
    #[test]
    fn hostile_traces_parse_without_panic() {
        for t in [
            "ipsec-ikev1-payload-bad-length.pcap",
            "ipsec-ikev1-zero-length.pcap",
        ] {
            let Some(pkts) = payloads(&format!("zeek-spicy-ipsec/traces/{t}")) else {
                return;
            };
            for (_, _, p) in &pkts {
                if let Ok(Datagram::Ike(m)) = classify(&cx(500), p) {
                    assert_eq!(m.exchange_type(), 2);
                    m.identities(&mut |_| {});
                }
            }
        }
    }

    #[test]
    fn nat_t_port_splits_ike_esp_and_keepalive() {
        let mut ike = vec![0u8; 4 + HEADER_LEN];
        ike[4] = 1; // initiator SPI
        ike[4 + 17] = 0x20;
        ike[4 + 18] = 34;
        ike[4 + 27] = 28;
        assert!(matches!(classify(&cx(4500), &ike), Ok(Datagram::Ike(_))));
        assert!(matches!(
            classify(&cx(4500), &[0, 0, 1, 0, 0, 0, 0, 1, 0xaa]),
            Ok(Datagram::Esp { spi: 256 })
        ));
        assert!(matches!(
            classify(&cx(4500), &[0xff]),
            Ok(Datagram::Keepalive)
        ));
        assert_eq!(
            probe(&cx(4500), Direction::ToServer, &[0, 0, 0, 9, 0, 0, 0, 1]),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&cx(53), Direction::ToServer, &ike[4..]),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&cx(500), Direction::ToServer, &ike[4..]),
            Probe::Match
        );
    }
}
