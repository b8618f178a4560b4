//! The decoder's fast path for the common frame.
//!
//! Most frames on a gateway are Ethernet (perhaps one VLAN tag) carrying an
//! unfragmented IPv4 packet without options, or an IPv6 packet without
//! extension headers, with TCP or UDP inside (not on a tunnel port). Such a
//! frame is read here from fixed offsets, without the general walk through
//! etherparse and the tunnel dispatch. Anything else, including every frame
//! where the IP lengths disagree with the captured bytes, returns `None`
//! before touching the walk, and the caller takes the general path.
//!
//! The packet must be exactly the one the general walk gives: the corpus
//! test `fast_path_matches_walk` compares them, field by field, on every
//! frame.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ip::{tcp, udp, FrameMeta};
use super::link::{be16, ethertype};
use super::tunnel::udp_port;
use super::{ip_proto, Packet, Walk};
use crate::capture::{Frame, LinkType};

/// Ethernet II: destination, source, EtherType.
const ETHERNET_HEADER_LEN: usize = 14;
const ETHERTYPE_OFFSET: usize = 12;
const VLAN_TAG_LEN: usize = 4;
/// 802.1Q tag control information: the low 12 bits are the VLAN id.
const VLAN_ID_MASK: u16 = 0x0fff;

/// IPv4 header fields (RFC 791 §3.1), for a header without options.
mod ipv4 {
    /// Version 4, header length 5 words: the only first byte taken here.
    pub const PLAIN_FIRST_BYTE: u8 = 0x45;
    pub const HEADER_LEN: usize = 20;
    pub const TOTAL_LEN: usize = 2;
    pub const FLAGS_FRAGMENT: usize = 6;
    /// More-fragments flag and fragment offset.
    pub const FRAGMENT_MASK: u16 = 0x3fff;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// IPv6 header fields (RFC 8200 §3).
mod ipv6 {
    pub const VERSION: u8 = 6;
    pub const HEADER_LEN: usize = 40;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// The fixed facts of a plain IP header: addresses, TTL, protocol and the
/// IP payload as the header's length field bounds it.
struct PlainIp<'a> {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    proto: u8,
    body: &'a [u8],
}

/// Decode `frame` if it is a common frame; `None` (with `w` untouched) if
/// it needs the general walk.
pub(super) fn decode<'a>(frame: &Frame<'a>, w: &mut Walk, meta: FrameMeta) -> Option<Packet<'a>> {
    let (vlan, ip) = match frame.link {
        LinkType::Ethernet => ethernet(frame.data)?,
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => (None, frame.data),
        _ => return None,
    };
    let h = plain_ip(ip)?;
    let is_tunnel_port = |p: u16| {
        matches!(
            p,
            udp_port::VXLAN | udp_port::GENEVE | udp_port::GTP_U | udp_port::TEREDO
        )
    };
    match h.proto {
        ip_proto::TCP => {}
        ip_proto::UDP => {
            let (sport, dport) = (be16(h.body, 0)?, be16(h.body, 2)?);
            if is_tunnel_port(sport) || is_tunnel_port(dport) {
                return None;
            }
        }
        _ => return None,
    }
    // Committed from here on: the walk's scratch state is updated as the
    // general path would have (the VLAN id, a note on a cut-off header).
    if let Some(id) = vlan {
        w.push_vlan(id);
    }
    let (transport, payload, truncated) = if h.proto == ip_proto::TCP {
        tcp(h.body, w)
    } else {
        // Not cut off: `plain_ip` took only packets whose length fits.
        let (t, p, trunc, _) = udp(h.body, false, w);
        (t, p, trunc)
    };
    Some(Packet {
        ts: meta.ts,
        wire_len: meta.wire_len,
        vlan: w.vlan,
        // Filled in by the decoder from its walk scratch.
        tunnel: &[],
        src: h.src,
        dst: h.dst,
        ip_proto: h.proto,
        ttl: h.ttl,
        transport,
        payload,
        truncated,
        reassembled: false,
        frames: 1,
    })
}

/// Ethernet with at most one VLAN tag in front of IPv4 or IPv6: the VLAN id
/// (if tagged) and the IP header's bytes.
fn ethernet(data: &[u8]) -> Option<(Option<u16>, &[u8])> {
    let et = be16(data, ETHERTYPE_OFFSET)?;
    let rest = data.get(ETHERNET_HEADER_LEN..)?;
    let (vlan, et, rest) = match et {
        ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => (
            Some(be16(rest, 0)? & VLAN_ID_MASK),
            be16(rest, 2)?,
            rest.get(VLAN_TAG_LEN..)?,
        ),
        _ => (None, et, rest),
    };
    matches!(et, ethertype::IPV4 | ethertype::IPV6).then_some((vlan, rest))
}

/// An IPv4 header without options and not a fragment, or an IPv6 header
/// whose next header is TCP or UDP, whose length field fits in the captured
/// bytes (so the payload is exactly what the header says).
fn plain_ip(ip: &[u8]) -> Option<PlainIp<'_>> {
    let first = *ip.first()?;
    if first == ipv4::PLAIN_FIRST_BYTE {
        let total = usize::from(be16(ip, ipv4::TOTAL_LEN)?);
        if be16(ip, ipv4::FLAGS_FRAGMENT)? & ipv4::FRAGMENT_MASK != 0 {
            return None;
        }
        let src: [u8; 4] = ip.get(ipv4::SRC..ipv4::SRC + 4)?.try_into().ok()?;
        let dst: [u8; 4] = ip.get(ipv4::DST..ipv4::DST + 4)?.try_into().ok()?;
        return Some(PlainIp {
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            ttl: *ip.get(ipv4::TTL)?,
            proto: *ip.get(ipv4::PROTOCOL)?,
            // `get` refuses a total length below the header or beyond the
            // captured bytes: those take the general path.
            body: ip.get(ipv4::HEADER_LEN..total)?,
        });
    }
    if first >> 4 == ipv6::VERSION {
        let payload_len = usize::from(be16(ip, ipv6::PAYLOAD_LEN)?);
        // Zero (jumbogram or unset) falls back to the captured length there.
        if payload_len == 0 {
            return None;
        }
        let src: [u8; 16] = ip.get(ipv6::SRC..ipv6::SRC + 16)?.try_into().ok()?;
        let dst: [u8; 16] = ip.get(ipv6::DST..ipv6::DST + 16)?.try_into().ok()?;
        return Some(PlainIp {
            src: IpAddr::V6(Ipv6Addr::from(src)),
            dst: IpAddr::V6(Ipv6Addr::from(dst)),
            ttl: *ip.get(ipv6::HOP_LIMIT)?,
            proto: *ip.get(ipv6::NEXT_HEADER)?,
            body: ip.get(ipv6::HEADER_LEN..ipv6::HEADER_LEN + payload_len)?,
        });
    }
    None
}
