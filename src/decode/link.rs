//! Link layer: from a frame's first byte to the start of its IP header.
//!
//! Handles the link types of [`LinkType`] (Ethernet, Linux SLL and SLL2,
//! BSD NULL/LOOP, raw IP), then 802.1Q/802.1ad VLAN tags, MPLS label stacks
//! (with Ethernet pseudowires behind a control word) and PPPoE sessions.
//! Everything is a bounded walk over fixed-size headers; nothing allocates.

use super::{Layer, Walk};
use crate::capture::LinkType;

/// EtherType code points (IEEE registry).
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ tag still seen on older switches.
    pub const QINQ_OLD: u16 = 0x9100;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Transparent Ethernet Bridging (GRE, Geneve payload type).
    pub const TEB: u16 = 0x6558;
    /// Values below this are IEEE 802.3 lengths, not EtherTypes.
    pub const MIN_ETHERTYPE: u16 = 0x0600;
}

/// PPP protocol numbers (RFC 1661 / IANA).
mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
}

/// Address families of the BSD loopback header.
mod af {
    pub const INET: u32 = 2;
    /// AF_INET6 differs between BSDs: NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30.
    pub const INET6: [u32; 3] = [24, 28, 30];
}

const ETHERNET_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const MPLS_LABEL_LEN: usize = 4;
const PPPOE_HEADER_LEN: usize = 6;
const PPP_PROTOCOL_LEN: usize = 2;
const SLL_HEADER_LEN: usize = 16;
const SLL_PROTOCOL_OFFSET: usize = 14;
const SLL2_HEADER_LEN: usize = 20;
const NULL_HEADER_LEN: usize = 4;
/// Bound on VLAN tags and MPLS labels walked in one frame (hostile stacks).
const MAX_LINK_LAYERS: usize = 16;

/// Where the link walk ended.
#[derive(Debug)]
pub(crate) enum L3<'a> {
    /// An IP header starts here (its version nibble not yet checked).
    Ip(&'a [u8]),
    /// The frame carries something else (ARP, LLDP, STP...).
    NonIp,
    /// The frame is malformed at this layer.
    Err(Layer, &'static str),
}

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Walk a frame's link layer to its IP header.
pub(crate) fn walk_frame<'a>(link: LinkType, data: &'a [u8], w: &mut Walk) -> L3<'a> {
    match link {
        LinkType::Ethernet => walk_ethernet(data, w),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => L3::Ip(data),
        LinkType::LinuxSll => match (be16(data, SLL_PROTOCOL_OFFSET), data.get(SLL_HEADER_LEN..)) {
            (Some(proto), Some(rest)) => walk_ethertype(proto, rest, w),
            _ => L3::Err(Layer::Link, "truncated header"),
        },
        LinkType::LinuxSll2 => match (be16(data, 0), data.get(SLL2_HEADER_LEN..)) {
            (Some(proto), Some(rest)) => walk_ethertype(proto, rest, w),
            _ => L3::Err(Layer::Link, "truncated header"),
        },
        LinkType::Null | LinkType::Loop => walk_loopback(link, data),
        LinkType::Ppp => walk_ppp(data),
        LinkType::Other(_) => L3::Err(Layer::Link, "unsupported link type"),
    }
}

/// BSD NULL (host byte order, so either) and OpenBSD LOOP (network order).
fn walk_loopback(link: LinkType, data: &[u8]) -> L3<'_> {
    let (Some(h), Some(rest)) = (data.get(..NULL_HEADER_LEN), data.get(NULL_HEADER_LEN..)) else {
        return L3::Err(Layer::Link, "truncated header");
    };
    let b = [h[0], h[1], h[2], h[3]];
    let be = u32::from_be_bytes(b);
    let family_ok = |f: u32| f == af::INET || af::INET6.contains(&f);
    let known = if link == LinkType::Loop {
        family_ok(be)
    } else {
        family_ok(be) || family_ok(u32::from_le_bytes(b))
    };
    if known {
        L3::Ip(rest)
    } else {
        L3::NonIp
    }
}

/// Walk an Ethernet II frame (no FCS expected; IP lengths trim any).
pub(crate) fn walk_ethernet<'a>(data: &'a [u8], w: &mut Walk) -> L3<'a> {
    match (be16(data, 12), data.get(ETHERNET_HEADER_LEN..)) {
        (Some(et), Some(rest)) => walk_ethertype(et, rest, w),
        _ => L3::Err(Layer::Link, "truncated header"),
    }
}

/// Follow EtherTypes through VLAN tags, MPLS and PPPoE to IP.
fn walk_ethertype<'a>(mut et: u16, mut rest: &'a [u8], w: &mut Walk) -> L3<'a> {
    for _ in 0..MAX_LINK_LAYERS {
        match et {
            ethertype::IPV4 | ethertype::IPV6 => return L3::Ip(rest),
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => {
                let (Some(tci), Some(next), Some(after)) =
                    (be16(rest, 0), be16(rest, 2), rest.get(VLAN_TAG_LEN..))
                else {
                    return L3::Err(Layer::Vlan, "truncated header");
                };
                w.push_vlan(tci & 0x0fff);
                et = next;
                rest = after;
            }
            ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => return walk_mpls(rest, w),
            ethertype::PPPOE_SESSION => return walk_pppoe(rest),
            _ => return L3::NonIp,
        }
    }
    L3::Err(Layer::Vlan, "too many tags")
}

/// RFC 3032 label stack, then IPv4/IPv6 by version nibble, or an Ethernet
/// pseudowire behind an RFC 4385 control word (first nibble 0).
fn walk_mpls<'a>(mut rest: &'a [u8], w: &mut Walk) -> L3<'a> {
    for _ in 0..MAX_LINK_LAYERS {
        let (Some(label), Some(after)) = (be32(rest, 0), rest.get(MPLS_LABEL_LEN..)) else {
            return L3::Err(Layer::Mpls, "truncated header");
        };
        rest = after;
        let bottom_of_stack = label & 0x100 != 0;
        if bottom_of_stack {
            return match rest.first().map(|b| b >> 4) {
                Some(4) | Some(6) => L3::Ip(rest),
                Some(0) => match rest.get(MPLS_LABEL_LEN..) {
                    Some(eth) => walk_ethernet(eth, w),
                    None => L3::Err(Layer::Mpls, "truncated control word"),
                },
                Some(_) => L3::Err(Layer::Mpls, "unknown payload"),
                None => L3::Err(Layer::Mpls, "truncated header"),
            };
        }
    }
    L3::Err(Layer::Mpls, "too many labels")
}

/// LINKTYPE_PPP: RFC 1662 framing, where the address (0xff) and control
/// (0x03) bytes may be present or compressed away (RFC 1661 §6.6), then the
/// 2-byte PPP protocol.
fn walk_ppp(data: &[u8]) -> L3<'_> {
    let body = match data {
        [0xff, 0x03, rest @ ..] => rest,
        _ => data,
    };
    match (be16(body, 0), body.get(PPP_PROTOCOL_LEN..)) {
        (Some(ppp::IPV4 | ppp::IPV6), Some(payload)) => L3::Ip(payload),
        (Some(_), Some(_)) => L3::NonIp,
        _ => L3::Err(Layer::Link, "truncated header"),
    }
}

/// RFC 2516 PPPoE session header, then the PPP protocol field.
fn walk_pppoe(rest: &[u8]) -> L3<'_> {
    let Some(ver_type) = rest.first() else {
        return L3::Err(Layer::Pppoe, "truncated header");
    };
    if *ver_type != 0x11 {
        return L3::Err(Layer::Pppoe, "bad version");
    }
    let (Some(proto), Some(payload)) = (
        be16(rest, PPPOE_HEADER_LEN),
        rest.get(PPPOE_HEADER_LEN + PPP_PROTOCOL_LEN..),
    ) else {
        return L3::Err(Layer::Pppoe, "truncated header");
    };
    match proto {
        ppp::IPV4 | ppp::IPV6 => L3::Ip(payload),
        // LCP, IPCP, CHAP...: control traffic, not IP.
        _ => L3::NonIp,
    }
}
