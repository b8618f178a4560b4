//! The canonical, bidirectional key of a flow and the flow id.
//!
//! Both directions of a conversation map to one [`FlowKey`]: the
//! `(address, port)` pair that sorts lower is stored first, and
//! [`FlowKey::from_packet`] says whether the packet's sender is that lower
//! side. Addresses are stored as 16 bytes plus a family flag, so the key is a
//! plain `Copy` value that hashes without touching the heap.
//!
//! What goes into the ports depends on the protocol:
//! - TCP and UDP: the ports;
//! - ICMP and ICMPv6: nothing (address pair + protocol; the first type/code
//!   is remembered by the flow, not keyed);
//! - ESP: the SPI (so each SPI, hence each direction of an SA, is its own flow);
//! - anything else, or a transport header that was cut off: nothing.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::decode::{Packet, Transport};

/// Flow ids are masked to 52 bits so that JSON readers, which hold numbers
/// as IEEE doubles, keep them exact.
pub const FLOW_ID_MASK: u64 = (1 << 52) - 1;

/// The bidirectional identity of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    lo_addr: [u8; 16],
    hi_addr: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    vlan: [u16; 2],
    /// ESP SPI, 0 for every other protocol.
    spi: u32,
    proto: u8,
    v6: bool,
}

impl Hash for FlowKey {
    // Three 128-bit writes of the packed key rather than field by field (or
    // six 64-bit writes): foldhash mixes a `u128` in one folded multiply,
    // with no buffering, so this is the fewest hasher rounds on the
    // per-packet path. The addresses are taken in native byte order: the
    // table's hash only has to be consistent within the process (unlike
    // [`FlowKey::flow_id`]), and the randomly seeded hasher still sees
    // every key bit.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let rest = u128::from(self.lo_port)
            | u128::from(self.hi_port) << 16
            | u128::from(self.vlan[0]) << 32
            | u128::from(self.vlan[1]) << 48
            | u128::from(self.spi) << 64
            | u128::from(self.proto) << 96
            | u128::from(self.v6) << 104;
        state.write_u128(u128::from_ne_bytes(self.lo_addr));
        state.write_u128(u128::from_ne_bytes(self.hi_addr));
        state.write_u128(rest);
    }
}

/// An address as 16 bytes (IPv4 in the first four) and its family.
fn addr_bytes(a: IpAddr) -> ([u8; 16], bool) {
    match a {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (b, false)
        }
        IpAddr::V6(v6) => (v6.octets(), true),
    }
}

/// The ports (or SPI) a packet contributes to its key, sender first.
fn packet_ports(t: &Transport<'_>) -> (u16, u16, u32) {
    match t {
        Transport::Tcp(seg) => (seg.src_port, seg.dst_port, 0),
        Transport::Udp { src_port, dst_port } => (*src_port, *dst_port, 0),
        Transport::Esp { spi } => (0, 0, *spi),
        Transport::Icmp { .. } | Transport::Other => (0, 0, 0),
    }
}

impl FlowKey {
    /// The key of a packet's flow, and whether the packet's sender is the
    /// key's lower side.
    pub fn from_packet(pkt: &Packet<'_>) -> (FlowKey, bool) {
        let (src, v6) = addr_bytes(pkt.src);
        let (dst, _) = addr_bytes(pkt.dst);
        let (sport, dport, spi) = packet_ports(&pkt.transport);
        // `<=` so that a packet from an endpoint to itself is "from lo" both
        // ways: such a flow has one direction.
        // Compared as big-endian integers (the same order as the bytes), which
        // is one instruction instead of a slice comparison.
        let src_is_lo = (u128::from_be_bytes(src), sport) <= (u128::from_be_bytes(dst), dport);
        let (lo_addr, lo_port, hi_addr, hi_port) = if src_is_lo {
            (src, sport, dst, dport)
        } else {
            (dst, dport, src, sport)
        };
        let key = FlowKey {
            lo_addr,
            hi_addr,
            lo_port,
            hi_port,
            vlan: pkt.vlan,
            spi,
            proto: pkt.ip_proto,
            v6,
        };
        (key, src_is_lo)
    }

    /// The key packed into 64-bit words (used by both hashes).
    fn words(&self) -> [u64; 6] {
        let a = u128::from_be_bytes(self.lo_addr);
        let b = u128::from_be_bytes(self.hi_addr);
        [
            a as u64,
            (a >> 64) as u64,
            b as u64,
            (b >> 64) as u64,
            (self.lo_port as u64) << 48
                | (self.hi_port as u64) << 32
                | (self.vlan[0] as u64) << 16
                | self.vlan[1] as u64,
            (self.spi as u64) << 32 | (self.proto as u64) << 8 | self.v6 as u64,
        ]
    }

    /// A deterministic id for the flow that starts at `start`: the same key
    /// and start give the same id in every run, on every machine and with
    /// any number of workers (fixed constants, no random seed).
    pub fn flow_id(&self, start: Timestamp) -> u64 {
        let mut h: u64 = 0x6761_7465_7761_7463; // "gatewatc"
        for w in self.words() {
            h = mix64(h ^ w);
        }
        h = mix64(h ^ start.nanos() as u64);
        h & FLOW_ID_MASK
    }
}

/// The SplitMix64 finaliser: a bijective mix with good avalanche.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpSegment;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn pkt(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Packet<'static> {
        Packet {
            ts: Timestamp(0),
            wire_len: 60,
            vlan: [0, 0],
            tunnel: &[],
            src,
            dst,
            ip_proto: 6,
            ttl: 64,
            transport: Transport::Tcp(TcpSegment {
                src_port: sport,
                dst_port: dport,
                seq: 0,
                ack: 0,
                flags: 0x10,
                window: 0,
                options: &[],
            }),
            payload: &[],
            truncated: false,
            reassembled: false,
            frames: 1,
        }
    }

    #[test]
    fn both_directions_share_a_key() {
        // ecdhe.pcap: 192.168.18.50:56981 -> 74.125.239.97:443.
        let c = IpAddr::V4(Ipv4Addr::new(192, 168, 18, 50));
        let s = IpAddr::V4(Ipv4Addr::new(74, 125, 239, 97));
        let (k1, lo1) = FlowKey::from_packet(&pkt(c, 56981, s, 443));
        let (k2, lo2) = FlowKey::from_packet(&pkt(s, 443, c, 56981));
        assert_eq!(k1, k2);
        // 74.x sorts below 192.x, so the server is the lower side.
        assert!(!lo1);
        assert!(lo2);
        assert_eq!(k1.flow_id(Timestamp(5)), k2.flow_id(Timestamp(5)));
        assert_ne!(k1.flow_id(Timestamp(5)), k1.flow_id(Timestamp(6)));
        assert!(k1.flow_id(Timestamp(5)) <= FLOW_ID_MASK);
    }

    #[test]
    fn same_address_lower_port_first() {
        let a = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let (k1, lo1) = FlowKey::from_packet(&pkt(a, 57388, a, 22));
        let (k2, lo2) = FlowKey::from_packet(&pkt(a, 22, a, 57388));
        assert_eq!(k1, k2);
        assert!(!lo1 && lo2);
    }

    #[test]
    fn vlan_and_family_separate_flows() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let p = pkt(a, 1, b, 2);
        let mut q = p.clone();
        q.vlan = [100, 0];
        assert_ne!(FlowKey::from_packet(&p).0, FlowKey::from_packet(&q).0);
    }

    #[test]
    fn flow_id_is_fixed_across_runs() {
        // The id must not depend on a random seed: two computations in
        // different table instances (or processes) agree; pin one value
        // computed by hand-rolled SplitMix so a change of the recipe shows.
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let (k, _) = FlowKey::from_packet(&pkt(a, 1, b, 2));
        let mut h: u64 = 0x6761_7465_7761_7463;
        for w in [
            0,
            0x0a00_0001u64 << 32,
            0,
            0x0a00_0002u64 << 32,
            1u64 << 48 | 2u64 << 32,
            6u64 << 8,
        ] {
            h = mix64(h ^ w);
        }
        h = mix64(h ^ 7);
        assert_eq!(k.flow_id(Timestamp(7)), h & FLOW_ID_MASK);
    }
}
