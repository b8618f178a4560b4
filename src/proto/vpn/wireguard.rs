//! WireGuard over UDP (whitepaper "WireGuard: Next Generation Kernel
//! Network Tunnel", §5.4): four message types, each with a fixed layout.
//!
//! Every message starts with a type byte and three reserved zero bytes
//! (§5.4.2); the handshake messages have exact sizes (initiation 148,
//! response 92, cookie reply 64) and transport data is at least 32 bytes
//! (header 16, then the AEAD ciphertext of a payload padded to 16 bytes,
//! §5.4.6, plus its 16-byte tag). The padding is not checked: the Linux
//! and Go implementations pad no further than the tunnel MTU, so
//! full-size packets are not aligned (two in Corelight's wireguard.pcap,
//! UDP payload 1452). Integers are little-endian (§5.4).

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppProto, AppSummary, FlowCx, Probe};

use super::{le32, VpnRecord, MAX_IDS};

/// Message types (§5.4.2, §5.4.3, §5.4.7, §5.4.6).
pub const HANDSHAKE_INITIATION: u8 = 1;
pub const HANDSHAKE_RESPONSE: u8 = 2;
pub const COOKIE_REPLY: u8 = 3;
pub const TRANSPORT_DATA: u8 = 4;

/// Exact sizes of the handshake messages and the smallest transport data.
pub const INITIATION_LEN: usize = 148;
pub const RESPONSE_LEN: usize = 92;
pub const COOKIE_REPLY_LEN: usize = 64;
pub const TRANSPORT_MIN_LEN: usize = 32;

/// WireGuard's customary port, and Tailscale's default (which speaks
/// WireGuard's transport messages on it).
pub const PORT: u16 = 51820;
pub const TAILSCALE_PORT: u16 = 41641;

/// Tailscale's discovery messages share its WireGuard flows: they start
/// with "TS" and U+1F4AC in UTF-8 (Tailscale `disco/disco.go`, `Magic`).
pub const TAILSCALE_DISCO_MAGIC: &[u8] = b"TS\xf0\x9f\x92\xac";

/// Field offsets of the messages.
mod field {
    pub const TYPE: usize = 0;
    pub const RESERVED: core::ops::Range<usize> = 1..4;
    /// Initiation and response: the sender's index.
    pub const SENDER: usize = 4;
    /// Response: the receiver's index.
    pub const RESPONSE_RECEIVER: usize = 8;
    /// Cookie reply and transport data: the receiver's index.
    pub const RECEIVER: usize = 4;
}

/// Why a datagram is not a WireGuard message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgError {
    UnknownType(u8),
    /// A reserved byte (offset 1-3) is not zero.
    Reserved,
    /// The length does not fit the message type.
    Length {
        kind: u8,
        len: usize,
    },
}

impl std::fmt::Display for WgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WgError::UnknownType(t) => write!(f, "message type {t} at offset 0 is not 1-4"),
            WgError::Reserved => write!(f, "reserved bytes at offsets 1-3 are not zero"),
            WgError::Length { kind, len } => {
                write!(f, "{len} bytes do not fit message type {kind}")
            }
        }
    }
}

/// A checked view of one WireGuard message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
}

impl<'a> Message<'a> {
    /// Check type, reserved bytes and length (§5.4).
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, WgError> {
        let kind = buf.get(field::TYPE).copied().unwrap_or(0);
        let len = buf.len();
        let len_ok = match kind {
            HANDSHAKE_INITIATION => len == INITIATION_LEN,
            HANDSHAKE_RESPONSE => len == RESPONSE_LEN,
            COOKIE_REPLY => len == COOKIE_REPLY_LEN,
            TRANSPORT_DATA => len >= TRANSPORT_MIN_LEN,
            other => return Err(WgError::UnknownType(other)),
        };
        if !len_ok {
            return Err(WgError::Length { kind, len });
        }
        if buf.get(field::RESERVED) != Some(&[0, 0, 0][..]) {
            return Err(WgError::Reserved);
        }
        Ok(Message { buf })
    }

    pub fn kind(&self) -> u8 {
        self.buf.get(field::TYPE).copied().unwrap_or(0)
    }

    /// The sender's index (initiation and response only).
    pub fn sender(&self) -> Option<u32> {
        match self.kind() {
            HANDSHAKE_INITIATION | HANDSHAKE_RESPONSE => le32(self.buf, field::SENDER),
            _ => None,
        }
    }

    /// The receiver's index (all but the initiation).
    pub fn receiver(&self) -> Option<u32> {
        match self.kind() {
            HANDSHAKE_RESPONSE => le32(self.buf, field::RESPONSE_RECEIVER),
            COOKIE_REPLY | TRANSPORT_DATA => le32(self.buf, field::RECEIVER),
            _ => None,
        }
    }
}

/// Name of a message type in the record.
pub fn type_name(kind: u8) -> &'static str {
    match kind {
        HANDSHAKE_INITIATION => "handshake_initiation",
        HANDSHAKE_RESPONSE => "handshake_response",
        COOKIE_REPLY => "cookie_reply",
        _ => "transport_data",
    }
}

/// A handshake message is proof; transport data alone only on the
/// WireGuard ports (its header is 4 bytes of structure).
pub fn probe(cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    if bytes.starts_with(TAILSCALE_DISCO_MAGIC) && cx.has_port(TAILSCALE_PORT) {
        return Probe::NeedMore;
    }
    match Message::parse(bytes) {
        Ok(m) if m.kind() != TRANSPORT_DATA => Probe::Match,
        Ok(_) if cx.has_port(PORT) || cx.has_port(TAILSCALE_PORT) => Probe::Match,
        Ok(_) => Probe::NeedMore,
        Err(_) => Probe::NoMatch,
    }
}

/// One flow's WireGuard state: everything lives in the record.
#[derive(Debug, Default)]
pub struct WireGuardState;

impl WireGuardState {
    pub fn new() -> WireGuardState {
        WireGuardState
    }

    pub fn on_datagram(
        &mut self,
        _dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        let rec = summary
            .vpn
            .get_or_insert_with(|| VpnRecord::new("wireguard"));
        if payload.starts_with(TAILSCALE_DISCO_MAGIC) {
            rec.saw("tailscale_disco");
            summary.set_proto(AppProto::WireGuard);
            return;
        }
        match Message::parse(payload) {
            Ok(m) => {
                rec.saw(type_name(m.kind()));
                if let Some(s) = m.sender() {
                    let s = format!("0x{s:08x}");
                    if rec.sender_indexes.len() < MAX_IDS && !rec.sender_indexes.contains(&s) {
                        rec.sender_indexes.push(s);
                    }
                }
            }
            Err(e) => {
                rec.saw_malformed();
                summary.anomalies.push(
                    "wireguard",
                    "malformed_message",
                    None,
                    Some(&e.to_string()),
                    ts,
                );
            }
        }
        summary.set_proto(AppProto::WireGuard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::vpn::testdata::payloads;

    fn cx(port: u16) -> FlowCx {
        FlowCx {
            src_port: 45965,
            dst_port: port,
            ip_proto: 17,
        }
    }

    #[test]
    fn sizes_and_reserved_bytes_are_checked() {
        let mut init = vec![0u8; INITIATION_LEN];
        init[0] = 1;
        assert!(Message::parse(&init).is_ok());
        assert_eq!(
            Message::parse(&init[..147]).err(),
            Some(WgError::Length { kind: 1, len: 147 })
        );
        init[2] = 1;
        assert_eq!(Message::parse(&init).err(), Some(WgError::Reserved));
        let mut data = vec![0u8; 48];
        data[0] = 4;
        assert!(Message::parse(&data).is_ok());
        assert!(Message::parse(&data[..31]).is_err());
        assert_eq!(Message::parse(&[]).err(), Some(WgError::UnknownType(0)));
        assert_eq!(
            probe(&cx(9999), Direction::ToServer, &data),
            Probe::NeedMore
        );
        assert_eq!(probe(&cx(PORT), Direction::ToServer, &data), Probe::Match);
    }

    /// Corelight's wireguard.pcap: tshark 4.0 reads `wg.sender` 0xc4632862
    /// (frame 3, initiation) and 0x0ae66888 (frame 4, response, receiver
    /// 0xc4632862); all 172 WireGuard frames are types 1, 2 or 4.
    #[test]
    fn corelight_capture_indexes_match_tshark() {
        let Some(pkts) = payloads("zeek-spicy-wireguard/traces/wireguard.pcap") else {
            return;
        };
        let mut senders = Vec::new();
        let mut kinds = [0usize; 5];
        for (_, _, p) in &pkts {
            let Ok(m) = Message::parse(p) else { continue };
            kinds[usize::from(m.kind())] += 1;
            if let Some(s) = m.sender() {
                senders.push(s);
            }
            if m.kind() == HANDSHAKE_RESPONSE {
                assert_eq!(m.receiver(), Some(0xc463_2862));
            }
        }
        assert_eq!(senders, [0xc463_2862, 0x0ae6_6888]);
        assert_eq!(kinds[1] + kinds[2] + kinds[4], 172);
        assert_eq!(kinds[3], 0);
    }
}
