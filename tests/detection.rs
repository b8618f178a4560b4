//! Detection end to end.
//!
//! - `scenarios`: every scenario of `tests/scenarios/` (real clients
//!   captured in network namespaces, rewritten to the demo GeoIP's scenario
//!   addresses; tests/scenarios/README.md says how each was made) through
//!   the `gatewatch analyze` binary with its policy and sensor location; the
//!   rules that fired in alerts must be exactly the expected ones. Prints
//!   the detection table.
//! - `corpus_false_positives`: every capture of the shared corpus with the
//!   embedded default policy and demo databases; alerts on captures that
//!   are not remote-access tool captures are false positives, listed and
//!   counted (the README states the count).
//! - every alert and session line validates against `schema/`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{captures_under, crate_root, parse_lines, shared_corpus};
use gatewatch::enrich::SharedSources;
use gatewatch::output::schema_check::validate_event_line;
use gatewatch::pipeline::{run_files, PipelineConfig};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    story: String,
    alerts: Vec<String>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    sensor_location: Option<String>,
    #[serde(default)]
    capture: Option<String>,
    /// When given: the exact set of rules in the sessions' findings (alerted
    /// or not; e.g. supporting evidence below the alert score).
    #[serde(default)]
    findings: Option<Vec<String>>,
}

/// The scenarios' site: the company network of the demo GeoIP data
/// (203.0.113.64/26, Milan), where their servers are.
const SCENARIO_SITE: &str = "203.0.113.64/26";

/// The rules named in the findings of a run's `alert` events (or of its
/// `session` events).
fn fired_rules(out: &str, event_type: &str) -> BTreeSet<String> {
    let mut fired = BTreeSet::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        if v["event_type"] != event_type {
            continue;
        }
        let findings = match event_type {
            "alert" => &v["alert"]["findings"],
            _ => &v["findings"],
        };
        for f in findings.as_array().into_iter().flatten() {
            fired.insert(f["rule"].as_str().expect("rule").to_string());
        }
    }
    fired
}

fn analyze(capture: &Path, policy: Option<&Path>, location: Option<&str>) -> String {
    analyze_with(
        capture,
        policy,
        location,
        &["--workers", "1", "--site-net", SCENARIO_SITE],
    )
}

fn analyze_with(
    capture: &Path,
    policy: Option<&Path>,
    location: Option<&str>,
    extra: &[&str],
) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatewatch"));
    cmd.arg("analyze").args(extra).arg(capture);
    if let Some(p) = policy {
        cmd.arg("--config").arg(p);
    }
    if let Some(l) = location {
        cmd.arg("--sensor-location").arg(l);
    }
    let out = cmd.output().expect("run gatewatch");
    assert!(
        out.status.success(),
        "{}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn scenario_dirs() -> Vec<PathBuf> {
    let root = crate_root().join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("expected.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    // The README's first command: the default policy, no flags.
    dirs.push(crate_root().join("tests/pcap/demo-detection"));
    dirs
}

#[test]
fn scenarios() {
    let dirs = scenario_dirs();
    assert!(!dirs.is_empty(), "no scenario under tests/scenarios");
    let mut table = vec![format!("{:<24} {:<52} {}", "scenario", "expected", "fired")];
    let mut wrong = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let name = if name == "demo-detection" {
            "(README demo)".to_string()
        } else {
            name
        };
        let text = std::fs::read_to_string(dir.join("expected.toml")).unwrap();
        let exp: Expected = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!exp.story.is_empty());
        let capture = match &exp.capture {
            Some(c) => dir.join(c),
            None if dir.join("capture.pcap").exists() => dir.join("capture.pcap"),
            None => dir.join("input.pcap"),
        };
        let policy = exp.policy.as_deref().map(|p| dir.join(p));
        let out = analyze(&capture, policy.as_deref(), exp.sensor_location.as_deref());
        for line in out.lines() {
            validate_event_line(line).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let fired = fired_rules(&out, "alert");
        let expected: BTreeSet<String> = exp.alerts.iter().cloned().collect();
        let mut note = String::new();
        if let Some(want) = &exp.findings {
            let found = fired_rules(&out, "session");
            let want: BTreeSet<String> = want.iter().cloned().collect();
            note = format!(
                " (session findings: {})",
                found.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            if found != want {
                eprintln!("{name}: session findings {found:?}, expected {want:?}");
                wrong.push(format!("{name} (findings)"));
            }
        }
        let join = |s: &BTreeSet<String>| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        table.push(format!(
            "{:<24} {:<52} {}{note}",
            name,
            join(&expected),
            join(&fired)
        ));
        if fired != expected {
            wrong.push(name);
        }
    }
    eprintln!("detection scenarios:\n{}", table.join("\n"));
    assert!(wrong.is_empty(), "scenarios whose alerts differ: {wrong:?}");
}

/// A policy file can carry the site's networks and the sensor's name and
/// location itself: the India scenario needs no flag then.
#[test]
fn a_policy_file_names_the_site_and_the_sensor() {
    let dir = crate_root().join("tests/scenarios/unexpected_country");
    let own = std::fs::read_to_string(dir.join("policy.toml")).unwrap();
    let tmp = std::env::temp_dir().join(format!("gw-policy-site-{}.toml", std::process::id()));
    std::fs::write(
        &tmp,
        format!("[sensor]\nname = \"milan-gw1\"\nnetworks = [\"{SCENARIO_SITE}\"]\n\n{own}"),
    )
    .unwrap();
    let out = analyze_with(&dir.join("capture.pcap"), Some(&tmp), None, &[]);
    std::fs::remove_file(&tmp).ok();
    assert_eq!(
        fired_rules(&out, "alert"),
        BTreeSet::from(["unexpected_geography".to_string()])
    );
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["sensor"]["name"], "milan-gw1");
    let session = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event_type"] == "session")
        .unwrap();
    assert_eq!(session["direction"], "inbound");
    assert_eq!(session["identity"]["name"], "alice");
}

/// The DHCP exchange of a site host (a real one: FoxIO's dhcp.pcapng) tells
/// its MAC; the policy's laptop MAC ties the AnyDesk session that follows
/// (nDPI's, moved to that address) to its identity, for 1 and 2 workers.
#[test]
fn an_issued_laptop_is_found_through_its_dhcp_exchange() {
    let dir = crate_root().join("tests/pcap/dhcp-laptop");
    for workers in ["1", "2"] {
        let out = analyze_with(
            &dir.join("input.pcap"),
            Some(&dir.join("policy.toml")),
            None,
            &["--workers", workers],
        );
        let alert = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["event_type"] == "alert" && v["src_ip"] == "192.168.0.10")
            .expect("an alert for the laptop");
        assert_eq!(alert["identity"]["name"], "bob", "{alert}");
        assert_eq!(alert["identity"]["matched_by"], "laptop_mac");
        assert_eq!(alert["identity"]["issued_laptop"], true);
        assert_eq!(alert["alert"]["rule"], "remote_control_tool");
        assert_eq!(alert["alert"]["score"], 70);
        assert_eq!(alert["remote_access"]["tool"], "AnyDesk");
    }
    let out = analyze_with(&dir.join("input.pcap"), None, None, &[]);
    assert!(out.contains(
        r#""identity":{"name":"host:192.168.0.10","matched_by":"internal_host","configured":false}"#
    ));
}

/// Corpus captures of remote-access tools and protocols, where an alert
/// (e.g. `remote_control_tool` for AnyDesk) is the right answer.
const REMOTE_ACCESS_CAPTURES: &[&str] = &[
    "anydesk",
    "teamviewer",
    "rdp",
    "vnc",
    "ssh",
    "nomachine",
    "radmin",
    "rustdesk",
    "tailscale",
    "openvpn",
    "wireguard",
    "ipsec",
    "ike",
];

fn is_remote_access_capture(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    REMOTE_ACCESS_CAPTURES.iter().any(|k| lower.contains(k))
}

#[test]
fn corpus_false_positives() {
    let Some(corpus) = shared_corpus("corpus_false_positives") else {
        return;
    };
    let sources = gatewatch::enrich::setup::EnrichOptions::default()
        .build()
        .expect("embedded demo databases")
        .sources;
    let config = PipelineConfig {
        enrich: Some(SharedSources::new(sources)),
        detect: Some(gatewatch::detect::DetectConfig::new(
            gatewatch::detect::Policy::default_policy(),
            None,
        )),
        ..PipelineConfig::default()
    };
    let (mut captures, mut sessions, mut alerts_ra, mut fps) = (0, 0, 0, Vec::new());
    for path in captures_under(&corpus) {
        let mut out = Vec::new();
        let _ = run_files(std::slice::from_ref(&path), &config, &mut out);
        let rel = path
            .strip_prefix(&corpus)
            .unwrap()
            .to_string_lossy()
            .to_string();
        captures += 1;
        for v in parse_lines(&out).unwrap_or_default() {
            match v["event_type"].as_str() {
                Some("session") => sessions += 1,
                Some("alert") => {
                    validate_event_line(&v.to_string()).unwrap_or_else(|e| panic!("{rel}: {e}"));
                    if is_remote_access_capture(&rel) {
                        alerts_ra += 1;
                    } else {
                        fps.push(format!("{rel}: {}", v["alert"]["reason"]));
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!(
        "corpus_false_positives: {captures} captures, {sessions} sessions, {alerts_ra} alerts on \
         remote-access captures, {} false positives on the others{}",
        fps.len(),
        fps.iter().map(|f| format!("\n  {f}")).collect::<String>()
    );
    assert!(captures > 250, "corpus looks incomplete: {captures}");
    // The README states this count.
    assert_eq!(fps.len(), 0, "{fps:#?}");
}
