//! Events as JSON lines, with field names compatible with Suricata's EVE
//! JSON. See `docs/events.md` for every field and `schema/` for the JSON
//! Schemas that the tests validate each emitted line against.
//!
//! Each event is a borrowed `#[derive(Serialize)]` struct built over the
//! record it describes and written straight into the caller's buffer by
//! `serde_json` (which escapes strings): no intermediate `Value`, and no
//! allocation beyond the line itself. Optional parts are left out rather
//! than written as `null`, as Suricata does.

use std::net::IpAddr;

use serde::Serialize;

use crate::capture::Timestamp;
use crate::decode::{ip_proto, tcp_flags, TunnelLayer};
use crate::flow::{FlowSummary, SynInfo, TcpSummary};
use crate::site::SiteNetworks;

use community_id::{flow_community_id, CommunityId};
use time::Rfc3339;

pub mod community_id;
pub mod stats;
pub mod time;

/// Validation of emitted lines against `schema/*.json` (used by the tests).
pub mod schema_check;

/// The Community ID seed (0, the spec's and Suricata's default).
pub const COMMUNITY_ID_SEED: u16 = 0;

/// Append one `flow` event (a JSON object and `\n`) to `buf`.
pub fn write_flow_event(buf: &mut Vec<u8>, flow: &FlowSummary, site: &SiteNetworks) {
    write_line(buf, &FlowEvent::new(flow, site));
}

/// Serialise `event` and a newline; on the (impossible for a `Vec`) error,
/// leave `buf` as it was rather than with half a line.
fn write_line<T: Serialize>(buf: &mut Vec<u8>, event: &T) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, event).is_err() {
        buf.truncate(start);
        return;
    }
    buf.push(b'\n');
}

/// Suricata's name of an IP protocol, or its number as a string.
#[derive(Debug, Clone, Copy)]
struct ProtoName(u8);

impl ProtoName {
    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            ip_proto::ICMP => "ICMP",
            2 => "IGMP",
            ip_proto::TCP => "TCP",
            ip_proto::UDP => "UDP",
            ip_proto::GRE => "GRE",
            ip_proto::ESP => "ESP",
            ip_proto::AH => "AH",
            ip_proto::ICMPV6 => "IPv6-ICMP",
            ip_proto::SCTP => "SCTP",
            _ => return None,
        })
    }
}

impl Serialize for ProtoName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
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

/// Does the protocol carry ports (which Suricata then logs)?
fn has_ports(proto: u8) -> bool {
    matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP)
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

/// Suricata's `age`: whole seconds between the start's and the end's second
/// fields (not rounded), never negative.
fn flow_age(start: Timestamp, end: Timestamp) -> i64 {
    end.secs().saturating_sub(start.secs()).max(0)
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

/// Nanoseconds as milliseconds, rounded to the microsecond (capture clocks
/// rarely resolve better, and shorter numbers read better).
fn ns_to_ms(ns: u64) -> f64 {
    let micros = ns.saturating_add(500) / 1_000;
    micros as f64 / 1_000.0
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
mod tests;
