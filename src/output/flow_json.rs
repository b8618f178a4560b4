//! The `flow` event written by hand, byte for byte what `serde_json` wrote
//! from the borrowed `#[derive(Serialize)]` structs it replaces (kept in
//! `serde_reference`, under `cfg(test)`, as the oracle of a differential
//! test).
//!
//! Why by hand: one flow event is written per flow, and through serde it
//! cost about a microsecond (a generic map serialiser per nested struct,
//! `collect_str` through `fmt` for the hex flags and protocol numbers, an
//! escape scan of every string). Every string written here is either one of
//! our own ASCII constants, an RFC 3339 timestamp, a Community ID (base64)
//! or an IP address: none can hold a character JSON must escape, so they
//! are copied as they are. Integers go through `itoa` (what `serde_json`
//! uses) and the few floats through `serde_json` itself, so the digits are
//! the same by construction.
//!
//! Field order, and which optional fields are left out, follow
//! `docs/events.md` and `schema/flow.json`.

use std::io::Write as _;
use std::net::IpAddr;

use super::community_id::flow_community_id;
use super::time::format_rfc3339;
use super::{flow_age, has_ports, ns_to_ms, proto_name, COMMUNITY_ID_SEED};
use crate::decode::{ip_proto, tcp_flags, TunnelLayer};
use crate::flow::{FlowSummary, SynInfo, TcpSummary};
use crate::site::SiteNetworks;

use super::Remote;

/// Append one `flow` event (a JSON object and `\n`) to `buf`.
pub(super) fn write_flow_event(
    buf: &mut Vec<u8>,
    flow: &FlowSummary,
    site: &SiteNetworks,
    remote: Option<Remote<'_>>,
) {
    write_event(buf, b"flow", flow, site, remote, None);
}

/// A `flow` event, or (with `remote_access`) the `session` event that
/// shares its fields.
pub(super) fn write_event(
    buf: &mut Vec<u8>,
    event_type: &[u8],
    flow: &FlowSummary,
    site: &SiteNetworks,
    remote: Option<Remote<'_>>,
    remote_access: Option<&crate::proto::RemoteAccess>,
) {
    let ep = &flow.endpoints;
    let ports = has_ports(ep.ip_proto);
    let icmp = matches!(ep.ip_proto, ip_proto::ICMP | ip_proto::ICMPV6);
    let icmp_tc = if icmp { ep.icmp_type_code } else { None };

    // The capture time of the flow's last packet: when its record became
    // final, and independent of the tick that emitted it.
    buf.extend_from_slice(b"{\"timestamp\":");
    time(buf, flow.end);
    buf.extend_from_slice(b",\"flow_id\":");
    uint(buf, flow.flow_id);
    buf.extend_from_slice(b",\"event_type\":\"");
    buf.extend_from_slice(event_type);
    buf.push(b'"');
    if ep.vlan != [0, 0] {
        // Outermost first, absent (zero) tags left out.
        buf.extend_from_slice(b",\"vlan\":[");
        list(
            buf,
            ep.vlan.iter().filter(|&&v| v != 0).map(|&v| u64::from(v)),
        );
        buf.push(b']');
    }
    buf.extend_from_slice(b",\"src_ip\":");
    ip(buf, ep.src_ip);
    if ports {
        buf.extend_from_slice(b",\"src_port\":");
        uint(buf, u64::from(ep.src_port));
    }
    buf.extend_from_slice(b",\"dest_ip\":");
    ip(buf, ep.dst_ip);
    if ports {
        buf.extend_from_slice(b",\"dest_port\":");
        uint(buf, u64::from(ep.dst_port));
    }
    buf.extend_from_slice(b",\"proto\":\"");
    match proto_name(ep.ip_proto) {
        Some(name) => buf.extend_from_slice(name.as_bytes()),
        // Suricata writes unnamed protocols as their number, in a string.
        None => uint(buf, u64::from(ep.ip_proto)),
    }
    buf.push(b'"');
    if let Some((t, c)) = icmp_tc {
        buf.extend_from_slice(b",\"icmp_type\":");
        uint(buf, u64::from(t));
        buf.extend_from_slice(b",\"icmp_code\":");
        uint(buf, u64::from(c));
    }
    if let Some(spi) = ep.spi {
        buf.extend_from_slice(b",\"spi\":");
        uint(buf, u64::from(spi));
    }
    buf.extend_from_slice(b",\"community_id\":");
    string(
        buf,
        flow_community_id(ep, COMMUNITY_ID_SEED).as_str().as_bytes(),
    );
    buf.extend_from_slice(b",\"direction\":");
    string(
        buf,
        site.direction(ep.src_ip, ep.dst_ip).as_str().as_bytes(),
    );
    if let Some(app) = flow.app.as_deref() {
        super::app_json::app_proto_field(buf, app);
    }
    if let Some(ra) = remote_access {
        super::app_json::remote_access_field(buf, ra);
    }
    flow_part(buf, flow);
    if let Some(t) = &flow.tcp {
        tcp_part(buf, t, flow.initiator_from_syn);
    }
    if !flow.tunnel.is_empty() {
        tunnel_part(buf, &flow.tunnel);
    }
    if let Some(app) = flow.app.as_deref() {
        super::app_json::app_objects(buf, app);
    }
    if let Some(r) = remote {
        remote_part(buf, r);
    }
    buf.extend_from_slice(b"}\n");
}

/// The far end's `geo` and `labels`. Their strings come from databases and
/// lists, so they go through serde_json, which escapes them.
fn remote_part(buf: &mut Vec<u8>, r: Remote<'_>) {
    #[derive(serde::Serialize)]
    struct Geo<'a> {
        ip: IpAddr,
        #[serde(flatten)]
        info: &'a crate::enrich::GeoInfo,
    }
    let start = buf.len();
    if !r.info.geo.is_empty() {
        buf.extend_from_slice(b",\"geo\":");
        let geo = Geo {
            ip: r.ip,
            info: &r.info.geo,
        };
        if serde_json::to_writer(&mut *buf, &geo).is_err() {
            buf.truncate(start);
            return;
        }
    }
    if !r.info.labels.is_empty() {
        let mark = buf.len();
        buf.extend_from_slice(b",\"labels\":");
        if serde_json::to_writer(&mut *buf, &r.info.labels).is_err() {
            buf.truncate(mark);
        }
    }
}

fn flow_part(buf: &mut Vec<u8>, f: &FlowSummary) {
    buf.extend_from_slice(b",\"flow\":{\"pkts_toserver\":");
    uint(buf, f.pkts_toserver);
    buf.extend_from_slice(b",\"pkts_toclient\":");
    uint(buf, f.pkts_toclient);
    buf.extend_from_slice(b",\"bytes_toserver\":");
    uint(buf, f.bytes_toserver);
    buf.extend_from_slice(b",\"bytes_toclient\":");
    uint(buf, f.bytes_toclient);
    buf.extend_from_slice(b",\"start\":");
    time(buf, f.start);
    buf.extend_from_slice(b",\"end\":");
    time(buf, f.end);
    buf.extend_from_slice(b",\"age\":");
    let mut digits = itoa::Buffer::new();
    buf.extend_from_slice(digits.format(flow_age(f.start, f.end)).as_bytes());
    buf.extend_from_slice(b",\"state\":");
    string(buf, f.state.as_str().as_bytes());
    buf.extend_from_slice(b",\"reason\":");
    string(buf, f.reason.as_str().as_bytes());
    buf.push(b'}');
}

/// The flag names Suricata sets to `true` (and leaves out when false), in
/// its order.
const FLAG_FIELDS: [(u8, &[u8]); 8] = [
    (tcp_flags::SYN, b",\"syn\":true"),
    (tcp_flags::FIN, b",\"fin\":true"),
    (tcp_flags::RST, b",\"rst\":true"),
    (tcp_flags::PSH, b",\"psh\":true"),
    (tcp_flags::ACK, b",\"ack\":true"),
    (tcp_flags::URG, b",\"urg\":true"),
    (tcp_flags::ECE, b",\"ecn\":true"),
    (tcp_flags::CWR, b",\"cwr\":true"),
];

fn tcp_part(buf: &mut Vec<u8>, t: &TcpSummary, initiator_from_syn: bool) {
    let all = t.flags_toserver | t.flags_toclient;
    buf.extend_from_slice(b",\"tcp\":{\"tcp_flags\":");
    hex_flags(buf, all);
    buf.extend_from_slice(b",\"tcp_flags_ts\":");
    hex_flags(buf, t.flags_toserver);
    buf.extend_from_slice(b",\"tcp_flags_tc\":");
    hex_flags(buf, t.flags_toclient);
    for (bit, field) in FLAG_FIELDS {
        if all & bit != 0 {
            buf.extend_from_slice(field);
        }
    }
    buf.extend_from_slice(b",\"initiator_from_syn\":");
    boolean(buf, initiator_from_syn);
    if let Some(s) = &t.syn {
        buf.extend_from_slice(b",\"client_syn\":");
        syn_part(buf, s);
    }
    if let Some(s) = &t.syn_ack {
        buf.extend_from_slice(b",\"server_syn_ack\":");
        syn_part(buf, s);
    }
    let rtt = match (t.rtt_syn_synack_ns, t.rtt_synack_ack_ns) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        _ => None,
    };
    let rtts = [
        (b",\"rtt_server_ms\":".as_slice(), t.rtt_syn_synack_ns),
        (b",\"rtt_client_ms\":".as_slice(), t.rtt_synack_ack_ns),
        (b",\"rtt_ms\":".as_slice(), rtt),
    ];
    for (field, ns) in rtts {
        if let Some(ns) = ns {
            buf.extend_from_slice(field);
            float(buf, ns_to_ms(ns));
        }
    }
    buf.extend_from_slice(b",\"overlap_conflicts\":");
    uint(buf, u64::from(t.overlap_conflicts));
    buf.push(b'}');
}

fn syn_part(buf: &mut Vec<u8>, s: &SynInfo) {
    buf.extend_from_slice(b"{\"ttl\":");
    uint(buf, u64::from(s.ttl));
    buf.extend_from_slice(b",\"initial_ttl\":");
    uint(buf, u64::from(s.initial_ttl));
    buf.extend_from_slice(b",\"hops\":");
    uint(buf, u64::from(s.hops));
    buf.extend_from_slice(b",\"window\":");
    uint(buf, u64::from(s.window));
    if let Some(mss) = s.mss {
        buf.extend_from_slice(b",\"mss\":");
        uint(buf, u64::from(mss));
    }
    if let Some(ws) = s.window_scale {
        buf.extend_from_slice(b",\"window_scale\":");
        uint(buf, u64::from(ws));
    }
    buf.extend_from_slice(b",\"sack_permitted\":");
    boolean(buf, s.sack_permitted);
    buf.extend_from_slice(b",\"timestamps\":");
    boolean(buf, s.timestamps);
    buf.extend_from_slice(b",\"options\":[");
    list(buf, s.option_kinds.iter().map(|&k| u64::from(k)));
    buf.extend_from_slice(b"]}");
}

fn tunnel_part(buf: &mut Vec<u8>, layers: &[TunnelLayer]) {
    buf.extend_from_slice(b",\"tunnel\":{\"depth\":");
    uint(buf, layers.len() as u64);
    buf.extend_from_slice(b",\"layers\":[");
    for (i, l) in layers.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"type\":");
        string(buf, l.kind.as_str().as_bytes());
        buf.extend_from_slice(b",\"src_ip\":");
        ip(buf, l.outer_src);
        buf.extend_from_slice(b",\"dest_ip\":");
        ip(buf, l.outer_dst);
        if let Some(id) = l.id {
            buf.extend_from_slice(b",\"id\":");
            uint(buf, u64::from(id));
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
}

/// A string that needs no escaping (see the module documentation).
fn string(buf: &mut Vec<u8>, s: &[u8]) {
    debug_assert!(s
        .iter()
        .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
    buf.push(b'"');
    buf.extend_from_slice(s);
    buf.push(b'"');
}

fn time(buf: &mut Vec<u8>, ts: crate::capture::Timestamp) {
    string(buf, &format_rfc3339(ts));
}

fn uint(buf: &mut Vec<u8>, v: u64) {
    let mut digits = itoa::Buffer::new();
    buf.extend_from_slice(digits.format(v).as_bytes());
}

fn boolean(buf: &mut Vec<u8>, b: bool) {
    buf.extend_from_slice(if b { b"true" } else { b"false" });
}

/// Comma-separated integers (the brackets are the caller's).
fn list(buf: &mut Vec<u8>, values: impl Iterator<Item = u64>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        uint(buf, v);
    }
}

/// A flag byte as Suricata writes it: two lower-case hex digits, quoted.
fn hex_flags(buf: &mut Vec<u8>, f: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.extend_from_slice(&[
        b'"',
        HEX[usize::from(f >> 4)],
        HEX[usize::from(f & 0x0f)],
        b'"',
    ]);
}

/// A float exactly as `serde_json` writes it (shortest round-trip digits,
/// `.0` on whole numbers): rare (handshake RTTs), so not worth our own code.
fn float(buf: &mut Vec<u8>, v: f64) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, &v).is_err() {
        // Writing to a Vec cannot fail; never leave half a number.
        buf.truncate(start);
        buf.extend_from_slice(b"null");
    }
}

/// An address in its text form (as `Display`, which serde used too); IPv4,
/// by far the most common, without going through `fmt`.
fn ip(buf: &mut Vec<u8>, a: IpAddr) {
    buf.push(b'"');
    match a {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                uint(buf, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            // Writing to a Vec cannot fail.
            let _ = write!(buf, "{v6}");
        }
    }
    buf.push(b'"');
}
