//! VNC / RFB (RFC 6143): the clear-text handshake: both ProtocolVersion
//! messages, the security types offered and chosen (VeNCrypt's subtypes
//! too), the SecurityResult, and ServerInit's desktop name and size; a
//! VeNCrypt TLS subtype hands the rest to the TLS dissector.
//!
//! - [`parser`]: zero-copy views of the handshake messages.
//! - [`stream`]: the probe and per-flow state machine.

pub mod parser;
pub mod stream;

use serde::Serialize;

use crate::proto::app::wire_text;

/// Most security types (and VeNCrypt subtypes) kept from an offer.
pub const MAX_SECURITY_TYPES: usize = 16;
/// Longest desktop name kept, in bytes.
pub const MAX_DESKTOP_NAME: usize = 256;

/// Security type numbers (RFC 6143 §7.1.2 and the IANA "RFB Security
/// Types" registry).
pub mod security {
    pub const INVALID: u8 = 0;
    pub const NONE: u8 = 1;
    pub const VNC_AUTH: u8 = 2;
    pub const VENCRYPT: u8 = 19;
}

/// The IANA registry's name of a security type.
pub fn security_type_name(t: u8) -> &'static str {
    match t {
        0 => "Invalid",
        1 => "None",
        2 => "VNC Authentication",
        3..=4 | 7..=15 | 128..=255 => "RealVNC",
        5 => "RA2",
        6 => "RA2ne",
        16 => "Tight",
        17 => "Ultra",
        18 => "TLS",
        19 => "VeNCrypt",
        20 => "GTK-VNC SASL",
        21 => "MD5 hash authentication",
        22 => "Colin Dean xvp",
        23 => "Secure Tunnel",
        24 => "Integrated SSH",
        30..=35 => "Apple Inc.",
        _ => "Unassigned",
    }
}

/// VeNCrypt subtype names (the VeNCrypt specification, as implemented by
/// TigerVNC and libvirt's gtk-vnc).
pub fn vencrypt_subtype_name(t: u32) -> Option<&'static str> {
    Some(match t {
        256 => "Plain",
        257 => "TLSNone",
        258 => "TLSVnc",
        259 => "TLSPlain",
        260 => "X509None",
        261 => "X509Vnc",
        262 => "X509Plain",
        263 => "TLSSASL",
        264 => "X509SASL",
        _ => return None,
    })
}

/// A VeNCrypt subtype that runs a TLS handshake after its acceptance.
pub fn vencrypt_subtype_is_tls(t: u32) -> bool {
    (257..=264).contains(&t)
}

/// What a flow's RFB handshake showed (the `vnc` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VncRecord {
    /// The version digits as sent ("003.008"), without "RFB " and LF.
    pub client_version: Option<[u8; 7]>,
    pub server_version: Option<[u8; 7]>,
    /// Security types the server offered (3.7+), capped.
    pub security_types: Vec<u8>,
    /// The type in force: the client's choice (3.7+) or the server's (3.3).
    pub security_type: Option<u8>,
    /// VeNCrypt subtypes the server offered, and the client's choice.
    pub vencrypt_subtypes: Vec<u32>,
    pub vencrypt_subtype: Option<u32>,
    /// SecurityResult: true for OK.
    pub auth_ok: Option<bool>,
    pub desktop_name: Option<String>,
    pub width: Option<u16>,
    pub height: Option<u16>,
}

#[derive(Serialize)]
struct VncJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_version: Option<String>,
    #[serde(skip_serializing_if = "<[u8]>::is_empty")]
    security_types: &'a [u8],
    #[serde(skip_serializing_if = "Option::is_none")]
    security_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_type_name: Option<String>,
    #[serde(skip_serializing_if = "<[u32]>::is_empty")]
    vencrypt_subtypes: &'a [u32],
    #[serde(skip_serializing_if = "Option::is_none")]
    vencrypt_subtype: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_result: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    desktop_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u16>,
}

impl VncRecord {
    /// `security_type_name`: the registry name, with the VeNCrypt subtype
    /// when one was chosen (`"VeNCrypt/X509Vnc"`).
    pub fn security_type_name(&self) -> Option<String> {
        let t = self.security_type?;
        let base = security_type_name(t);
        Some(match self.vencrypt_subtype {
            Some(s) if t == security::VENCRYPT => match vencrypt_subtype_name(s) {
                Some(n) => format!("{base}/{n}"),
                None => format!("{base}/{s}"),
            },
            _ => base.to_owned(),
        })
    }
}

impl Serialize for VncRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = |v: &Option<[u8; 7]>| v.as_ref().map(|v| wire_text(v, 7));
        VncJson {
            client_version: text(&self.client_version),
            server_version: text(&self.server_version),
            security_types: &self.security_types,
            security_type: self.security_type,
            security_type_name: self.security_type_name(),
            vencrypt_subtypes: &self.vencrypt_subtypes,
            vencrypt_subtype: self.vencrypt_subtype,
            auth_result: self.auth_ok.map(|ok| if ok { "ok" } else { "failed" }),
            desktop_name: self.desktop_name.as_deref(),
            width: self.width,
            height: self.height,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_type_names_follow_iana() {
        // ndpi vnc.pcap offers 13, 133, 5, 129, 6, 130, 2 (RealVNC 4.1).
        assert_eq!(security_type_name(13), "RealVNC");
        assert_eq!(security_type_name(130), "RealVNC");
        assert_eq!(security_type_name(30), "Apple Inc.");
        assert_eq!(security_type_name(40), "Unassigned");
    }

    #[test]
    fn record_json_uses_the_wire_version_digits() {
        let r = VncRecord {
            client_version: Some(*b"003.008"),
            server_version: Some(*b"003.889"),
            security_types: vec![19],
            security_type: Some(19),
            vencrypt_subtype: Some(261),
            auth_ok: Some(false),
            ..VncRecord::default()
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"client_version":"003.008","server_version":"003.889","security_types":[19],"security_type":19,"security_type_name":"VeNCrypt/X509Vnc","vencrypt_subtype":261,"auth_result":"failed"}"#
        );
    }
}
