//! VPN protocols: WireGuard, OpenVPN (UDP and TCP), IKE (with ESP in UDP on
//! the NAT-traversal port), L2TP and PPTP.
//!
//! Each protocol has its own module with a zero-copy view of its header
//! (checked constructor, `field` offsets, accessors), a `probe` for the
//! dispatcher and a small per-flow state that fills in the one owned
//! [`VpnRecord`] the flow keeps. Nothing here decrypts anything: what is
//! recorded is what the protocols send in clear (message types, session
//! ids and SPIs, IKEv1 aggressive-mode identities, PPTP/L2TP host names,
//! and the TLS handshake inside OpenVPN's control channel, handed to the
//! TLS dissector).

pub mod ike;
pub mod l2tp;
pub mod openvpn;
pub mod pptp;
pub mod wireguard;

use serde::Serialize;

use crate::proto::app::{capped, wire_text};

/// Most distinct message types a record lists.
pub const MAX_MESSAGE_TYPES: usize = 16;
/// Most ids (WireGuard sender indexes) a record lists.
pub const MAX_IDS: usize = 8;
/// Most identities (IKE ID payloads) a record keeps, and the longest.
pub const MAX_IDENTITIES: usize = 4;
pub const MAX_IDENTITY_LEN: usize = 128;
/// Longest host or vendor name kept (PPTP's fields are 64 bytes).
pub const MAX_NAME_LEN: usize = 64;

/// What a flow's VPN traffic showed (the `vpn` object of the events).
///
/// One record for all the VPN protocols: `protocol` says which, and each
/// protocol fills in only its own fields (documented per field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VpnRecord {
    /// `wireguard`, `openvpn`, `ike`, `l2tp`, `pptp` or `esp-in-udp`.
    pub protocol: &'static str,
    /// Distinct message types seen, in first-seen order (WireGuard message
    /// names, OpenVPN opcode names, IKE exchange type names, L2TP and PPTP
    /// control message names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub message_types: Vec<&'static str>,
    /// Messages of the protocol parsed (all datagrams or framed packets).
    pub messages: u32,
    /// Messages that did not parse as the protocol.
    #[serde(skip_serializing_if = "is_zero")]
    pub malformed: u32,
    /// WireGuard: the sender indexes of handshake initiations and
    /// responses, `0x` and 8 hex digits (tshark's `wg.sender`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sender_indexes: Vec<String>,
    /// OpenVPN: the first packet's opcode, as a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opcode: Option<u8>,
    /// OpenVPN: `plain`, `tls-auth`, `tls-crypt` or `tls-crypt-v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<&'static str>,
    /// OpenVPN tls-auth: length of the HMAC (20, 32 or 64 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac_len: Option<u8>,
    /// OpenVPN: the client's and the server's session ids (16 hex digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_session_id: Option<String>,
    /// IKE: major version (1 or 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike_version: Option<u8>,
    /// IKE: the first message's exchange type, as a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange_type: Option<u8>,
    /// IKE: SPIs (16 hex digits); the responder's once it is non-zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiator_spi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responder_spi: Option<String>,
    /// IKEv1: identities sent in clear (aggressive mode), `type:value`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
    /// IKE on port 4500 / ESP in UDP: ESP packets seen (RFC 3948).
    #[serde(skip_serializing_if = "is_zero")]
    pub esp_packets: u32,
    /// L2TP, PPTP: the host name and vendor of the control connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl VpnRecord {
    pub fn new(protocol: &'static str) -> VpnRecord {
        VpnRecord {
            protocol,
            ..VpnRecord::default()
        }
    }

    /// Count one message of type `name` (listed once).
    pub fn saw(&mut self, name: &'static str) {
        self.messages = self.messages.saturating_add(1);
        if self.message_types.len() < MAX_MESSAGE_TYPES && !self.message_types.contains(&name) {
            self.message_types.push(name);
        }
    }

    pub fn saw_malformed(&mut self) {
        self.malformed = self.malformed.saturating_add(1);
    }

    /// Keep an IKE identity (once, capped).
    pub fn add_identity(&mut self, id: String) {
        if self.identities.len() < MAX_IDENTITIES && !self.identities.contains(&id) {
            self.identities.push(capped(&id, MAX_IDENTITY_LEN));
        }
    }

    /// The best identity hint the record has: the first IKE identity, else
    /// the host name of a PPTP or L2TP control connection.
    pub fn identity_hint(&self) -> Option<&str> {
        self.identities
            .first()
            .map(String::as_str)
            .or(self.host_name.as_deref())
    }
}

/// A NUL-padded name field from the wire (PPTP, L2TP AVPs), `None` when
/// empty.
pub(crate) fn name_field(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = wire_text(b.get(..end)?, MAX_NAME_LEN);
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Big-endian integers at an offset, `None` past the end.
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Eight bytes at `at` as 16 lowercase hex digits (Zeek's SPI spelling).
pub(crate) fn hex8(b: &[u8], at: usize) -> Option<String> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut out = String::with_capacity(16);
    for &b in s {
        out.push(char::from(crate::proto::hex::nibble(b >> 4)));
        out.push(char::from(crate::proto::hex::nibble(b)));
    }
    Some(out)
}

/// Corpus captures for the unit tests (skipped with a message when the
/// shared corpus is absent).
#[cfg(test)]
pub(crate) mod testdata {
    use std::path::PathBuf;

    /// The UDP or TCP payloads of `rel` (a capture under ../shared/corpus),
    /// in capture order, with the sender's port; `None` when absent.
    pub fn payloads(rel: &str) -> Option<Vec<(u16, u16, Vec<u8>)>> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus")
            .join(rel);
        if !p.exists() {
            eprintln!("skipping: {} is absent", p.display());
            return None;
        }
        let mut out = Vec::new();
        let crate::capture::file::CaptureFile::Mapped(m) = crate::capture::file::open(&p).ok()?
        else {
            return None;
        };
        let mut reader = m.reader();
        let mut dec = crate::decode::Decoder::new(crate::decode::DecodeConfig::default());
        while let Ok(Some(frame)) = reader.next_frame() {
            if let Some(pkt) = dec.decode(&frame) {
                let (sp, dp) = match pkt.transport {
                    crate::decode::Transport::Udp { src_port, dst_port } => (src_port, dst_port),
                    crate::decode::Transport::Tcp(t) => (t.src_port, t.dst_port),
                    _ => continue,
                };
                if !pkt.payload.is_empty() {
                    out.push((sp, dp, pkt.payload.to_vec()));
                }
            }
        }
        Some(out)
    }
}
