//! The events of a run are the same, byte for byte and in the same order,
//! whatever the number of workers.

use std::path::PathBuf;

mod common;

use gatewatch::pipeline::{run_files, PipelineConfig};

fn run(files: &[PathBuf], workers: usize) -> Vec<u8> {
    let config = PipelineConfig {
        workers,
        ..PipelineConfig::default()
    };
    let mut out = Vec::new();
    let outcome = run_files(files, &config, &mut out).expect("write to memory");
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    out
}

/// Several captures in one run (flows span the run, timestamps jump between
/// files), with tunnels, VLANs, fragments, IPv6 and many flows.
#[test]
fn output_is_identical_for_1_to_4_workers() {
    let Some(root) = common::shared_corpus("workers") else {
        return;
    };
    let files: Vec<PathBuf> = [
        "ndpi/pcap/vnc.pcap",
        "tcpdump/tests/802.1ad_QinQ.pcap",
        "tcpdump/tests/vxlan.pcap",
        "tcpdump/tests/geneve.pcap",
        "ndpi/pcap/ipsec_isakmp_esp.pcap",
        "zeek/traces/quic/chromium-115.0.5790.110-google-de-fragmented.pcap",
        "foxio-ja4/pcap/tls3.pcapng",
        "ndpi/pcap/443-firefox.pcap",
    ]
    .iter()
    .map(|c| root.join(c))
    .collect();
    let one = run(&files, 1);
    for line in String::from_utf8(one.clone()).expect("UTF-8").lines() {
        gatewatch::output::schema_check::validate_event_line(line).unwrap();
    }
    let lines = one.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    eprintln!("1 worker: {lines} lines");
    assert!(lines > 50, "expected many flow events, got {lines}");
    for workers in 2..=4 {
        let many = run(&files, workers);
        assert!(
            one == many,
            "{workers} workers gave different output ({} vs {} bytes)",
            many.len(),
            one.len()
        );
    }
}
