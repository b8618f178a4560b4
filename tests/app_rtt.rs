//! Application-layer round trips (`app_rtt`) of SSH and TLS flows against
//! tshark's frame times, through the whole library pipeline.
//!
//! tests/data/app_rtt_expected.tsv is written by
//! scripts/app_rtt_expectations.py from tshark's per-frame fields
//! (`frame.time_epoch`, `ssh.message_code`, `tcp.segment`,
//! `tls.handshake.type`, `tls.handshake.random`...) for the pairs
//! docs/events.md lists: the smallest gap per replier, in ns. Captures of
//! ../shared/corpus are skipped when it is absent.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// One expected flow.
#[derive(Debug)]
struct Expected {
    capture: String,
    client: (String, u64),
    server: (String, u64),
    proto: String,
    client_reply_ns: Option<u64>,
    server_reply_ns: Option<u64>,
    samples: u64,
}

fn expectations() -> Vec<Expected> {
    let path = common::crate_root().join("tests/data/app_rtt_expected.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    let ns = |s: &str| (s != "-").then(|| s.parse::<u64>().unwrap());
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 9, "{l}");
            Expected {
                capture: f[0].to_owned(),
                client: (f[1].to_owned(), f[2].parse().unwrap()),
                server: (f[3].to_owned(), f[4].parse().unwrap()),
                proto: f[5].to_owned(),
                client_reply_ns: ns(f[6]),
                server_reply_ns: ns(f[7]),
                samples: f[8].parse().unwrap(),
            }
        })
        .collect()
}

/// The capture's path, `None` when it is in an absent shared corpus.
fn capture_path(name: &str) -> Option<PathBuf> {
    match name.strip_prefix("corpus/") {
        Some(rel) => common::corpus_file("app_rtt", rel),
        None => Some(common::crate_root().join(name)),
    }
}

/// The flow events of one capture, each line checked against its schema,
/// by (client ip, client port, server ip, server port).
fn flows(path: &PathBuf) -> BTreeMap<(String, u64, String, u64), Value> {
    let (out, res) = common::run(std::slice::from_ref(path), 1);
    res.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(out.clone()).unwrap();
    for line in text.lines() {
        gatewatch::output::schema_check::validate_event_line(line)
            .unwrap_or_else(|e| panic!("{}: {e}\n{line}", path.display()));
    }
    common::parse_lines(&out)
        .unwrap()
        .into_iter()
        .filter(|e| common::is_event(e, "flow") && e["proto"] == "TCP")
        .map(|e| {
            let key = (
                e["src_ip"].as_str().unwrap_or("").to_owned(),
                e["src_port"].as_u64().unwrap_or(0),
                e["dest_ip"].as_str().unwrap_or("").to_owned(),
                e["dest_port"].as_u64().unwrap_or(0),
            );
            (key, e)
        })
        .collect()
}

/// An `app_rtt` field in µs (the events write ms with three decimals).
fn micros(rtt: &Value, field: &str) -> Option<u64> {
    rtt.get(field)
        .and_then(Value::as_f64)
        .map(|ms| (ms * 1000.0).round() as u64)
}

/// ns rounded to µs as the events round them.
fn ns_to_us(ns: Option<u64>) -> Option<u64> {
    ns.map(|n| (n + 500) / 1000)
}

#[test]
fn app_rtt_equals_tshark_frame_times() {
    let all = expectations();
    let mut by_capture: BTreeMap<&str, Vec<&Expected>> = BTreeMap::new();
    for e in &all {
        by_capture.entry(&e.capture).or_default().push(e);
    }
    let mut failures = Vec::new();
    // (proto, side) -> (equal, expected values)
    let mut tally: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    for (capture, exps) in by_capture {
        let Some(path) = capture_path(capture) else {
            continue;
        };
        let seen = flows(&path);
        for e in exps {
            let key = (
                e.client.0.clone(),
                e.client.1,
                e.server.0.clone(),
                e.server.1,
            );
            let rtt = seen
                .get(&key)
                .map(|f| f["app_rtt"].clone())
                .unwrap_or(Value::Null);
            let got = (
                micros(&rtt, "client_reply_ms"),
                micros(&rtt, "server_reply_ms"),
                rtt.get("samples").and_then(Value::as_u64).unwrap_or(0),
            );
            let want = (
                ns_to_us(e.client_reply_ns),
                ns_to_us(e.server_reply_ns),
                e.samples,
            );
            for (side, w, g) in [("client", want.0, got.0), ("server", want.1, got.1)] {
                if w.is_some() {
                    let t = tally.entry((e.proto.clone(), side)).or_default();
                    t.1 += 1;
                    t.0 += usize::from(w == g);
                }
            }
            if got != want {
                failures.push(format!(
                    "{capture} {key:?} {}: want (client µs, server µs, samples) {want:?}, got {got:?}",
                    e.proto
                ));
            }
        }
    }
    for ((proto, side), (eq, n)) in &tally {
        eprintln!("{proto} {side}_reply {eq}/{n} equal to tshark's gap");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The lab captures are always there: the test cannot pass on nothing.
    assert!(tally.values().map(|t| t.1).sum::<usize>() >= 2);
}

/// tshark stops dissecting the server side of this flow at its pre-banner
/// text, so the values are read from its frames by hand (`tshark -r
/// server-pre-banner-data.pcap -T fields -e frame.number -e
/// frame.time_epoch -e tcp.seq -e tcp.len -e ssh.message_code`, `-x` for
/// the bytes): the client's KEX_ECDH_INIT (30) is frame 17
/// (.000974); the server's reply (31, packet_length 0x4cc, 1232 bytes from
/// the start of frame 18) starts and ends in frame 18 (.032847); the
/// client's NEWKEYS (21) is frame 22 (.054112).
#[test]
fn server_with_pre_banner_text_checked_by_hand() {
    let Some(path) = common::corpus_file("app_rtt", "zeek/traces/ssh/server-pre-banner-data.pcap")
    else {
        return;
    };
    let seen = flows(&path);
    let key = ("10.0.2.1".to_owned(), 55343, "10.0.2.10".to_owned(), 22);
    let rtt = &seen[&key]["app_rtt"];
    assert_eq!(micros(rtt, "server_reply_ms"), Some(32_847 - 974));
    assert_eq!(micros(rtt, "client_reply_ms"), Some(54_112 - 32_847));
    assert_eq!(rtt["samples"], 2);
}

/// A direct LAN session (tests/pcap/ssh: OpenSSH 9.2, sntrup761x25519,
/// client and server on one veth pair) must not look relayed: its client
/// reply (KEX_ECDH_REPLY -> NEWKEYS, frames 14 -> 18 per tshark:
/// 19.616 ms) is the LAN path plus the client's key-exchange work, far above
/// its TCP handshake RTT (SYN-ACK -> ACK, frames 2 -> 3: 14 µs) in ratio
/// but well under docs/policy.md's `relayed_session` min_gap_ms (40) in
/// absolute terms.
#[test]
fn direct_lan_ssh_does_not_look_relayed() {
    let path = common::crate_root().join("tests/pcap/ssh/input.pcap");
    let seen = flows(&path);
    let key = ("10.77.0.2".to_owned(), 57228, "10.77.0.1".to_owned(), 22);
    let flow = &seen[&key];
    let client_reply = micros(&flow["app_rtt"], "client_reply_ms").unwrap();
    let handshake = micros(&flow["tcp"], "rtt_client_ms").unwrap();
    assert_eq!((client_reply, handshake), (19_616, 14));
    // The application round trip covers at least the network path...
    assert!(client_reply >= handshake);
    // ...and exceeds it by less than the policy's absolute gap.
    const MIN_GAP_US: u64 = 40_000;
    assert!(
        client_reply - handshake < MIN_GAP_US,
        "{client_reply} µs vs {handshake} µs"
    );
}
