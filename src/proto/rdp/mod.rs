//! RDP (MS-RDPBCGR): the X.224 negotiation (cookie, requested and selected
//! security protocols), the client's core data under standard RDP
//! security, the TLS handshake after an enhanced-security negotiation, and
//! RDP's UDP transport (MS-RDPEUDP) recognised by its SYN datagram.
//!
//! - [`parser`]: zero-copy views (TPKT, X.224 CR/CC, MCS client core data).
//! - [`stream`]: the TCP probe and per-flow state.
//! - [`udp`]: the RDPEUDP SYN datagram view, probe and state.

pub mod parser;
pub mod stream;
pub mod udp;

use serde::Serialize;

use crate::proto::app::wire_text;

/// Longest cookie user name kept, in bytes (the `identity` cap).
pub const MAX_COOKIE_LEN: usize = 256;

/// requestedProtocols / selectedProtocol flags (MS-RDPBCGR 2.2.1.1.1).
pub mod protocol {
    pub const RDP: u32 = 0x0000_0000;
    pub const SSL: u32 = 0x0000_0001;
    pub const HYBRID: u32 = 0x0000_0002;
    pub const RDSTLS: u32 = 0x0000_0004;
    pub const HYBRID_EX: u32 = 0x0000_0008;
    pub const RDSAAD: u32 = 0x0000_0010;
    /// Each flag and its lowercase name, in bit order.
    pub const NAMES: [(u32, &str); 5] = [
        (SSL, "ssl"),
        (HYBRID, "hybrid"),
        (RDSTLS, "rdstls"),
        (HYBRID_EX, "hybrid_ex"),
        (RDSAAD, "rdsaad"),
    ];
}

/// The name of one selected protocol: `"rdp"` for 0, a flag's name, else
/// its hex value.
pub fn protocol_name(p: u32) -> String {
    if p == protocol::RDP {
        return "rdp".into();
    }
    match protocol::NAMES.iter().find(|(f, _)| *f == p) {
        Some((_, n)) => (*n).into(),
        None => format!("0x{p:08x}"),
    }
}

/// The names of the flags set in requestedProtocols, unknown bits as hex
/// (empty for 0, standard RDP security).
pub fn protocol_names(flags: u32) -> Vec<String> {
    (0..32)
        .map(|bit| 1u32 << bit)
        .filter(|f| flags & f != 0)
        .map(protocol_name)
        .collect()
}

/// RDP_NEG_FAILURE failureCode names (MS-RDPBCGR 2.2.1.2.2), lowercase.
pub fn failure_name(code: u32) -> String {
    match code {
        1 => "ssl_required_by_server".into(),
        2 => "ssl_not_allowed_by_server".into(),
        3 => "ssl_cert_not_on_server".into(),
        4 => "inconsistent_flags".into(),
        5 => "hybrid_required_by_server".into(),
        6 => "ssl_with_user_auth_required_by_server".into(),
        c => format!("0x{c:08x}"),
    }
}

/// What a flow's RDP negotiation showed (the `rdp` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdpRecord {
    /// The IDENTIFIER of `Cookie: mstshash=IDENTIFIER` (2.2.1.1), bytes as
    /// sent, capped at [`MAX_COOKIE_LEN`].
    pub cookie: Option<Vec<u8>>,
    /// A routing token (load balancer) in place of the cookie.
    pub routing_token: Option<Vec<u8>>,
    pub requested_protocols: Option<u32>,
    pub selected_protocol: Option<u32>,
    pub failure_code: Option<u32>,
    pub client_name: Option<String>,
    pub keyboard_layout: Option<u32>,
    pub client_build: Option<u32>,
}

impl RdpRecord {
    /// The cookie user name as text (lossy), for `identity`.
    pub fn cookie_text(&self) -> Option<String> {
        self.cookie.as_deref().map(|c| wire_text(c, MAX_COOKIE_LEN))
    }
}

#[derive(Serialize)]
struct RdpJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cookie: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_protocols: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    selected_protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyboard_layout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_build: Option<u32>,
}

impl Serialize for RdpRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RdpJson {
            cookie: self.cookie_text(),
            routing_token: self
                .routing_token
                .as_deref()
                .map(|t| wire_text(t, MAX_COOKIE_LEN)),
            requested_protocols: self.requested_protocols.map(protocol_names),
            selected_protocol: self.selected_protocol.map(protocol_name),
            failure_code: self.failure_code.map(failure_name),
            client_name: self.client_name.as_deref(),
            keyboard_layout: self.keyboard_layout,
            client_build: self.client_build,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_follow_the_spec_flags() {
        assert_eq!(protocol_names(0), Vec::<String>::new());
        assert_eq!(protocol_names(0x0b), ["ssl", "hybrid", "hybrid_ex"]);
        assert_eq!(protocol_names(0x21), ["ssl", "0x00000020"]);
        assert_eq!(protocol_name(0), "rdp");
        assert_eq!(protocol_name(8), "hybrid_ex");
        assert_eq!(failure_name(2), "ssl_not_allowed_by_server");
    }

    #[test]
    fn record_serialises_only_what_was_seen() {
        let r = RdpRecord {
            cookie: Some(b"alice".to_vec()),
            requested_protocols: Some(0),
            selected_protocol: Some(0),
            ..RdpRecord::default()
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"cookie":"alice","requested_protocols":[],"selected_protocol":"rdp"}"#
        );
    }
}
