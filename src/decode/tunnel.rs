//! Tunnel headers: recognise an encapsulation in an IP or UDP payload and
//! find the inner frame or packet.
//!
//! Each function validates its header and returns `None` when the bytes do
//! not look like that tunnel: a candidate that fails validation is not an
//! error, the packet simply stays a plain GRE or UDP packet.

use super::link::{be16, be32, ethertype};
use super::TunnelKind;

/// Well-known UDP ports of UDP-based tunnels.
pub mod udp_port {
    /// RFC 7348.
    pub const VXLAN: u16 = 4789;
    /// RFC 8926.
    pub const GENEVE: u16 = 6081;
    /// 3GPP TS 29.281.
    pub const GTP_U: u16 = 2152;
    /// RFC 4380.
    pub const TEREDO: u16 = 3544;
}

/// GRE protocol types of ERSPAN (draft-foschiano-erspan).
mod gre_proto {
    pub const ERSPAN_II: u16 = 0x88be;
    pub const ERSPAN_III: u16 = 0x22eb;
}

/// What a tunnel header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inner<'a> {
    Ethernet(&'a [u8]),
    Ip(&'a [u8]),
}

/// A recognised tunnel header: its kind, identifier and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tunnel<'a> {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub inner: Inner<'a>,
}

fn version_nibble(b: &[u8]) -> Option<u8> {
    b.first().map(|v| v >> 4)
}

/// An IP packet of either version: the only check we can make without parsing.
fn inner_ip(b: &[u8]) -> Option<Inner<'_>> {
    matches!(version_nibble(b), Some(4) | Some(6)).then_some(Inner::Ip(b))
}

/// IP-in-IP (protocol 4) and IPv6-in-IP (protocol 41, 6in4).
pub(crate) fn ip_in_ip(payload: &[u8], want_version: u8) -> Option<Tunnel<'_>> {
    (version_nibble(payload) == Some(want_version)).then_some(Tunnel {
        kind: TunnelKind::IpInIp,
        id: None,
        inner: Inner::Ip(payload),
    })
}

/// GRE flag bits (first header byte), RFC 2784 / RFC 2890.
mod gre_flag {
    pub const CHECKSUM: u8 = 0x80;
    pub const ROUTING: u8 = 0x40;
    pub const KEY: u8 = 0x20;
    pub const SEQUENCE: u8 = 0x10;
}
const GRE_BASE_LEN: usize = 4;
const GRE_OPTION_LEN: usize = 4;

/// GRE version 0 (RFC 2784 with RFC 2890 key and sequence number). Version 1
/// (PPTP's enhanced GRE) and source-routed GRE stay plain GRE.
pub(crate) fn gre(p: &[u8]) -> Option<Tunnel<'_>> {
    let flags = *p.first()?;
    let version = p.get(1)? & 0x07;
    if version != 0 || flags & gre_flag::ROUTING != 0 {
        return None;
    }
    let proto = be16(p, 2)?;
    let mut off = GRE_BASE_LEN;
    if flags & gre_flag::CHECKSUM != 0 {
        off += GRE_OPTION_LEN;
    }
    let key = if flags & gre_flag::KEY != 0 {
        let k = be32(p, off)?;
        off += GRE_OPTION_LEN;
        Some(k)
    } else {
        None
    };
    let has_seq = flags & gre_flag::SEQUENCE != 0;
    if has_seq {
        off += GRE_OPTION_LEN;
    }
    let body = p.get(off..)?;
    let gre = |inner| {
        Some(Tunnel {
            kind: TunnelKind::Gre,
            id: key,
            inner,
        })
    };
    match proto {
        ethertype::IPV4 | ethertype::IPV6 => gre(inner_ip(body)?),
        ethertype::TEB => gre(Inner::Ethernet(body)),
        // ERSPAN type I has no sequence number and no header of its own.
        gre_proto::ERSPAN_II if !has_seq => Some(Tunnel {
            kind: TunnelKind::Erspan,
            id: None,
            inner: Inner::Ethernet(body),
        }),
        gre_proto::ERSPAN_II => erspan(body, 1, ERSPAN_II_LEN),
        gre_proto::ERSPAN_III => erspan(body, 2, ERSPAN_III_LEN),
        _ => None,
    }
}

const ERSPAN_II_LEN: usize = 8;
const ERSPAN_III_LEN: usize = 12;
const ERSPAN_III_PLATFORM_LEN: usize = 8;
/// Offset of the word holding the O (optional platform subheader) flag.
const ERSPAN_III_FLAGS: usize = 10;

/// ERSPAN type II (version 1, 8 bytes) or type III (version 2, 12 bytes plus
/// an 8-byte platform-specific subheader when the O bit is set).
fn erspan(b: &[u8], want_version: u8, header_len: usize) -> Option<Tunnel<'_>> {
    let w0 = be16(b, 0)?;
    if (w0 >> 12) as u8 != want_version {
        return None;
    }
    let session = be16(b, 2)? & 0x03ff;
    let mut len = header_len;
    if want_version == 2 && be16(b, ERSPAN_III_FLAGS)? & 0x0001 != 0 {
        len += ERSPAN_III_PLATFORM_LEN;
    }
    Some(Tunnel {
        kind: TunnelKind::Erspan,
        id: Some(u32::from(session)),
        inner: Inner::Ethernet(b.get(len..)?),
    })
}

const VXLAN_HEADER_LEN: usize = 8;
const VXLAN_FLAG_VNI: u8 = 0x08;

/// RFC 7348 §5: the I flag must be set for the VNI to be valid.
pub(crate) fn vxlan(b: &[u8]) -> Option<Tunnel<'_>> {
    if b.first()? & VXLAN_FLAG_VNI == 0 {
        return None;
    }
    let vni = be32(b, 4)? >> 8;
    Some(Tunnel {
        kind: TunnelKind::Vxlan,
        id: Some(vni),
        inner: Inner::Ethernet(b.get(VXLAN_HEADER_LEN..)?),
    })
}

const GENEVE_BASE_LEN: usize = 8;

/// RFC 8926 §3.4: version 0, options length in 4-byte words, protocol type.
pub(crate) fn geneve(b: &[u8]) -> Option<Tunnel<'_>> {
    let first = *b.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let opt_len = usize::from(first & 0x3f) * 4;
    let proto = be16(b, 2)?;
    let vni = be32(b, 4)? >> 8;
    let body = b.get(GENEVE_BASE_LEN + opt_len..)?;
    let inner = match proto {
        ethertype::TEB => Inner::Ethernet(body),
        ethertype::IPV4 | ethertype::IPV6 => inner_ip(body)?,
        _ => return None,
    };
    Some(Tunnel {
        kind: TunnelKind::Geneve,
        id: Some(vni),
        inner,
    })
}

const GTP_HEADER_LEN: usize = 8;
const GTP_OPTIONAL_LEN: usize = 4;
const GTP_G_PDU: u8 = 0xff;
/// Flag bits of GTPv1 byte 0 (TS 29.281 §5.1).
mod gtp_flag {
    pub const PROTOCOL_TYPE: u8 = 0x10;
    pub const EXTENSION: u8 = 0x04;
    pub const SEQUENCE: u8 = 0x02;
    pub const NPDU: u8 = 0x01;
}
/// Bound on chained extension headers (each is at least 4 bytes anyway).
const GTP_MAX_EXTENSIONS: usize = 16;

/// GTP-U version 1 G-PDU (TS 29.281 §5) carrying IPv4 or IPv6.
pub(crate) fn gtp_u(b: &[u8]) -> Option<Tunnel<'_>> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || flags & gtp_flag::PROTOCOL_TYPE == 0 || *b.get(1)? != GTP_G_PDU {
        return None;
    }
    let teid = be32(b, 4)?;
    let mut off = GTP_HEADER_LEN;
    if flags & (gtp_flag::EXTENSION | gtp_flag::SEQUENCE | gtp_flag::NPDU) != 0 {
        off += GTP_OPTIONAL_LEN;
        if flags & gtp_flag::EXTENSION != 0 {
            // The next-extension-type byte is the last of the optional word.
            let mut next = *b.get(off - 1)?;
            let mut n = 0;
            while next != 0 {
                n += 1;
                if n > GTP_MAX_EXTENSIONS {
                    return None;
                }
                // Length in 4-byte units, covering the length and next-type bytes.
                let units = usize::from(*b.get(off)?);
                if units == 0 {
                    return None;
                }
                off += units * 4;
                next = *b.get(off - 1)?;
            }
        }
    }
    Some(Tunnel {
        kind: TunnelKind::GtpU,
        id: Some(teid),
        inner: inner_ip(b.get(off..)?)?,
    })
}

/// Teredo indicator types (RFC 4380 §5.1.1).
mod teredo_indicator {
    pub const ORIGIN: u16 = 0x0000;
    pub const AUTHENTICATION: u16 = 0x0001;
}
const TEREDO_ORIGIN_LEN: usize = 8;
/// Indicator, ID-len, AU-len, then nonce (8) and confirmation (1).
const TEREDO_AUTH_FIXED_LEN: usize = 4 + 8 + 1;
const IPV6_HEADER_LEN: usize = 40;

/// RFC 4380 §5.1.1: optional authentication then origin indication, then an
/// IPv6 packet whose version and payload length must agree with the datagram
/// (a truncated capture may hold less than the length says).
pub(crate) fn teredo(b: &[u8], truncated: bool) -> Option<Tunnel<'_>> {
    let mut off = 0;
    if be16(b, off)? == teredo_indicator::AUTHENTICATION {
        let id_len = usize::from(*b.get(off + 2)?);
        let au_len = usize::from(*b.get(off + 3)?);
        off += TEREDO_AUTH_FIXED_LEN + id_len + au_len;
    }
    if be16(b, off)? == teredo_indicator::ORIGIN {
        off += TEREDO_ORIGIN_LEN;
    }
    let ip = b.get(off..)?;
    if version_nibble(ip)? != 6 {
        return None;
    }
    let want = IPV6_HEADER_LEN + usize::from(be16(ip, 4)?);
    let fits = want == ip.len() || (truncated && want > ip.len() && ip.len() >= IPV6_HEADER_LEN);
    fits.then_some(Tunnel {
        kind: TunnelKind::Teredo,
        id: None,
        inner: Inner::Ip(ip),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // GRE header of frame 1 of foxio-ja4/pcap/gre-erspan-vxlan.pcap is tested
    // on the whole frame in mod.rs; here the header rules from the RFCs.

    #[test]
    fn gre_rfc2890_key_and_sequence() {
        // C=0 K=1 S=1, protocol IPv4, key 0x01020304, seq 7, then an IPv4 byte.
        let p = [0x30, 0x00, 0x08, 0x00, 1, 2, 3, 4, 0, 0, 0, 7, 0x45, 0];
        let t = gre(&p).unwrap();
        assert_eq!(t.kind, TunnelKind::Gre);
        assert_eq!(t.id, Some(0x01020304));
        assert_eq!(t.inner, Inner::Ip(&[0x45, 0][..]));
    }

    #[test]
    fn gre_version1_and_unknown_protocol_stay_plain() {
        // PPTP enhanced GRE: version 1, protocol PPP 0x880b.
        assert!(gre(&[0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(gre(&[0x00, 0x00, 0x88, 0x0b, 0xff, 0x03]).is_none());
        assert!(gre(&[0x00]).is_none());
    }

    #[test]
    fn gtp_extension_chain_is_bounded_and_checked() {
        // E flag, optional word with next type 0x85 (PDU session container),
        // one 4-byte extension ending the chain, then IPv4.
        let p = [
            0x34, 0xff, 0, 12, 0, 0, 0, 9, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0x00, 0x45,
        ];
        let t = gtp_u(&p).unwrap();
        assert_eq!(t.id, Some(9));
        assert_eq!(t.inner, Inner::Ip(&[0x45][..]));
        // A zero extension length would loop forever in a naive parser.
        let bad = [
            0x34, 0xff, 0, 12, 0, 0, 0, 9, 0, 0, 0, 0x85, 0, 0x10, 0x09, 0x85,
        ];
        assert!(gtp_u(&bad).is_none());
        // Echo request (type 1) is not a G-PDU.
        assert!(gtp_u(&[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]).is_none());
    }

    #[test]
    fn teredo_requires_matching_ipv6_length() {
        let mut ip = [0u8; 48];
        ip[0] = 0x60;
        ip[5] = 8; // payload length 8
        assert!(teredo(&ip, false).is_some());
        assert!(teredo(&ip[..47], false).is_none());
        assert!(teredo(&ip[..47], true).is_some());
        let mut with_origin = [0u8; 56];
        with_origin[8..].copy_from_slice(&ip);
        assert!(teredo(&with_origin, false).is_some());
        ip[0] = 0x45;
        assert!(teredo(&ip, false).is_none());
    }
}
