//! DNS and HTTP records against tshark and Zeek on the shared corpus.
//!
//! For every capture with `dns_query` or `http_*` expectations (tshark
//! cross-checks under `expected/tshark/`, Zeek dns.log/http.log under
//! `expected/zeek/`), the library runs over the capture and each expected
//! record is looked up by its flow's address/port pair:
//! - `dns_query`: the flow's `dns.queries[].rrname` holds it;
//! - `http_method`, `http_host`, `http_uri`, `http_user_agent`: equal to
//!   the flow's `http` fields, for the first request of each flow (the
//!   record keeps the first request only).
//!
//! Skipped, with the reason printed: records whose flow is not in our
//! output (tshark pairs the outer addresses of tunnelled frames with the
//! inner ports, so no flow has that pair), DNS flows beyond the record's
//! caps, and later requests of a flow.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

mod common;

use serde_json::Value;

fn endpoint(ip: &Value, port: &Value) -> String {
    let ip = ip.as_str().unwrap_or("");
    let port = port.as_u64().unwrap_or(0);
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Flow events by "src dst" (both orientations).
fn flows_of(pcap: &Path) -> HashMap<String, Value> {
    let (out, res) = common::run(&[pcap.to_path_buf()], 1);
    res.expect("run");
    let mut m = HashMap::new();
    for e in common::parse_lines(&out).expect("JSON lines") {
        if !common::is_event(&e, "flow") {
            continue;
        }
        let a = endpoint(&e["src_ip"], &e["src_port"]);
        let b = endpoint(&e["dest_ip"], &e["dest_port"]);
        m.insert(format!("{b} {a}"), e.clone());
        m.insert(format!("{a} {b}"), e);
    }
    m
}

#[derive(Default)]
struct Tally {
    agree: u32,
    differ: Vec<String>,
    skipped: BTreeMap<&'static str, u32>,
}

impl Tally {
    fn skip(&mut self, why: &'static str) {
        *self.skipped.entry(why).or_default() += 1;
    }
}

const HTTP_FIELDS: [(&str, &str); 4] = [
    ("http_method", "method"),
    ("http_host", "host"),
    ("http_uri", "uri"),
    ("http_user_agent", "user_agent"),
];

#[test]
fn dns_and_http_agree_with_tshark_and_zeek() {
    let Some(root) = common::shared_corpus("l7_conformance") else {
        return;
    };
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for tool in ["tshark", "zeek"] {
        let dir = root.join("expected").join(tool);
        for file in common::files_under(&dir) {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let Ok(doc) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let records: Vec<&Value> = doc["records"]
                .as_array()
                .map(|r| r.iter().collect())
                .unwrap_or_default();
            let wanted =
                |r: &&Value| r.get("dns_query").is_some() || r.get("http_method").is_some();
            if !records.iter().any(wanted) {
                continue;
            }
            let Some(pcap) = doc["pcap"].as_str().map(|p| root.join(p)) else {
                continue;
            };
            if !pcap.exists() || pcap.extension().is_some_and(|e| e == "gz") {
                continue;
            }
            let flows = flows_of(&pcap);
            let mut seen_request: HashMap<String, ()> = HashMap::new();
            for r in records.into_iter().filter(wanted) {
                let key = format!(
                    "{} {}",
                    r["src"].as_str().unwrap_or(""),
                    r["dst"].as_str().unwrap_or("")
                );
                let where_ = format!("{} {key}", doc["pcap"].as_str().unwrap_or(""));
                if let Some(q) = r.get("dns_query").and_then(Value::as_str) {
                    let t = tallies.entry(format!("dns_query vs {tool}")).or_default();
                    let Some(flow) = flows.get(&key) else {
                        t.skip("no flow with this pair (tunnelled: outer addresses)");
                        continue;
                    };
                    if r["src"].as_str().is_some_and(|s| s.ends_with(":5353"))
                        || r["dst"].as_str().is_some_and(|s| s.ends_with(":5353"))
                    {
                        t.skip("mDNS (port 5353): not dissected");
                        continue;
                    }
                    if q.starts_with("<Unknown") {
                        t.skip("tshark took a non-DNS packet for DNS");
                        continue;
                    }
                    // tshark writes the root as <Root>, we write "".
                    let q = if q == "<Root>" { "" } else { q };
                    // Zeek lowercases names; tshark and we keep the case.
                    let same = |x: &Value| match x["rrname"].as_str() {
                        Some(n) if tool == "zeek" => n.eq_ignore_ascii_case(q),
                        Some(n) => n == q,
                        None => false,
                    };
                    let queries = flow["dns"]["queries"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    if queries.iter().any(same) {
                        t.agree += 1;
                    } else if queries.len() >= 8 {
                        t.skip("flow beyond the record's 8 queries");
                    } else if flow["dns"].is_null() {
                        t.differ.push(format!(
                            "{where_}: {q:?}: flow not dissected as DNS (app_proto {})",
                            flow["app_proto"]
                        ));
                    } else {
                        t.differ.push(format!("{where_}: {q:?} not in {queries:?}"));
                    }
                }
                if r.get("http_method").is_some() && r["transport"] == "udp" {
                    for (f, _) in HTTP_FIELDS {
                        if r.get(f).is_some() {
                            tallies
                                .entry(format!("{f} vs {tool}"))
                                .or_default()
                                .skip("HTTP over UDP (SSDP): not dissected");
                        }
                    }
                } else if r.get("http_method").is_some() {
                    let Some(flow) = flows.get(&key) else {
                        for (f, _) in HTTP_FIELDS {
                            if r.get(f).is_some() {
                                tallies
                                    .entry(format!("{f} vs {tool}"))
                                    .or_default()
                                    .skip("no flow with this pair (tunnelled: outer addresses)");
                            }
                        }
                        continue;
                    };
                    let first = seen_request.insert(key.clone(), ()).is_none();
                    for (f, ours) in HTTP_FIELDS {
                        let Some(want) = r.get(f).and_then(Value::as_str) else {
                            continue;
                        };
                        let t = tallies.entry(format!("{f} vs {tool}")).or_default();
                        if !first {
                            t.skip("later request of the flow (first one kept)");
                            continue;
                        }
                        let got = flow["http"][ours].as_str();
                        if got == Some(want) {
                            t.agree += 1;
                        } else {
                            t.differ
                                .push(format!("{where_}: {f} {want:?} vs ours {got:?}"));
                        }
                    }
                }
            }
        }
    }
    let mut total_agree = 0;
    let mut total_differ = 0;
    for (name, t) in &tallies {
        let n = t.agree as usize + t.differ.len();
        eprintln!("{name}: {}/{n} agree; skipped {:?}", t.agree, t.skipped);
        for d in &t.differ {
            eprintln!("    differs: {d}");
        }
        total_agree += t.agree as usize;
        total_differ += t.differ.len();
    }
    assert!(
        tallies
            .get("dns_query vs tshark")
            .is_some_and(|t| t.agree >= 20),
        "too few DNS comparisons"
    );
    assert!(
        tallies
            .get("http_host vs tshark")
            .is_some_and(|t| t.agree >= 10),
        "too few HTTP comparisons"
    );
    assert_eq!(
        total_differ, 0,
        "{total_differ} differences ({total_agree} agreements): see above"
    );
}

/// DHCP on FoxIO's captures, values from tshark (`dhcp.option.dhcp`,
/// `dhcp.hw.mac_addr`, `dhcp.option.requested_ip_address`, `dhcp.ip.your`;
/// `dhcpv6.msgtype`, the DUID-LLT link-layer address): DORA of
/// 00:0b:82:01:fc:42 for 192.168.0.10; DHCPv6 client 08:00:27:fe:8f:95.
#[test]
fn dhcp_agrees_with_tshark() {
    let Some(root) = common::shared_corpus("l7_conformance") else {
        return;
    };
    let mut got = Vec::new();
    for f in ["dhcp.pcapng", "dhcpv6.pcap"] {
        let (out, res) = common::run(&[root.join("foxio-ja4/pcap").join(f)], 1);
        res.expect("run");
        for line in String::from_utf8(out.clone()).unwrap().lines() {
            gatewatch::output::schema_check::validate_event_line(line).unwrap();
        }
        for e in common::parse_lines(&out).unwrap() {
            if common::is_event(&e, "flow") && !e["dhcp"].is_null() {
                got.push(e["dhcp"].to_string());
            }
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            r#"{"assigned_ip":"192.168.0.10","mac":"00:0b:82:01:fc:42","message_type":"ack"}"#,
            r#"{"mac":"00:0b:82:01:fc:42","message_type":"request","requested_ip":"192.168.0.10"}"#,
            r#"{"mac":"08:00:27:fe:8f:95","message_type":"release"}"#,
            r#"{"mac":"08:00:27:fe:8f:95","message_type":"reply"}"#,
        ]
    );
}
