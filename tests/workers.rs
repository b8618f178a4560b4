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

/// Names learned from DNS answers name later flows to those addresses, and
/// the output stays the same whatever the number of workers, both when
/// workers scan a mapped file (plain pcap) and when a dispatcher hands them
/// frames (gzip: streamed). The capture (tests/pcap/dns-relay, real
/// traffic, scripts/make-dns-relay-capture.sh): lookups at dnsmasq, each
/// followed by an HTTP fetch by address only. The DNS flows all run between
/// the client and its resolver; the fetches go to four other addresses, so
/// with 2 or 3 workers some of them land on another worker than the DNS.
#[test]
fn dns_names_reach_flows_of_other_workers() {
    let plain = common::crate_root().join("tests/pcap/dns-relay/input.pcap");
    let dir = std::env::temp_dir().join(format!("gw-dns-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gz = dir.join("input.pcap.gz");
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(&std::fs::read(&plain).unwrap()).unwrap();
        enc.finish().unwrap();
    }
    // tshark on the capture: desk.gatewatch.test CNAME relay1.gatewatch.test
    // A 198.51.100.11; relay2/relay3 A 198.51.100.12/13; relay4 AAAA
    // 2001:db8:77::14.
    let expected = [
        (
            "198.51.100.11",
            vec!["desk.gatewatch.test", "relay1.gatewatch.test"],
        ),
        ("198.51.100.12", vec!["relay2.gatewatch.test"]),
        ("198.51.100.13", vec!["relay3.gatewatch.test"]),
        ("2001:db8:77::14", vec!["relay4.gatewatch.test"]),
    ];
    let one = run(std::slice::from_ref(&plain), 1);
    let events = common::parse_lines(&one).unwrap();
    for (addr, names) in &expected {
        let flow = events
            .iter()
            .find(|e| common::is_event(e, "flow") && e["dest_ip"] == *addr)
            .unwrap_or_else(|| panic!("no flow to {addr}"));
        assert_eq!(flow["remote_names"], serde_json::json!(names), "{addr}");
        assert_eq!(flow["http"]["method"], "GET");
    }
    for line in String::from_utf8(one.clone()).unwrap().lines() {
        gatewatch::output::schema_check::validate_event_line(line).unwrap();
    }
    for file in [&plain, &gz] {
        for workers in 1..=3 {
            let many = run(std::slice::from_ref(file), workers);
            assert!(
                one == many,
                "{} with {workers} workers gave different output:\n{}\nvs\n{}",
                file.display(),
                String::from_utf8_lossy(&many),
                String::from_utf8_lossy(&one)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
