//! The detector end to end on constructed sessions whose far ends are
//! looked up in the project's real demo GeoIP databases (geoip/README.md
//! gives each scenario network's country, coordinates and flags).

use super::*;
use crate::capture::Timestamp;
use crate::enrich::EnrichSources;

fn sources() -> EnrichSources {
    crate::enrich::setup::EnrichOptions::default()
        .build()
        .expect("embedded demo databases")
        .sources
}

/// An inbound RDP session from `remote` to the site server at `at`
/// (seconds since the epoch).
fn rdp_from(src: &EnrichSources, remote: &str, user: &str, at: i64) -> SessionFacts {
    let ip = remote.parse().unwrap();
    SessionFacts {
        flow_id: at as u64,
        start: Timestamp(at * 1_000_000_000),
        end: Timestamp((at + 60) * 1_000_000_000),
        src_ip: Some(ip),
        dst_ip: Some("203.0.113.70".parse().unwrap()),
        src_port: 50_000,
        dst_port: 3389,
        ip_proto: 6,
        inbound: true,
        internal_ip: Some("203.0.113.70".parse().unwrap()),
        remote_ip: Some(ip),
        app_proto: Some("rdp"),
        tool: Some("RDP".into()),
        category: Some("remote-desktop"),
        user_hint: Some(user.into()),
        remote: Some(facts::RemoteFacts::from_info(&src.lookup(ip))),
        ..SessionFacts::default()
    }
}

fn detector(policy: &str) -> Detector {
    let p = Policy::parse(std::path::Path::new("test-policy.toml"), policy).unwrap();
    Detector::new(DetectConfig::new(p, None))
}

fn rules(v: &Verdict) -> Vec<&'static str> {
    v.findings.iter().map(|f| f.rule.as_str()).collect()
}

/// Tuesday 2026-11-24 10:00 Europe/Rome (09:00 UTC).
const TUE_10_ROME: i64 = 1_795_510_800;

const ALICE_IT: &str = r#"
[defaults]
time_zone = "Europe/Rome"
working_hours = "09:00-18:00"
[[identities]]
name = "alice"
rdp_users = ["alice"]
expected_countries = ["IT"]
"#;

#[test]
fn the_expected_contractor_raises_nothing_and_a_far_country_is_explained() {
    let src = sources();
    let mut d = detector(ALICE_IT);
    // 192.0.2.0/26: Turin, Italy (the expected case).
    let v = d.on_session(&rdp_from(&src, "192.0.2.10", "alice", TUE_10_ROME));
    assert_eq!(v.identity.as_ref().map(|w| w.name.as_str()), Some("alice"));
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    assert_eq!(v.alert, None);
    // 192.0.2.192/26: Bengaluru, India, two days later.
    let v = d.on_session(&rdp_from(
        &src,
        "192.0.2.200",
        "alice",
        TUE_10_ROME + 2 * 86_400,
    ));
    assert_eq!(rules(&v), ["unexpected_geography"]);
    let f = &v.findings[0];
    assert_eq!(
        f.reason,
        "The session comes from Bengaluru, IN, outside the countries expected for alice (IT)."
    );
    assert_eq!(f.evidence[0].value, "IN");
    assert_eq!(v.score, 40);
    assert_eq!(
        v.alert.as_ref().map(|a| (a.severity, a.count)),
        Some((Severity::Medium, 1))
    );
}

#[test]
fn a_vpn_exit_is_an_anonymizer_and_hosting_alone_counts_half() {
    let src = sources();
    let mut d = detector("");
    // 198.51.100.0/26: the Astrill-like VPN exit.
    let v = d.on_session(&rdp_from(&src, "198.51.100.7", "bob", TUE_10_ROME));
    assert_eq!(rules(&v), ["anonymizer_exit"]);
    assert_eq!(v.findings[0].score, 50);
    assert_eq!(
        v.findings[0].reason,
        "The session comes from a commercial VPN exit (AS64500 Astrill-like VPN (demo commercial VPN provider)): the person's real location is hidden."
    );
    assert_eq!(
        v.identity.as_ref().map(|w| w.name.as_str()),
        Some("rdp:bob")
    );
    // 198.51.100.128/26: a cloud VM, hosting only.
    let v = d.on_session(&rdp_from(&src, "198.51.100.130", "carol", TUE_10_ROME));
    assert_eq!(rules(&v), ["anonymizer_exit"]);
    assert_eq!(
        (v.findings[0].score, v.findings[0].severity),
        (25, Severity::Medium)
    );
    assert_eq!(v.alert, None, "25 is below the default min_score of 40");
}

#[test]
fn three_identities_behind_one_address_within_a_day_are_a_laptop_farm() {
    let src = sources();
    let mut d = detector("");
    // 192.0.2.130: US residential (Chicago), no anonymizer flag.
    let farm = "192.0.2.130";
    for (i, user) in ["alice", "bob"].iter().enumerate() {
        let v = d.on_session(&rdp_from(&src, farm, user, TUE_10_ROME + i as i64 * 3600));
        assert!(v.findings.is_empty(), "{user}: {:?}", v.findings);
    }
    let v = d.on_session(&rdp_from(&src, farm, "carol", TUE_10_ROME + 7200));
    assert_eq!(rules(&v), ["shared_egress"]);
    let f = &v.findings[0];
    assert_eq!(
        f.evidence[1].value,
        serde_json::json!(["rdp:alice", "rdp:bob", "rdp:carol"])
    );
    assert_eq!(v.alert.as_ref().map(|a| a.severity), Some(Severity::High));
    // A fourth the next hour: same identity-rule pairs are deduplicated
    // per identity, so dave's is a new alert; carol again is counted.
    let v = d.on_session(&rdp_from(&src, farm, "carol", TUE_10_ROME + 7300));
    assert_eq!(rules(&v), ["shared_egress"]);
    assert_eq!(v.alert, None);
    assert_eq!(d.stats().suppressed, 1);
    // Past the dedup hour the next alert carries the suppressed one.
    let v = d.on_session(&rdp_from(&src, farm, "carol", TUE_10_ROME + 7200 + 3600));
    assert_eq!(v.alert.as_ref().map(|a| a.count), Some(2));
    // The next day the window has moved on: one identity alone.
    let v = d.on_session(&rdp_from(&src, farm, "alice", TUE_10_ROME + 3 * 86_400));
    assert!(v.findings.is_empty(), "{:?}", v.findings);
}

#[test]
fn mobile_carriers_are_exempt_from_shared_egress() {
    let src = sources();
    let mut d = detector("");
    // 203.0.113.0/26: CGNAT mobile carrier (Cellular).
    for (i, user) in ["a", "b", "c", "d"].iter().enumerate() {
        let v = d.on_session(&rdp_from(&src, "203.0.113.9", user, TUE_10_ROME + i as i64));
        assert!(v.findings.is_empty(), "{user}: {:?}", v.findings);
    }
}

#[test]
fn turin_then_bengaluru_half_an_hour_later_is_impossible_travel() {
    let src = sources();
    let mut d = detector("");
    d.on_session(&rdp_from(&src, "192.0.2.10", "alice", TUE_10_ROME));
    let v = d.on_session(&rdp_from(&src, "192.0.2.200", "alice", TUE_10_ROME + 1800));
    assert_eq!(rules(&v), ["impossible_travel"]);
    let f = &v.findings[0];
    // Turin (45.0705, 7.6868) to Bengaluru: ~7,000 km great circle.
    let km = f
        .evidence
        .iter()
        .find(|e| e.name == "distance_km")
        .unwrap()
        .value
        .as_f64()
        .unwrap();
    let expected = rules::distance_km((45.0705, 7.6868), (12.9716, 77.5946));
    assert!(
        (km - expected.round()).abs() < 1.0 && (6_500.0..7_500.0).contains(&km),
        "{km}"
    );
    // Two days later the same trip is a flight, not a finding.
    let mut d = detector("");
    d.on_session(&rdp_from(&src, "192.0.2.10", "alice", TUE_10_ROME));
    let v = d.on_session(&rdp_from(
        &src,
        "192.0.2.200",
        "alice",
        TUE_10_ROME + 2 * 86_400,
    ));
    assert!(v.findings.is_empty(), "{:?}", v.findings);
}

#[test]
fn latency_below_the_speed_of_light_and_far_above_the_distance() {
    let src = sources();
    let p = Policy::parse(std::path::Path::new("p"), "").unwrap();
    let mut d = Detector::new(DetectConfig::new(
        p,
        Some(crate::config::Location {
            lat: 45.4642,
            lon: 9.19,
        }),
    ));
    // A LAN round trip (0.3 ms) from an address GeoIP puts in Bengaluru,
    // ~6,400 km from Milan: at least ~64 ms in fibre.
    let mut s = rdp_from(&src, "192.0.2.200", "alice", TUE_10_ROME);
    s.tcp_rtt_client_ns = Some(300_000);
    let v = d.on_session(&s);
    assert_eq!(rules(&v), ["latency_geography_mismatch"]);
    assert_eq!(v.findings[0].evidence.last().unwrap().value, "too_near");
    // 140 ms from there fits the distance.
    s.user_hint = Some("bob".into());
    s.tcp_rtt_client_ns = Some(140_000_000);
    assert!(d.on_session(&s).findings.is_empty());
    // 400 ms from Turin (125 km) is far more than the distance explains.
    let mut t = rdp_from(&src, "192.0.2.10", "carol", TUE_10_ROME);
    t.tcp_rtt_client_ns = Some(400_000_000);
    let v = d.on_session(&t);
    assert_eq!(rules(&v), ["latency_geography_mismatch"]);
    assert_eq!(v.findings[0].evidence.last().unwrap().value, "too_far");
    // Without a sensor location the rule cannot know: silent.
    let mut d = detector("");
    s.tcp_rtt_client_ns = Some(300_000);
    assert!(d.on_session(&s).findings.is_empty());
}

#[test]
fn relayed_sessions_need_both_the_ratio_and_the_gap() {
    let src = sources();
    let mut d = detector("");
    let mut s = rdp_from(&src, "192.0.2.10", "alice", TUE_10_ROME);
    // TCP ends 1 ms away; the client's replies take 150 ms.
    s.tcp_rtt_client_ns = Some(1_000_000);
    s.app_rtt_client_ns = Some(150_000_000);
    s.app_rtt_samples = 3;
    let v = d.on_session(&s);
    assert_eq!(rules(&v), ["relayed_session"]);
    // A LAN session whose endpoint computes 47 ms (the corpus's
    // gre-sample.pcap SSH client): ratio yes, gap no.
    s.app_rtt_client_ns = Some(47_000_000);
    let v = d.on_session(&s);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    // A far direct client: 150 ms both ways.
    s.tcp_rtt_client_ns = Some(150_000_000);
    s.app_rtt_client_ns = Some(152_000_000);
    assert!(d.on_session(&s).findings.is_empty());
    // Seconds: an endpoint waiting, not a path.
    s.tcp_rtt_client_ns = Some(1_000_000);
    s.app_rtt_client_ns = Some(3_300_000_000);
    assert!(d.on_session(&s).findings.is_empty());
    // A site-side client is the person: its reply time is its own.
    s.app_rtt_client_ns = Some(150_000_000);
    s.inbound = false;
    s.outbound = true;
    assert!(d.on_session(&s).findings.is_empty());
}

#[test]
fn an_issued_laptop_running_anydesk_and_the_allowlist() {
    let mut d = detector(
        r#"
[[identities]]
name = "alice"
laptop_addresses = ["10.10.0.21"]
"#,
    );
    let s = SessionFacts {
        start: Timestamp(TUE_10_ROME * 1_000_000_000),
        outbound: true,
        internal_ip: Some("10.10.0.21".parse().unwrap()),
        remote_ip: Some("198.18.0.1".parse().unwrap()),
        tool: Some("AnyDesk".into()),
        category: Some("remote-desktop"),
        tool_from_catalogue: true,
        tool_evidence: vec!["sni:*.net.anydesk.com".into()],
        ..SessionFacts::default()
    };
    let v = d.on_session(&s);
    assert_eq!(rules(&v), ["remote_control_tool"]);
    assert_eq!(v.findings[0].score, 70, "60 + 10 for an issued laptop");
    assert_eq!(
        v.findings[0].reason,
        "alice's issued laptop (10.10.0.21) opened a session with AnyDesk: someone elsewhere can control it through AnyDesk's relay."
    );
    let mut allowed = detector("[allow]\ntools = [\"anydesk\"]\n");
    assert!(allowed.on_session(&s).findings.is_empty());
    // The protocol alone (outbound SSH) is not a remote-control tool.
    let mut ssh = s.clone();
    ssh.tool = Some("SSH".into());
    ssh.category = Some("remote-shell");
    ssh.tool_from_catalogue = false;
    assert!(d.on_session(&ssh).findings.is_empty());
}

#[test]
fn off_hours_sessions_that_fit_another_time_zone() {
    let src = sources();
    let mut d = detector(ALICE_IT);
    // 03:00 Rome (02:00 UTC) on three weekdays: 11:00 at UTC+9.
    let night = TUE_10_ROME - 7 * 3600;
    let mut last = Verdict::default();
    for day in 0..3 {
        last = d.on_session(&rdp_from(&src, "192.0.2.10", "alice", night + day * 86_400));
        if day < 2 {
            assert!(last.findings.is_empty(), "day {day}: {:?}", last.findings);
        }
    }
    assert_eq!(rules(&last), ["off_hours"]);
    let zone = last.findings[0]
        .evidence
        .iter()
        .find(|e| e.name == "matching_utc_offsets")
        .unwrap();
    // 02:00 UTC on Tue-Thu is 09:00-17:59 local (Mon-Fri) at UTC+07 to
    // UTC+14 (the eastern end of the world's zones), and at UTC-12 to
    // UTC-09 the afternoon before (Mon-Wed 14:00-17:00).
    let expected: Vec<String> = (-12..=-9)
        .chain(7..=14)
        .map(|h: i32| format!("UTC{}{:02}:00", if h < 0 { '-' } else { '+' }, h.abs()))
        .collect();
    assert_eq!(zone.value, serde_json::json!(expected));
    assert!(last.findings[0].reason.ends_with("3 of 3 such sessions in 14 days fall in working hours at UTC-12:00 to UTC-09:00, UTC+07:00 to UTC+14:00."), "{}", last.findings[0].reason);
}

#[test]
fn unknown_identity_only_when_identities_are_configured() {
    let src = sources();
    let mut d = detector(ALICE_IT);
    let v = d.on_session(&rdp_from(&src, "192.0.2.11", "mallory", TUE_10_ROME));
    assert_eq!(rules(&v), ["unknown_identity"]);
    let mut d = detector("");
    assert!(d
        .on_session(&rdp_from(&src, "192.0.2.11", "mallory", TUE_10_ROME))
        .findings
        .is_empty());
}

#[test]
fn state_survives_a_restart_through_the_store() {
    let src = sources();
    let dir = std::env::temp_dir().join(format!("gw-detect-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = format!("[store]\npath = \"{}\"\n", dir.join("state.json").display());
    let mut d = detector(&policy);
    d.on_session(&rdp_from(&src, "192.0.2.130", "alice", TUE_10_ROME));
    d.on_session(&rdp_from(&src, "192.0.2.130", "bob", TUE_10_ROME + 60));
    d.finish();
    // A new process: the third identity completes the farm.
    let mut d = detector(&policy);
    assert_eq!(d.state_sizes().1, 1);
    let v = d.on_session(&rdp_from(&src, "192.0.2.130", "carol", TUE_10_ROME + 120));
    assert_eq!(rules(&v), ["shared_egress"]);
    // A corrupt store is reported and replaced by an empty state.
    std::fs::write(dir.join("state.json"), b"{not json").unwrap();
    let d = detector(&policy);
    assert_eq!(d.state_sizes(), (0, 0, 0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_state_is_bounded_by_the_store_limits() {
    let src = sources();
    let mut d = detector("[store]\nmax_identities = 100\nmax_egresses = 50\n");
    for i in 0..5_000i64 {
        let ip = format!("192.0.2.{}", 128 + (i % 60));
        d.on_session(&rdp_from(&src, &ip, &format!("user{i}"), TUE_10_ROME + i));
        let (ids, egresses, dedup) = d.state_sizes();
        assert!(
            ids <= 100 && egresses <= 50 && dedup <= 400,
            "{i}: {ids} {egresses} {dedup}"
        );
    }
}
