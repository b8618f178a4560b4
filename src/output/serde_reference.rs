//! The `flow` event as it was first written: borrowed `#[derive(Serialize)]`
//! structs serialised by `serde_json`. Kept for the tests only, as the
//! oracle that the hand-written [`flow_json`](super::flow_json) writer must
//! match byte for byte (same fields, same order, same omissions, same number
//! formatting).

use std::net::IpAddr;

use serde::Serialize;

use super::community_id::{flow_community_id, CommunityId};
use super::time::Rfc3339;
use super::{flow_age, has_ports, ns_to_ms, proto_name, COMMUNITY_ID_SEED};
use crate::decode::{ip_proto, tcp_flags, TunnelLayer};
use crate::flow::{FlowSummary, SynInfo, TcpSummary};
use crate::site::SiteNetworks;

/// The flow event line, through serde.
pub(super) fn write_flow_event(buf: &mut Vec<u8>, flow: &FlowSummary, site: &SiteNetworks) {
    super::write_line(buf, &FlowEvent::new(flow, site));
}

/// Suricata's name of an IP protocol, or its number as a string.
#[derive(Debug, Clone, Copy)]
struct ProtoName(u8);

impl Serialize for ProtoName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match proto_name(self.0) {
            Some(n) => s.serialize_str(n),
            None => s.collect_str(&self.0),
        }
    }
}

/// VLAN ids, outermost first, zeros (absent tags) left out.
#[derive(Debug, Clone, Copy)]
struct VlanIds([u16; 2]);

impl Serialize for VlanIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().filter(|&&v| v != 0))
    }
}

#[derive(Serialize)]
struct FlowEvent<'a> {
    timestamp: Rfc3339,
    flow_id: u64,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<VlanIds>,
    src_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    dest_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    proto: ProtoName,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spi: Option<u32>,
    community_id: CommunityId,
    direction: &'static str,
    flow: FlowPart,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tunnel: Option<TunnelPart<'a>>,
}

impl<'a> FlowEvent<'a> {
    fn new(flow: &'a FlowSummary, site: &SiteNetworks) -> FlowEvent<'a> {
        let ep = &flow.endpoints;
        let ports = has_ports(ep.ip_proto);
        let icmp = matches!(ep.ip_proto, ip_proto::ICMP | ip_proto::ICMPV6);
        let icmp_tc = if icmp { ep.icmp_type_code } else { None };
        FlowEvent {
            // The capture time of the flow's last packet: when its record
            // became final, and independent of the tick that emitted it.
            timestamp: Rfc3339(flow.end),
            flow_id: flow.flow_id,
            event_type: "flow",
            vlan: (ep.vlan != [0, 0]).then_some(VlanIds(ep.vlan)),
            src_ip: ep.src_ip,
            src_port: ports.then_some(ep.src_port),
            dest_ip: ep.dst_ip,
            dest_port: ports.then_some(ep.dst_port),
            proto: ProtoName(ep.ip_proto),
            icmp_type: icmp_tc.map(|(t, _)| t),
            icmp_code: icmp_tc.map(|(_, c)| c),
            spi: ep.spi,
            community_id: flow_community_id(ep, COMMUNITY_ID_SEED),
            direction: site.direction(ep.src_ip, ep.dst_ip).as_str(),
            flow: FlowPart::new(flow),
            tcp: flow
                .tcp
                .as_ref()
                .map(|t| TcpPart::new(t, flow.initiator_from_syn)),
            tunnel: (!flow.tunnel.is_empty()).then(|| TunnelPart {
                depth: flow.tunnel.len(),
                layers: flow.tunnel.as_slice(),
            }),
        }
    }
}

#[derive(Serialize)]
struct FlowPart {
    pkts_toserver: u64,
    pkts_toclient: u64,
    bytes_toserver: u64,
    bytes_toclient: u64,
    start: Rfc3339,
    end: Rfc3339,
    age: i64,
    state: &'static str,
    reason: &'static str,
}

impl FlowPart {
    fn new(f: &FlowSummary) -> FlowPart {
        FlowPart {
            pkts_toserver: f.pkts_toserver,
            pkts_toclient: f.pkts_toclient,
            bytes_toserver: f.bytes_toserver,
            bytes_toclient: f.bytes_toclient,
            start: Rfc3339(f.start),
            end: Rfc3339(f.end),
            age: flow_age(f.start, f.end),
            state: f.state.as_str(),
            reason: f.reason.as_str(),
        }
    }
}

/// A flag byte as Suricata writes it: two lower-case hex digits.
#[derive(Debug, Clone, Copy)]
struct HexFlags(u8);

impl Serialize for HexFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:02x}", self.0))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct TcpPart<'a> {
    tcp_flags: HexFlags,
    tcp_flags_ts: HexFlags,
    tcp_flags_tc: HexFlags,
    #[serde(skip_serializing_if = "is_false")]
    syn: bool,
    #[serde(skip_serializing_if = "is_false")]
    fin: bool,
    #[serde(skip_serializing_if = "is_false")]
    rst: bool,
    #[serde(skip_serializing_if = "is_false")]
    psh: bool,
    #[serde(skip_serializing_if = "is_false")]
    ack: bool,
    #[serde(skip_serializing_if = "is_false")]
    urg: bool,
    #[serde(skip_serializing_if = "is_false")]
    ecn: bool,
    #[serde(skip_serializing_if = "is_false")]
    cwr: bool,
    initiator_from_syn: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_syn: Option<SynPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_syn_ack: Option<SynPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_server_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_client_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<f64>,
    overlap_conflicts: u32,
}

impl<'a> TcpPart<'a> {
    fn new(t: &'a TcpSummary, initiator_from_syn: bool) -> TcpPart<'a> {
        let all = t.flags_toserver | t.flags_toclient;
        let has = |bit: u8| all & bit != 0;
        let rtt = match (t.rtt_syn_synack_ns, t.rtt_synack_ack_ns) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            _ => None,
        };
        TcpPart {
            tcp_flags: HexFlags(all),
            tcp_flags_ts: HexFlags(t.flags_toserver),
            tcp_flags_tc: HexFlags(t.flags_toclient),
            syn: has(tcp_flags::SYN),
            fin: has(tcp_flags::FIN),
            rst: has(tcp_flags::RST),
            psh: has(tcp_flags::PSH),
            ack: has(tcp_flags::ACK),
            urg: has(tcp_flags::URG),
            ecn: has(tcp_flags::ECE),
            cwr: has(tcp_flags::CWR),
            initiator_from_syn,
            client_syn: t.syn.as_ref().map(SynPart::new),
            server_syn_ack: t.syn_ack.as_ref().map(SynPart::new),
            rtt_server_ms: t.rtt_syn_synack_ns.map(ns_to_ms),
            rtt_client_ms: t.rtt_synack_ack_ns.map(ns_to_ms),
            rtt_ms: rtt.map(ns_to_ms),
            overlap_conflicts: t.overlap_conflicts,
        }
    }
}

#[derive(Serialize)]
struct SynPart<'a> {
    ttl: u8,
    initial_ttl: u8,
    hops: u8,
    window: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    mss: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: bool,
    options: &'a [u8],
}

impl<'a> SynPart<'a> {
    fn new(s: &'a SynInfo) -> SynPart<'a> {
        SynPart {
            ttl: s.ttl,
            initial_ttl: s.initial_ttl,
            hops: s.hops,
            window: s.window,
            mss: s.mss,
            window_scale: s.window_scale,
            sack_permitted: s.sack_permitted,
            timestamps: s.timestamps,
            options: s.option_kinds.as_slice(),
        }
    }
}

#[derive(Serialize)]
struct TunnelPart<'a> {
    depth: usize,
    #[serde(serialize_with = "serialize_layers")]
    layers: &'a [TunnelLayer],
}

fn serialize_layers<S: serde::Serializer>(
    layers: &&[TunnelLayer],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(layers.iter().map(LayerPart::new))
}

#[derive(Serialize)]
struct LayerPart {
    #[serde(rename = "type")]
    kind: &'static str,
    src_ip: IpAddr,
    dest_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
}

impl LayerPart {
    fn new(l: &TunnelLayer) -> LayerPart {
        LayerPart {
            kind: l.kind.as_str(),
            src_ip: l.outer_src,
            dest_ip: l.outer_dst,
            id: l.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::capture::Timestamp;
    use crate::decode::{TunnelKind, TunnelStack};
    use crate::flow::{EndReason, FlowEndpoints, FlowState};

    /// xorshift64*: a fixed sequence, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[(self.next() % from.len() as u64) as usize]
        }
        fn chance(&mut self) -> bool {
            self.next() & 1 == 0
        }
        /// Small, edge and huge values alike.
        fn number(&mut self) -> u64 {
            match self.next() % 4 {
                0 => self.next() % 10,
                1 => self.next() % 100_000,
                2 => self.pick(&[0, 1, 9, 10, 99, 100, u64::from(u32::MAX), u64::MAX]),
                _ => self.next(),
            }
        }
    }

    fn addr(r: &mut Rng, v6: bool) -> IpAddr {
        if !v6 {
            let any = r.next() as u32;
            let picked = r.pick(&[0, u32::MAX, 0x0a00_0001, 0xc0a8_0001, any, any]);
            return IpAddr::V4(Ipv4Addr::from(picked));
        }
        IpAddr::V6(match r.next() % 4 {
            0 => Ipv6Addr::LOCALHOST,
            1 => Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
            2 => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, r.next() as u16),
            _ => Ipv6Addr::from(u128::from(r.next()) << 64 | u128::from(r.next())),
        })
    }

    fn syn_info(r: &mut Rng) -> SynInfo {
        SynInfo {
            ttl: r.next() as u8,
            initial_ttl: r.pick(&[64, 128, 255]),
            hops: r.next() as u8,
            window: r.next() as u16,
            mss: r.chance().then(|| r.next() as u16),
            window_scale: r.chance().then(|| r.next() as u8),
            sack_permitted: r.chance(),
            timestamps: r.chance(),
            option_kinds: (0..r.next() % 17).map(|_| r.next() as u8).collect(),
        }
    }

    fn tcp(r: &mut Rng) -> TcpSummary {
        let ns = |r: &mut Rng| match r.next() % 3 {
            0 => None,
            1 => Some(r.next() % 2_000_000_000),
            _ => Some(r.number()),
        };
        TcpSummary {
            syn: r.chance().then(|| syn_info(r)),
            syn_ack: r.chance().then(|| syn_info(r)),
            rtt_syn_synack_ns: ns(r),
            rtt_synack_ack_ns: ns(r),
            flags_toserver: r.next() as u8,
            flags_toclient: r.next() as u8,
            overlap_conflicts: r.number() as u32,
            ..TcpSummary::default()
        }
    }

    fn flow(r: &mut Rng) -> FlowSummary {
        let v6 = r.chance();
        let proto = r.pick(&[6, 6, 17, 17, 1, 58, 50, 47, 51, 132, 2, 0, 99, 255]);
        let kinds = [
            TunnelKind::Gre,
            TunnelKind::Erspan,
            TunnelKind::Vxlan,
            TunnelKind::Geneve,
            TunnelKind::GtpU,
            TunnelKind::IpInIp,
            TunnelKind::Teredo,
        ];
        let mut tunnel = TunnelStack::new();
        for _ in 0..r.next() % 5 {
            let outer_v6 = r.chance();
            tunnel.push(crate::decode::TunnelLayer {
                kind: r.pick(&kinds),
                outer_src: addr(r, outer_v6),
                outer_dst: addr(r, outer_v6),
                id: r.chance().then(|| r.next() as u32),
            });
        }
        let start = Timestamp(r.pick(&[i64::MIN, -1, 0, 1_700_000_000_123_456_789]));
        let end = Timestamp(r.pick(&[i64::MAX, 0, 1_700_000_090_987_654_321]));
        FlowSummary {
            flow_id: r.next() & crate::flow::key::FLOW_ID_MASK,
            endpoints: FlowEndpoints {
                src_ip: addr(r, v6),
                src_port: r.next() as u16,
                dst_ip: addr(r, v6),
                dst_port: r.next() as u16,
                ip_proto: proto,
                icmp_type_code: r.chance().then(|| (r.next() as u8, r.next() as u8)),
                vlan: [r.pick(&[0, 1, 4095]), r.pick(&[0, 7, 100])],
                spi: r.chance().then(|| r.next() as u32),
            },
            initiator_from_syn: r.chance(),
            start,
            end,
            pkts_toserver: r.number(),
            pkts_toclient: r.number(),
            bytes_toserver: r.number(),
            bytes_toclient: r.number(),
            state: r.pick(&[FlowState::New, FlowState::Established, FlowState::Closed]),
            reason: r.pick(&[
                EndReason::Timeout,
                EndReason::Closed,
                EndReason::Evicted,
                EndReason::Shutdown,
            ]),
            tcp: r.chance().then(|| tcp(r)),
            tunnel,
            app: None,
        }
    }

    /// The hand-written writer and the serde structs agree byte for byte on
    /// flows that exercise every optional field, both address families,
    /// named and unnamed protocols, and extreme numbers and timestamps.
    #[test]
    fn hand_written_flow_event_matches_serde() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut narrow = SiteNetworks::empty();
        narrow.add_cidr("192.0.2.0/24").unwrap();
        let sites = [SiteNetworks::default(), narrow];
        for i in 0..20_000 {
            let f = flow(&mut r);
            let site = &sites[i % 2];
            let (mut ours, mut theirs) = (b"x\n".to_vec(), b"x\n".to_vec());
            super::super::write_flow_event(&mut ours, &f, site);
            write_flow_event(&mut theirs, &f, site);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "flow {i}: {f:?}"
            );
        }
    }
}
