//! Frame decoding: link layer, VLAN/MPLS/PPPoE, IP, tunnels, transport.
//!
//! [`Decoder::decode`] turns a [`Frame`] into a [`Packet`] that borrows the
//! frame's bytes (or, for a reassembled IP datagram, the decoder's own
//! reassembly buffer). Decoding is lax: a truncated frame still yields what
//! could be read. A frame that cannot become a packet bumps one counter in
//! [`DecodeCounters`], keyed by layer and reason; nothing is logged per packet
//! and nothing panics, whatever the bytes.
//!
//! Tunnels seen on gateways (GRE and ERSPAN, VXLAN, Geneve, GTP-U, IP-in-IP,
//! Teredo) are peeled off: the packet is the innermost one, and
//! [`Packet::tunnel`] describes the outer layers.

use std::net::IpAddr;

use arrayvec::ArrayVec;

use crate::capture::{Frame, Timestamp};

mod fast;
mod fragment;
mod ip;
pub mod link;
pub mod tunnel;

use fragment::{Insert, Reassembler};
use ip::{FrameMeta, Outcome};
use link::L3;

/// How many outer layers a packet may carry before it is refused (bounds the
/// work done on a hostile nesting of tunnels).
pub const MAX_TUNNEL_DEPTH: usize = 4;

/// IP protocol numbers used across the crate.
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// The kind of an outer (tunnel) layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    Gre,
    /// ERSPAN type II or III (GRE protocol 0x88be / 0x22eb).
    Erspan,
    Vxlan,
    Geneve,
    GtpU,
    /// IPv4 or IPv6 carried directly in IP (protocols 4 and 41).
    IpInIp,
    Teredo,
}

impl TunnelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::GtpU => "gtp-u",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::Teredo => "teredo",
        }
    }
}

/// One outer layer peeled off a packet: the outer IP endpoints and the
/// tunnel's own identifier where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelLayer {
    pub kind: TunnelKind,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
    /// VXLAN/Geneve VNI, GRE key, GTP-U TEID, ERSPAN session id.
    pub id: Option<u32>,
}

/// The outer layers of a packet, outermost first.
pub type TunnelStack = ArrayVec<TunnelLayer, MAX_TUNNEL_DEPTH>;

/// Transport-layer facts of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP or ICMPv6 (`Packet::ip_proto` tells which).
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    Esp {
        spi: u32,
    },
    /// Any other IP protocol, or a transport header that was cut off.
    Other,
}

/// A TCP header, as far as the flow table needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Flag bits as in the header's 13th byte (FIN=0x01 ... CWR=0x80).
    pub flags: u8,
    pub window: u16,
    /// The raw options bytes (may be shorter than the header says when the
    /// frame was truncated).
    pub options: &'a [u8],
}

/// TCP flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// A decoded packet: the innermost IP packet of a frame.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    /// The frame's length on the wire; the flow's byte counters add this (as
    /// tshark's `frame.len` and Suricata's flow bytes do).
    pub wire_len: u32,
    /// 802.1Q/802.1ad VLAN ids, outermost first (0 where absent).
    pub vlan: [u16; 2],
    /// Outer layers, outermost first; borrowed from the decoder so that a
    /// packet stays small (it is passed by value on the hot path).
    pub tunnel: &'a [TunnelLayer],
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The transport protocol number (after IPv6 extension headers).
    pub ip_proto: u8,
    /// IPv4 TTL or IPv6 hop limit of the innermost IP header.
    pub ttl: u8,
    pub transport: Transport<'a>,
    /// The transport payload, as much of it as was captured.
    pub payload: &'a [u8],
    /// The payload is shorter than the headers say (snap length, truncation).
    pub truncated: bool,
    /// The packet was reassembled from IP fragments.
    pub reassembled: bool,
    /// How many frames this packet stands for (1, or the number of fragments
    /// it was reassembled from); flow packet counters add this.
    pub frames: u32,
}

/// The layer at which decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Link,
    Vlan,
    Mpls,
    Pppoe,
    Ipv4,
    Ipv6,
    Fragment,
    Tunnel,
    Tcp,
    Udp,
    Icmp,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Vlan => "vlan",
            Layer::Mpls => "mpls",
            Layer::Pppoe => "pppoe",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Fragment => "fragment",
            Layer::Tunnel => "tunnel",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmp => "icmp",
        }
    }
}

/// Limits of the decoder (fragment reassembly is its only state).
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Datagrams under reassembly at once; the oldest is dropped beyond it.
    pub max_fragment_datagrams: usize,
    /// Bytes held by all datagrams under reassembly.
    pub fragment_memcap: usize,
    /// A datagram whose fragments stop arriving is dropped after this.
    pub fragment_timeout_ns: u64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_fragment_datagrams: 1024,
            fragment_memcap: 16 << 20,
            fragment_timeout_ns: 30_000_000_000,
        }
    }
}

/// Per-layer, per-reason decode counters. Mergeable across workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeCounters {
    /// Frames given to the decoder.
    pub frames: u64,
    /// Packets produced (a reassembled datagram counts once).
    pub packets: u64,
    /// Frames that carry no IP (ARP, LLDP, STP...): not errors.
    pub non_ip: u64,
    /// Fragments held until their datagram completes.
    pub fragments_held: u64,
    /// `(layer, reason) -> count` for frames that could not be decoded.
    pub errors: std::collections::BTreeMap<(Layer, &'static str), u64>,
}

impl DecodeCounters {
    pub fn merge(&mut self, other: &DecodeCounters) {
        self.frames += other.frames;
        self.packets += other.packets;
        self.non_ip += other.non_ip;
        self.fragments_held += other.fragments_held;
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_default() += v;
        }
    }
}

/// Decodes frames into packets. One per worker; not shared.
pub struct Decoder {
    /// Scratch state of the current frame's walk (VLANs, tunnel layers),
    /// kept here so packets can borrow the tunnel layers from it.
    walk: Walk,
    pub counters: DecodeCounters,
    #[allow(dead_code)]
    config: DecodeConfig,
    fragments: Reassembler,
}

impl Decoder {
    pub fn new(config: DecodeConfig) -> Decoder {
        Decoder {
            counters: DecodeCounters::default(),
            walk: Walk::default(),
            fragments: Reassembler::new(&config),
            config,
        }
    }

    /// Decode one frame. `None` when the frame yields no packet now (not IP,
    /// malformed: counted; or a fragment held for reassembly).
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Option<Packet<'a>> {
        let Decoder {
            counters,
            fragments,
            walk,
            ..
        } = self;
        counters.frames += 1;
        if fragments.live() > 0 {
            fragments.expire(frame.ts, counters);
        }
        let meta = FrameMeta {
            ts: frame.ts,
            wire_len: frame.orig_len,
        };
        walk.reset();
        let w = walk;
        if let Some(p) = fast::decode(frame, w, meta) {
            return finish(counters, w, Some(p));
        }
        let outcome = match link::walk_frame(frame.link, frame.data, w) {
            L3::Ip(ip) => ip::walk_ip(ip, w, meta),
            L3::NonIp => Outcome::NonIp,
            L3::Err(layer, reason) => Outcome::Err(layer, reason),
        };
        let frag = match outcome {
            Outcome::Packet(p) => return finish(counters, w, Some(p)),
            Outcome::NonIp => {
                counters.non_ip += 1;
                return finish(counters, w, None);
            }
            Outcome::Err(layer, reason) => {
                bump(counters, layer, reason);
                return finish(counters, w, None);
            }
            Outcome::Fragment(f) => f,
        };
        let done = match fragments.insert(&frag, frame.ts, counters) {
            Insert::Held => {
                counters.fragments_held += 1;
                return finish(counters, w, None);
            }
            Insert::Dropped => return finish(counters, w, None),
            Insert::Complete(done) => done,
        };
        // The datagram lives in the reassembler until the next insert, which
        // cannot happen while the returned packet borrows the decoder.
        let fragments: &'a Reassembler = fragments;
        let datagram = fragments.datagram(done);
        match ip::walk_ip(datagram, w, meta) {
            Outcome::Packet(mut p) => {
                p.reassembled = true;
                p.frames = done.frames;
                finish(counters, w, Some(p))
            }
            Outcome::NonIp => {
                counters.non_ip += 1;
                finish(counters, w, None)
            }
            Outcome::Err(layer, reason) => {
                bump(counters, layer, reason);
                finish(counters, w, None)
            }
            Outcome::Fragment(_) => {
                bump(counters, Layer::Fragment, "nested fragment");
                finish(counters, w, None)
            }
        }
    }
}

/// Count the walk's notes and the packet, and lend the packet the walk's
/// tunnel layers.
fn finish<'a>(
    c: &mut DecodeCounters,
    w: &'a mut Walk,
    p: Option<Packet<'a>>,
) -> Option<Packet<'a>> {
    if let Some((layer, reason)) = w.note {
        bump(c, layer, reason);
    }
    let w: &'a Walk = w;
    p.map(|mut p| {
        c.packets += 1;
        p.tunnel = w.tunnel.as_slice();
        p
    })
}

fn bump(c: &mut DecodeCounters, layer: Layer, reason: &'static str) {
    *c.errors.entry((layer, reason)).or_default() += 1;
}

/// State carried through the layers of one frame.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub vlan: [u16; 2],
    vlans_seen: u8,
    pub tunnel: TunnelStack,
    /// A problem that did not stop decoding (a cut-off transport header).
    pub note: Option<(Layer, &'static str)>,
}

impl Walk {
    fn reset(&mut self) {
        self.vlan = [0; 2];
        self.vlans_seen = 0;
        self.tunnel.clear();
        self.note = None;
    }

    /// Record a VLAN id: the outermost two of the outer frame only (tags of
    /// a frame inside a tunnel belong to another network).
    pub(crate) fn push_vlan(&mut self, id: u16) {
        if !self.tunnel.is_empty() {
            return;
        }
        if let Some(slot) = self.vlan.get_mut(usize::from(self.vlans_seen)) {
            *slot = id;
        }
        self.vlans_seen = self.vlans_seen.saturating_add(1);
    }

    pub(crate) fn note(&mut self, layer: Layer, reason: &'static str) {
        self.note.get_or_insert((layer, reason));
    }
}

/// The innermost IP address pair of a frame, found without state (no
/// fragment reassembly, no counters), for sharding frames over workers.
/// Every fragment of a datagram gives the same pair as its whole.
///
/// The walk stops at the first fragmented IP layer and gives its addresses:
/// later fragments do not show what is inside, so a fragmented tunnel
/// packet is sharded by its outer pair.
pub fn shard_addresses(frame: &Frame<'_>) -> Option<(IpAddr, IpAddr)> {
    let mut w = Walk::default();
    let meta = FrameMeta {
        ts: frame.ts,
        wire_len: frame.orig_len,
    };
    let L3::Ip(ip) = link::walk_frame(frame.link, frame.data, &mut w) else {
        return None;
    };
    if let Some(pair) = plain_ip_pair(ip) {
        return Some(pair);
    }
    match ip::walk_ip(ip, &mut w, meta) {
        Outcome::Packet(p) => Some((p.src, p.dst)),
        Outcome::Fragment(f) => Some((f.key.src, f.key.dst)),
        Outcome::NonIp | Outcome::Err(..) => None,
    }
}

/// The payload of a frame's innermost UDP datagram when it comes from
/// `src_port`, found without state (no fragment reassembly, no counters).
/// The same frame always gives the same answer, whichever worker asks: the
/// DNS name caches of all workers are fed through it (a fragmented
/// datagram gives `None`, in every worker alike).
pub fn stateless_udp_from<'a>(frame: &Frame<'a>, src_port: u16) -> Option<&'a [u8]> {
    let mut w = Walk::default();
    let meta = FrameMeta {
        ts: frame.ts,
        wire_len: frame.orig_len,
    };
    let from = |p: Packet<'a>| match p.transport {
        Transport::Udp { src_port: s, .. } if s == src_port && !p.truncated => Some(p.payload),
        _ => None,
    };
    // The common frame is read from fixed offsets; the rest take the walk.
    if let Some(p) = fast::decode(frame, &mut w, meta) {
        return from(p);
    }
    w.reset();
    let L3::Ip(ip) = link::walk_frame(frame.link, frame.data, &mut w) else {
        return None;
    };
    match ip::walk_ip(ip, &mut w, meta) {
        Outcome::Packet(p) => from(p),
        _ => None,
    }
}

/// The address pair of an IP packet that cannot hold a tunnel: TCP, ICMP,
/// ESP, UDP off the tunnel ports, or any IPv4 fragment (whose pair is the
/// datagram's). Read straight from the fixed header, so sharding skips the
/// full walk for almost every frame; `None` sends the frame down the walk.
/// It must agree with the walk wherever both give a pair (the corpus test
/// `shard_pair_matches_packet` checks every frame).
fn plain_ip_pair(ip: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let first = *ip.first()?;
    let (proto, src, dst, l4) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            let (src, dst) = (IpAddr::from(src), IpAddr::from(dst));
            // More-fragments flag or a fragment offset.
            if ihl < 20 || link::be16(ip, 6)? & 0x3fff != 0 {
                return (ihl >= 20).then_some((src, dst));
            }
            (*ip.get(9)?, src, dst, ip.get(ihl..)?)
        }
        6 => {
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                *ip.get(6)?,
                IpAddr::from(src),
                IpAddr::from(dst),
                ip.get(40..)?,
            )
        }
        _ => return None,
    };
    let plain = match proto {
        ip_proto::TCP | ip_proto::ICMP | ip_proto::ICMPV6 | ip_proto::ESP => true,
        ip_proto::UDP => {
            let (sport, dport) = (link::be16(l4, 0)?, link::be16(l4, 2)?);
            ![
                tunnel::udp_port::VXLAN,
                tunnel::udp_port::GENEVE,
                tunnel::udp_port::GTP_U,
                tunnel::udp_port::TEREDO,
            ]
            .iter()
            .any(|&p| p == sport || p == dport)
        }
        _ => false,
    };
    plain.then_some((src, dst))
}

#[cfg(test)]
mod tests;
