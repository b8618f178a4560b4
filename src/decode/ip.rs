//! IP and transport layers, and the walk through tunnels.
//!
//! The IP header (IPv4 options, IPv6 extension headers) is sliced with
//! etherparse's lax parser, which says whether a payload length came from
//! the header or from the captured bytes. Transport headers are read here
//! with fixed offsets. A tunnel found in a GRE/UDP/IP payload sends the walk
//! back to the inner IP header (or inner Ethernet frame), outer layers
//! recorded in [`Walk::tunnel`], at most [`MAX_TUNNEL_DEPTH`] of them.

use std::net::IpAddr;

use etherparse::err::ip::{HeaderError as IpHeaderError, LaxHeaderSliceError};
use etherparse::{LaxIpSlice, LenSource};

use super::fragment::{FragKey, FragmentInfo};
use super::link::{self, be16, be32, L3};
use super::tunnel::{self, udp_port, Inner, Tunnel};
use super::{ip_proto, Layer, Packet, TcpSegment, Transport, TunnelLayer, Walk, MAX_TUNNEL_DEPTH};
use crate::capture::Timestamp;

/// Where the walk of one frame (or reassembled datagram) ended.
// Boxing the packet would allocate per frame; it is moved once, to the caller.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Outcome<'a> {
    Packet(Packet<'a>),
    /// An IP fragment: to be reassembled before going further.
    Fragment(FragmentInfo<'a>),
    NonIp,
    Err(Layer, &'static str),
}

/// Frame facts copied into the packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameMeta {
    pub ts: Timestamp,
    pub wire_len: u32,
}

/// TCP header offsets (RFC 9293 §3.1).
mod tcp_field {
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const MIN_LEN: usize = 20;
}
const UDP_HEADER_LEN: usize = 8;
/// Type, code, checksum and the 4-byte type-specific word (ICMP and ICMPv6).
const ICMP_HEADER_LEN: usize = 8;
const ICMP_MIN_LEN: usize = 4;
/// SPI and sequence number (RFC 4303 §2).
const ESP_HEADER_LEN: usize = 8;
const IPV4_MAX_HEADER_LEN: usize = 60;
const IPV6_HEADER_LEN: usize = 40;

/// Walk from an IP header to the innermost packet.
pub(crate) fn walk_ip<'a>(mut ip: &'a [u8], w: &mut Walk, meta: FrameMeta) -> Outcome<'a> {
    // Each pass either returns or pushes a tunnel layer, so the loop is
    // bounded by MAX_TUNNEL_DEPTH + 1 passes.
    loop {
        let layer = match ip.first().map(|b| b >> 4) {
            Some(6) => Layer::Ipv6,
            _ => Layer::Ipv4,
        };
        let (slice, ext_err) = match LaxIpSlice::from_slice(ip) {
            Ok(v) => v,
            Err(LaxHeaderSliceError::Len(_)) => return Outcome::Err(layer, "truncated header"),
            Err(LaxHeaderSliceError::Content(IpHeaderError::UnsupportedIpVersion { .. })) => {
                return Outcome::Err(layer, "bad version")
            }
            Err(LaxHeaderSliceError::Content(_)) => {
                return Outcome::Err(layer, "bad header length")
            }
        };
        if ext_err.is_some() {
            w.note(Layer::Ipv6, "bad extension header");
        }
        let (src, dst, ttl) = addresses(&slice);
        if slice.payload().fragmented {
            return fragment(ip, &slice, w).map_or(
                Outcome::Err(Layer::Fragment, "bad fragment header"),
                Outcome::Fragment,
            );
        }
        let payload = slice.payload();
        let proto = payload.ip_number.0;
        let ip_truncated = payload.len_source == LenSource::Slice;
        let body = payload.payload;

        let (transport, l4_payload, l4_truncated, tun) = match proto {
            ip_proto::TCP => {
                let (t, p, trunc) = tcp(body, w);
                (t, p, trunc, None)
            }
            ip_proto::UDP => udp(body, ip_truncated, w),
            ip_proto::ICMP | ip_proto::ICMPV6 => {
                let (t, p, trunc) = icmp(body, w);
                (t, p, trunc, None)
            }
            ip_proto::ESP => {
                let (t, p, trunc) = esp(body, w);
                (t, p, trunc, None)
            }
            ip_proto::GRE => (Transport::Other, body, false, tunnel::gre(body)),
            ip_proto::IPIP => (Transport::Other, body, false, tunnel::ip_in_ip(body, 4)),
            ip_proto::IPV6 => (Transport::Other, body, false, tunnel::ip_in_ip(body, 6)),
            _ => (Transport::Other, body, false, None),
        };

        if let Some(t) = tun {
            match enter_tunnel(t, src, dst, w) {
                Entered::Ip(inner) => {
                    ip = inner;
                    continue;
                }
                Entered::NonIp => return Outcome::NonIp,
                Entered::TooDeep => return Outcome::Err(Layer::Tunnel, "too deep"),
                Entered::NotATunnel => {}
            }
        }

        return Outcome::Packet(Packet {
            ts: meta.ts,
            wire_len: meta.wire_len,
            vlan: w.vlan,
            // Filled in by the decoder from its walk scratch (see `Decoder::decode`).
            tunnel: &[],
            src,
            dst,
            ip_proto: proto,
            ttl,
            transport,
            payload: l4_payload,
            truncated: ip_truncated || l4_truncated,
            reassembled: false,
            frames: 1,
        });
    }
}

fn addresses(s: &LaxIpSlice<'_>) -> (IpAddr, IpAddr, u8) {
    match s {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.ttl(),
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                h.hop_limit(),
            )
        }
    }
}

enum Entered<'a> {
    Ip(&'a [u8]),
    NonIp,
    TooDeep,
    NotATunnel,
}

/// Record the outer layer and find the inner IP header. An inner Ethernet
/// frame too short to hold its header means the candidate was not a tunnel.
fn enter_tunnel<'a>(t: Tunnel<'a>, src: IpAddr, dst: IpAddr, w: &mut Walk) -> Entered<'a> {
    if w.tunnel.len() >= MAX_TUNNEL_DEPTH {
        return Entered::TooDeep;
    }
    let layer = TunnelLayer {
        kind: t.kind,
        outer_src: src,
        outer_dst: dst,
        id: t.id,
    };
    w.tunnel.push(layer);
    match t.inner {
        Inner::Ip(b) => Entered::Ip(b),
        Inner::Ethernet(b) => match link::walk_ethernet(b, w) {
            L3::Ip(b) => Entered::Ip(b),
            L3::NonIp => Entered::NonIp,
            L3::Err(..) => {
                w.tunnel.pop();
                Entered::NotATunnel
            }
        },
    }
}

/// The reassembly facts of a fragment: its key, offset and data (the bytes
/// after the IPv4 header or the IPv6 fragment header).
fn fragment<'a>(ip: &'a [u8], s: &LaxIpSlice<'a>, w: &Walk) -> Option<FragmentInfo<'a>> {
    // The IP packet ends where etherparse's payload ends (header length or
    // captured bytes, whichever is shorter).
    let p = s.payload().payload;
    let end = (p.as_ptr() as usize - ip.as_ptr() as usize).checked_add(p.len())?;
    match s {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let hlen = h.slice().len();
            Some(FragmentInfo {
                key: FragKey {
                    src: IpAddr::V4(h.source_addr()),
                    dst: IpAddr::V4(h.destination_addr()),
                    proto: h.protocol().0,
                    id: u32::from(h.identification()),
                    vlan: w.vlan,
                },
                offset: u32::from(h.fragments_offset().value()) * 8,
                more: h.more_fragments(),
                header: ip.get(..hlen.min(IPV4_MAX_HEADER_LEN))?,
                data: ip.get(hlen..end)?,
                next_proto: h.protocol().0,
            })
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            // Find the fragment header among the extension headers: its
            // position gives where the fragmentable part starts.
            let exts = v6.extensions();
            let frag = exts.clone().into_iter().find_map(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            })?;
            let frag_end = (frag.slice().as_ptr() as usize - ip.as_ptr() as usize)
                .checked_add(frag.slice().len())?;
            Some(FragmentInfo {
                key: FragKey {
                    src: IpAddr::V6(h.source_addr()),
                    dst: IpAddr::V6(h.destination_addr()),
                    proto: frag.next_header().0,
                    id: frag.identification(),
                    vlan: w.vlan,
                },
                offset: u32::from(frag.fragment_offset().value()) * 8,
                more: frag.more_fragments(),
                header: ip.get(..IPV6_HEADER_LEN)?,
                data: ip.get(frag_end..end)?,
                next_proto: frag.next_header().0,
            })
        }
    }
}

/// TCP: ports, sequence numbers, flags, window and the raw options.
pub(super) fn tcp<'a>(b: &'a [u8], w: &mut Walk) -> (Transport<'a>, &'a [u8], bool) {
    let (
        Some(src_port),
        Some(dst_port),
        Some(seq),
        Some(ack),
        Some(off),
        Some(flags),
        Some(window),
    ) = (
        be16(b, 0),
        be16(b, 2),
        be32(b, tcp_field::SEQ),
        be32(b, tcp_field::ACK),
        b.get(tcp_field::DATA_OFFSET),
        b.get(tcp_field::FLAGS),
        be16(b, tcp_field::WINDOW),
    )
    else {
        w.note(Layer::Tcp, "truncated header");
        return (Transport::Other, &[], true);
    };
    let header_len = usize::from(off >> 4) * 4;
    if header_len < tcp_field::MIN_LEN {
        w.note(Layer::Tcp, "bad data offset");
        return (Transport::Other, &[], false);
    }
    let options = b
        .get(tcp_field::MIN_LEN..header_len.min(b.len()))
        .unwrap_or(&[]);
    let (payload, truncated) = match b.get(header_len..) {
        Some(p) => (p, false),
        None => (&[][..], true),
    };
    let seg = TcpSegment {
        src_port,
        dst_port,
        seq,
        ack,
        flags: *flags,
        window,
        options,
    };
    (Transport::Tcp(seg), payload, truncated)
}

pub(super) type UdpResult<'a> = (Transport<'a>, &'a [u8], bool, Option<Tunnel<'a>>);

/// UDP, and the tunnels recognised by port.
pub(super) fn udp<'a>(b: &'a [u8], ip_truncated: bool, w: &mut Walk) -> UdpResult<'a> {
    let (Some(src_port), Some(dst_port), Some(len), Some(rest)) =
        (be16(b, 0), be16(b, 2), be16(b, 4), b.get(UDP_HEADER_LEN..))
    else {
        w.note(Layer::Udp, "truncated header");
        return (Transport::Other, &[], true, None);
    };
    let len = usize::from(len);
    // A length below the header (0 in jumbograms) says nothing: keep all.
    let (payload, truncated) = if len < UDP_HEADER_LEN {
        (rest, false)
    } else {
        match b.get(UDP_HEADER_LEN..len) {
            Some(p) => (p, false),
            None => (rest, true),
        }
    };
    let cut = truncated || ip_truncated;
    // Either port: some encapsulators (seen: ERSPAN-mirrored VXLAN) use the
    // well-known port as the source; the header checks decide.
    let either = |port: u16| src_port == port || dst_port == port;
    let tun = if either(udp_port::VXLAN) {
        tunnel::vxlan(payload)
    } else if either(udp_port::GENEVE) {
        tunnel::geneve(payload)
    } else if either(udp_port::GTP_U) {
        tunnel::gtp_u(payload)
    } else if either(udp_port::TEREDO) {
        tunnel::teredo(payload, cut)
    } else {
        None
    };
    let t = Transport::Udp { src_port, dst_port };
    (t, payload, truncated, tun)
}

fn icmp<'a>(b: &'a [u8], w: &mut Walk) -> (Transport<'a>, &'a [u8], bool) {
    match (b.first(), b.get(1), b.len() >= ICMP_MIN_LEN) {
        (Some(&icmp_type), Some(&code), true) => {
            let payload = b.get(ICMP_HEADER_LEN..).unwrap_or(&[]);
            (
                Transport::Icmp { icmp_type, code },
                payload,
                b.len() < ICMP_HEADER_LEN,
            )
        }
        _ => {
            w.note(Layer::Icmp, "truncated header");
            (Transport::Other, &[], true)
        }
    }
}

fn esp<'a>(b: &'a [u8], w: &mut Walk) -> (Transport<'a>, &'a [u8], bool) {
    match be32(b, 0) {
        Some(spi) => (
            Transport::Esp { spi },
            b.get(ESP_HEADER_LEN..).unwrap_or(&[]),
            b.len() < ESP_HEADER_LEN,
        ),
        None => {
            w.note(Layer::Ipv4, "truncated esp header");
            (Transport::Other, &[], true)
        }
    }
}
