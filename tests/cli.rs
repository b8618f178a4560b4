//! The `gatewatch` command: exit codes, error messages, `--help`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn gatewatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gatewatch"))
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pcap/demo/input.pcap")
}

#[test]
fn analyze_demo_succeeds_and_ends_with_stats() {
    let out = gatewatch().args(["analyze"]).arg(demo()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // tshark -z conv,tcp -z conv,udp lists 6 conversations in the demo, and
    // it holds two ICMPv6 messages between different address pairs (a
    // neighbour solicitation to ff02::1:ff00:1 and an advertisement): 8 flows.
    let count = |kind: &str| {
        let tag = format!("\"event_type\":\"{kind}\"");
        lines.iter().filter(|l| l.contains(&tag)).count()
    };
    assert_eq!(count("flow"), 8, "{text}");
    // tshark -Y ssh shows one SSH conversation (port 22): one session.
    assert_eq!(count("session"), 1, "{text}");
    assert_eq!(lines.len(), 8 + 1 + 1, "{text}");
    assert!(lines.last().unwrap().contains("\"event_type\":\"stats\""));
    for l in &lines {
        gatewatch::output::schema_check::validate_event_line(l).unwrap();
    }
}

#[test]
fn truncated_capture_exits_1_naming_file_and_offset() {
    let dir = std::env::temp_dir().join(format!("gatewatch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(demo()).unwrap();
    let cut = dir.join("cut.pcap");
    // 24-byte header, then cut 10 bytes into some record's data.
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let out = gatewatch().args(["analyze"]).arg(&cut).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.pcap"), "{err}");
    assert!(err.contains("offset"), "{err}");
    // What preceded the cut was still analysed and emitted: the last frame
    // (a TCP segment of the DNS-over-TCP conversation) is lost, its flow and
    // the 7 others are not.
    let text = String::from_utf8(out.stdout).unwrap();
    let flows = text
        .lines()
        .filter(|l| l.contains("\"event_type\":\"flow\""))
        .count();
    assert_eq!(flows, 8, "{text}");
    assert!(text
        .lines()
        .last()
        .unwrap()
        .contains("\"event_type\":\"stats\""));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["analyze"],
        vec!["analyze", "--workers", "0", "x.pcap"],
        vec!["analyze", "--site-net", "10.0.0.0/33", "x.pcap"],
        vec!["analyze", "--timeout", "tcp=1", "x.pcap"],
        vec!["frobnicate"],
    ] {
        let out = gatewatch().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} must say what was wrong");
    }
}

#[test]
fn missing_input_exits_1_and_unwritable_output_exits_3() {
    let out = gatewatch()
        .args(["analyze", "/nonexistent/gatewatch-test.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gatewatch-test.pcap"));
    let out = gatewatch()
        .args(["analyze", "-o", "/nonexistent/dir/out.json"])
        .arg(demo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["analyze", "--help"],
        vec!["run", "--help"],
    ] {
        let out = gatewatch().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

fn maxmind(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/maxmind-test-data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found (../shared is absent)", p.display());
        None
    }
}

/// `geoip lookup` on MaxMind's own City test database: 2001:218::/32 is
/// Japan, Asia/Tokyo, accuracy 100 km in its JSON source
/// (source-data/GeoIP2-City-Test.json).
#[test]
fn geoip_lookup_reads_maxmind_test_database() {
    let Some(db) = maxmind("test-data/GeoIP2-City-Test.mmdb") else {
        return;
    };
    let out = gatewatch()
        .args(["geoip", "lookup", "--format", "json", "--geoip-db"])
        .arg(&db)
        .args(["2001:218::1", "10.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let geo = &lines[0]["geo"];
    assert_eq!(geo["country_iso"], "JP");
    assert_eq!(geo["time_zone"], "Asia/Tokyo");
    assert_eq!(geo["accuracy_km"], 100);
    assert_eq!(geo["network"], "2001:218::/32");
    assert_eq!(lines[1]["geo"], serde_json::json!({}));
}

/// A corrupt database is refused before anything runs: exit 2, the file
/// named, no events written.
#[test]
fn corrupt_database_is_refused_naming_the_file() {
    let Some(db) = maxmind("bad-data/libmaxminddb/libmaxminddb-corrupt-search-tree.mmdb") else {
        return;
    };
    let out = gatewatch()
        .args(["analyze", "--geoip-db"])
        .arg(&db)
        .arg(demo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("libmaxminddb-corrupt-search-tree.mmdb"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `check-config` accepts the shipped configuration and refuses a broken
/// one with exit code 2 and a file:line: field: message line per problem.
#[test]
fn check_config_exit_codes_and_messages() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/gatewatch.toml");
    let out = gatewatch()
        .arg("check-config")
        .arg(&shipped)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": OK"));

    let dir = std::env::temp_dir().join(format!("gw-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[capture.interfaces]]\nname = \"eth0\"\n[site]\nnetworks = [\"10.0.0.0/33\"]\n[metrics]\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let out = gatewatch().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let want_net = format!("{}:4:13: site.networks[0]: prefix length 33", bad.display());
    let want_listen = format!(
        "{}:6:10: metrics.listen: expected ADDRESS:PORT",
        bad.display()
    );
    assert!(err.contains(&want_net), "{err}");
    assert!(err.contains(&want_listen), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without the `live` feature, `run` says how to get live capture.
#[cfg(not(feature = "live"))]
#[test]
fn run_without_live_feature_says_how_to_get_it() {
    let out = gatewatch()
        .args(["run", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--features live") && err.contains("libpcap-dev"),
        "{err}"
    );
}
