//! Tests of the flow and stats events: flows built by hand from real
//! captures (values read with tshark), checked field by field after parsing
//! the line back, and validated against `schema/*.json`.

use std::net::IpAddr;

use arrayvec::ArrayVec;
use serde_json::{json, Value};

use super::schema_check::validate;
use super::stats::write_stats_event;
use super::*;
use crate::decode::{TunnelKind, TunnelLayer, TunnelStack};
use crate::flow::{EndReason, FlowEndpoints, FlowState, SynInfo, TcpSummary};
use crate::pipeline::RunStats;

const FLOW_SCHEMA: &str = include_str!("../../schema/flow.json");
const STATS_SCHEMA: &str = include_str!("../../schema/stats.json");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ts(secs: i64, micros: u32) -> Timestamp {
    Timestamp::from_secs_nanos(secs, micros * 1_000)
}

/// Serialise, check it is exactly one line, validate, parse back.
fn flow_json(flow: &FlowSummary, site: &SiteNetworks) -> Value {
    let mut buf = b"previous line\n".to_vec();
    write_flow_event(&mut buf, flow, site);
    let line = buf.strip_prefix(b"previous line\n".as_slice()).unwrap();
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    let v: Value = serde_json::from_slice(line).unwrap();
    let schema: Value = serde_json::from_str(FLOW_SCHEMA).unwrap();
    validate(&schema, &v).unwrap_or_else(|e| panic!("schema: {e}\n{v}"));
    v
}

fn syn(ttl: u8, hops: u8, window: u16, mss: u16, ws: u8) -> SynInfo {
    SynInfo {
        ttl,
        initial_ttl: 64,
        hops,
        window,
        mss: Some(mss),
        window_scale: Some(ws),
        sack_permitted: true,
        timestamps: true,
        // MSS, SACK-permitted, timestamps, NOP, window scale.
        option_kinds: [2, 4, 8, 1, 3].into_iter().collect(),
    }
}

/// suricata-verify/tests/community-id-ipv4/input.pcap: one TLS connection.
/// `tshark -T fields -e frame.time_epoch -e frame.len -e ip.src -e ip.ttl
/// -e tcp.flags -e tcp.window_size_value -e tcp.options.mss_val
/// -e tcp.options.wscale.shift -e tcp.option_kind`:
///   1 .335892 74 172.26.0.39    ttl 64 SYN     win 26883 mss 8961 ws 7 [2,4,8,1,3]
///   2 .343773 74 172.217.14.206 ttl 33 SYN-ACK win 65535 mss 1412 ws 8 [2,4,8,1,3]
///   3 .343818 66 172.26.0.39    ACK
/// 43 frames, last at .436021; client 24 frames 2424 bytes flags 0x1e,
/// server 19 frames 28588 bytes flags 0x1b.
fn tls_flow() -> FlowSummary {
    let t0 = 1_692_825_648;
    FlowSummary {
        flow_id: 1_234_567_890_123,
        endpoints: FlowEndpoints {
            src_ip: ip("172.26.0.39"),
            src_port: 35958,
            dst_ip: ip("172.217.14.206"),
            dst_port: 443,
            ip_proto: 6,
            icmp_type_code: None,
            vlan: [0, 0],
            spi: None,
        },
        initiator_from_syn: true,
        start: ts(t0, 335_892),
        end: ts(t0, 436_021),
        pkts_toserver: 24,
        pkts_toclient: 19,
        bytes_toserver: 2424,
        bytes_toclient: 28588,
        state: FlowState::Closed,
        reason: EndReason::Closed,
        tcp: Some(TcpSummary {
            syn: Some(syn(64, 0, 26883, 8961, 7)),
            syn_ack: Some(syn(33, 31, 65535, 1412, 8)),
            rtt_syn_synack_ns: Some(343_773_000 - 335_892_000),
            rtt_synack_ack_ns: Some(343_818_000 - 343_773_000),
            flags_toserver: 0x1e,
            flags_toclient: 0x1b,
            overlap_conflicts: 0,
            reassembly_gaps: [0, 0],
            prefix_bytes: [517, 4200],
            anomalies: 0,
        }),
        tunnel: TunnelStack::new(),
        app: None,
    }
}

#[test]
fn tcp_flow_event_fields() {
    let v = flow_json(&tls_flow(), &SiteNetworks::default());
    assert_eq!(v["timestamp"], "2023-08-23T21:20:48.436021Z");
    assert_eq!(v["flow_id"], 1_234_567_890_123u64);
    assert_eq!(v["event_type"], "flow");
    assert_eq!(v["src_ip"], "172.26.0.39");
    assert_eq!(v["src_port"], 35958);
    assert_eq!(v["dest_ip"], "172.217.14.206");
    assert_eq!(v["dest_port"], 443);
    assert_eq!(v["proto"], "TCP");
    // tshark's communityid for this capture (seed 0).
    assert_eq!(v["community_id"], "1:0rRFlkfZsYZ0l7PqLoMEAxHMqrI=");
    assert_eq!(v["direction"], "outbound");
    assert!(v.get("vlan").is_none() && v.get("tunnel").is_none());
    assert!(v.get("icmp_type").is_none() && v.get("spi").is_none());

    let f = &v["flow"];
    assert_eq!(f["pkts_toserver"], 24);
    assert_eq!(f["pkts_toclient"], 19);
    assert_eq!(f["bytes_toserver"], 2424);
    assert_eq!(f["bytes_toclient"], 28588);
    // date -u -d @1692825648.335892 +%FT%T.%6NZ
    assert_eq!(f["start"], "2023-08-23T21:20:48.335892Z");
    assert_eq!(f["end"], "2023-08-23T21:20:48.436021Z");
    assert_eq!(f["age"], 0);
    assert_eq!(f["state"], "closed");
    assert_eq!(f["reason"], "closed");

    let t = &v["tcp"];
    assert_eq!(t["tcp_flags"], "1f");
    assert_eq!(t["tcp_flags_ts"], "1e");
    assert_eq!(t["tcp_flags_tc"], "1b");
    for set in ["syn", "fin", "rst", "psh", "ack"] {
        assert_eq!(t[set], true, "{set}");
    }
    for unset in ["urg", "ecn", "cwr"] {
        assert!(t.get(unset).is_none(), "{unset}");
    }
    assert_eq!(t["initiator_from_syn"], true);
    assert_eq!(t["overlap_conflicts"], 0);
    assert_eq!(t["rtt_server_ms"], 7.881);
    assert_eq!(t["rtt_client_ms"], 0.045);
    assert_eq!(t["rtt_ms"], 7.926);
    assert_eq!(
        t["client_syn"],
        json!({"ttl": 64, "initial_ttl": 64, "hops": 0, "window": 26883, "mss": 8961,
               "window_scale": 7, "sack_permitted": true, "timestamps": true,
               "options": [2, 4, 8, 1, 3]})
    );
    assert_eq!(t["server_syn_ack"]["ttl"], 33);
    assert_eq!(t["server_syn_ack"]["hops"], 31);
    assert_eq!(t["server_syn_ack"]["mss"], 1412);
    assert_eq!(t["server_syn_ack"]["window_scale"], 8);
}

#[test]
fn midstream_tcp_flow_leaves_out_what_was_not_seen() {
    let mut flow = tls_flow();
    flow.initiator_from_syn = false;
    flow.state = FlowState::Established;
    flow.reason = EndReason::Timeout;
    flow.start = ts(1_692_825_648, 999_999);
    flow.end = ts(1_692_825_710, 1);
    if let Some(t) = flow.tcp.as_mut() {
        t.syn = None;
        t.syn_ack = None;
        t.rtt_syn_synack_ns = None;
        t.rtt_synack_ack_ns = None;
        t.flags_toserver = 0x18;
        t.flags_toclient = 0xd0; // ACK|ECE|CWR
        t.overlap_conflicts = 3;
    }
    let v = flow_json(&flow, &SiteNetworks::empty());
    let t = &v["tcp"];
    for absent in [
        "client_syn",
        "server_syn_ack",
        "rtt_ms",
        "rtt_server_ms",
        "rtt_client_ms",
        "syn",
        "fin",
        "rst",
    ] {
        assert!(t.get(absent).is_none(), "{absent}");
    }
    assert_eq!(t["tcp_flags"], "d8");
    assert_eq!(
        (&t["ecn"], &t["cwr"], &t["psh"]),
        (&json!(true), &json!(true), &json!(true))
    );
    assert_eq!(t["overlap_conflicts"], 3);
    assert_eq!(t["initiator_from_syn"], false);
    // Suricata's age: difference of the whole-second fields, 1710 - 1648.
    assert_eq!(v["flow"]["age"], 62);
    assert_eq!(v["flow"]["reason"], "timeout");
    assert_eq!(v["flow"]["state"], "established");
    assert_eq!(v["direction"], "external");
}

/// tcpdump/tests/vxlan.pcap: ICMP echo 192.168.203.3 -> .5 inside VXLAN
/// VNI 100 between 192.168.203.1 and 192.168.202.1 (frames 1,5,7,9
/// requests and 4,6,8,10 replies, 148 bytes each).
fn vxlan_icmp_flow() -> FlowSummary {
    let mut tunnel = TunnelStack::new();
    tunnel.push(TunnelLayer {
        kind: TunnelKind::Vxlan,
        outer_src: ip("192.168.203.1"),
        outer_dst: ip("192.168.202.1"),
        id: Some(100),
    });
    FlowSummary {
        flow_id: 42,
        endpoints: FlowEndpoints {
            src_ip: ip("192.168.203.3"),
            src_port: 0,
            dst_ip: ip("192.168.203.5"),
            dst_port: 0,
            ip_proto: 1,
            icmp_type_code: Some((8, 0)),
            vlan: [0, 0],
            spi: None,
        },
        initiator_from_syn: false,
        start: ts(1_368_908_504, 837_063),
        end: ts(1_368_908_507, 885_359),
        pkts_toserver: 4,
        pkts_toclient: 4,
        bytes_toserver: 592,
        bytes_toclient: 592,
        state: FlowState::Established,
        reason: EndReason::Shutdown,
        tcp: None,
        tunnel,
        app: None,
    }
}

#[test]
fn tunnelled_icmp_flow() {
    let flow = vxlan_icmp_flow();
    let v = flow_json(&flow, &SiteNetworks::default());
    assert_eq!(v["proto"], "ICMP");
    assert_eq!(v["icmp_type"], 8);
    assert_eq!(v["icmp_code"], 0);
    assert!(v.get("src_port").is_none() && v.get("dest_port").is_none());
    assert!(v.get("tcp").is_none());
    // tshark's communityid for frames 1 and 4.
    assert_eq!(v["community_id"], "1:U9XPoqOosLWVcR1iyZ86gSbNCdQ=");
    assert_eq!(v["direction"], "internal");
    assert_eq!(v["flow"]["start"], "2013-05-18T20:21:44.837063Z");
    assert_eq!(v["flow"]["end"], "2013-05-18T20:21:47.885359Z");
    assert_eq!(v["flow"]["age"], 3);
    assert_eq!(v["flow"]["reason"], "shutdown");
    assert_eq!(
        v["tunnel"],
        json!({"depth": 1, "layers": [{"type": "vxlan", "src_ip": "192.168.203.1",
                                       "dest_ip": "192.168.202.1", "id": 100}]})
    );
}

/// suricata-verify/tests/eve-flow-vlan: frame 2 carries VLANs 1 and 10,
/// and Suricata's expected flow event has `"vlan": [1, 10]`.
#[test]
fn vlan_ids_as_suricata_writes_them() {
    let mut flow = FlowSummary {
        endpoints: FlowEndpoints {
            src_ip: ip("192.168.0.1"),
            dst_ip: ip("255.255.255.255"),
            vlan: [1, 10],
            ..tls_flow().endpoints
        },
        ..tls_flow()
    };
    assert_eq!(
        flow_json(&flow, &SiteNetworks::default())["vlan"],
        json!([1, 10])
    );
    flow.endpoints.vlan = [6, 0];
    assert_eq!(
        flow_json(&flow, &SiteNetworks::default())["vlan"],
        json!([6])
    );
}

#[test]
fn ipv6_other_protocols_and_names() {
    // ESP between two IPv6 hosts: no ports, the SPI, proto by name.
    let mut flow = tls_flow();
    flow.tcp = None;
    flow.endpoints.ip_proto = 50;
    flow.endpoints.src_ip = ip("2001:db8::1");
    flow.endpoints.dst_ip = ip("fd00::2");
    flow.endpoints.spi = Some(0x1c0d_7b38);
    let v = flow_json(&flow, &SiteNetworks::default());
    assert_eq!(v["proto"], "ESP");
    assert_eq!(v["spi"], 0x1c0d_7b38u32);
    assert_eq!(v["src_ip"], "2001:db8::1");
    assert_eq!(v["direction"], "inbound");
    assert!(v.get("src_port").is_none());
    // Suricata's names, and the number for the rest.
    for (p, name) in [
        (58u8, "IPv6-ICMP"),
        (47, "GRE"),
        (132, "SCTP"),
        (17, "UDP"),
        (89, "89"),
        (255, "255"),
    ] {
        flow.endpoints.ip_proto = p;
        assert_eq!(flow_json(&flow, &SiteNetworks::default())["proto"], name);
    }
}

#[test]
fn rtt_rounds_to_the_microsecond() {
    assert_eq!(ns_to_ms(7_881_000), 7.881);
    assert_eq!(ns_to_ms(1_499), 0.001);
    assert_eq!(ns_to_ms(1_500), 0.002);
    assert_eq!(ns_to_ms(0), 0.0);
    assert!(ns_to_ms(u64::MAX).is_finite());
}

#[test]
fn stats_event() {
    let mut stats = RunStats::default();
    stats.capture.frames = 43;
    stats.capture.bytes = 31_012;
    stats.decode.packets = 40;
    stats.decode.non_ip = 2;
    stats
        .decode
        .errors
        .insert((crate::decode::Layer::Tcp, "header too short"), 1);
    stats
        .decode
        .errors
        .insert((crate::decode::Layer::Ipv4, "bad \"version\""), 2);
    stats.flows.created = 3;
    stats.flows.closed = 1;
    stats.flows.peak_active = 2;
    stats.events = 3;
    stats.last_ts = Some(ts(1_692_825_648, 436_021));
    let mut buf = Vec::new();
    write_stats_event(&mut buf, &stats);
    assert_eq!(buf.last(), Some(&b'\n'));
    let v: Value = serde_json::from_slice(&buf).unwrap();
    let schema: Value = serde_json::from_str(STATS_SCHEMA).unwrap();
    validate(&schema, &v).unwrap_or_else(|e| panic!("schema: {e}\n{v}"));
    assert_eq!(v["event_type"], "stats");
    assert_eq!(v["timestamp"], "2023-08-23T21:20:48.436021Z");
    let s = &v["stats"];
    assert_eq!(
        s["capture"],
        json!({"frames": 43, "bytes": 31012, "kernel_drops": 0, "interface_drops": 0})
    );
    assert_eq!(s["decoder"]["packets"], 40);
    assert_eq!(s["decoder"]["non_ip"], 2);
    // In (layer, reason) order; the quote in the reason is escaped.
    assert_eq!(
        s["decoder"]["errors"],
        json!([{"layer": "ipv4", "reason": "bad \"version\"", "count": 2},
               {"layer": "tcp", "reason": "header too short", "count": 1}])
    );
    assert_eq!(s["flow"]["created"], 3);
    assert_eq!(s["flow"]["peak_active"], 2);
    assert_eq!(s["events"], 3);

    // Without any frame the wall clock is used: still a valid line.
    let mut buf = Vec::new();
    write_stats_event(&mut buf, &RunStats::default());
    let v: Value = serde_json::from_slice(&buf).unwrap();
    validate(&schema, &v).unwrap();
}

#[test]
fn schemas_reject_unknown_fields() {
    let schema: Value = serde_json::from_str(FLOW_SCHEMA).unwrap();
    let mut v = flow_json(&tls_flow(), &SiteNetworks::default());
    v["tcp"]["client_syn"]["extra"] = json!(1);
    assert!(validate(&schema, &v).is_err());
    let mut v = flow_json(&tls_flow(), &SiteNetworks::default());
    v["flow"]["reason"] = json!("forced");
    assert!(validate(&schema, &v).is_err());
}

#[test]
fn option_kinds_are_capped_by_the_type() {
    // SynInfo holds at most 16 kinds, the schema's maxItems.
    let kinds: ArrayVec<u8, 16> = (0..16).collect();
    let mut flow = tls_flow();
    if let Some(t) = flow.tcp.as_mut() {
        if let Some(s) = t.syn.as_mut() {
            s.option_kinds = kinds;
        }
    }
    let v = flow_json(&flow, &SiteNetworks::default());
    assert_eq!(
        v["tcp"]["client_syn"]["options"].as_array().map(Vec::len),
        Some(16)
    );
}

/// The example lines of docs/events.md are what we write, and valid.
#[test]
fn docs_examples_are_current() {
    let docs = include_str!("../../docs/events.md");
    let examples: Vec<&str> = docs
        .split("```json\n")
        .skip(1)
        .filter_map(|b| b.split_once("\n```").map(|(line, _)| line))
        .collect();
    assert_eq!(examples.len(), 3);

    let mut written = Vec::new();
    write_flow_event(&mut written, &tls_flow(), &SiteNetworks::default());
    write_flow_event(&mut written, &vxlan_icmp_flow(), &SiteNetworks::default());
    let mut stats = RunStats::default();
    stats.capture.frames = 43;
    stats.capture.bytes = 31_012;
    stats.decode.packets = 43;
    stats.flows.created = 1;
    stats.flows.closed = 1;
    stats.flows.peak_active = 1;
    stats.events = 1;
    stats.last_ts = Some(ts(1_692_825_648, 436_021));
    write_stats_event(&mut written, &stats);
    let written = String::from_utf8(written).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(examples, lines);

    let flow_schema: Value = serde_json::from_str(FLOW_SCHEMA).unwrap();
    let stats_schema: Value = serde_json::from_str(STATS_SCHEMA).unwrap();
    for line in examples {
        let v: Value = serde_json::from_str(line).unwrap();
        let schema = if v["event_type"] == "stats" {
            &stats_schema
        } else {
            &flow_schema
        };
        validate(schema, &v).unwrap();
    }
}
