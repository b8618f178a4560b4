//! Fuzz detection's inputs that come from files: the policy (TOML) and the
//! identity map (CSV/JSON); then run the detector with a parsed policy on
//! sessions whose facts come from the same bytes. No panic, and a verdict
//! always keeps its invariants (score within 0..=100, findings sorted by
//! contribution, an alert only at or above the policy's threshold).
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::detect::facts::RemoteFacts;
use gatewatch::detect::{DetectConfig, Detector, Policy, SessionFacts};
use libfuzzer_sys::fuzz_target;

fn byte(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode & 1 == 1 {
        let _ = gatewatch::detect::identity::parse_map(text);
        return;
    }
    let Ok(policy) = Policy::parse(std::path::Path::new("fuzz.toml"), text) else {
        return;
    };
    // Policies naming a store or an identity map would touch files.
    if policy.store.path.is_some() || policy.identity_map.is_some() {
        return;
    }
    let min_score = policy.alerts.min_score;
    let mut d = Detector::new(DetectConfig::new(policy, None));
    for (i, chunk) in rest.chunks(16).take(64).enumerate() {
        let b = |k| byte(chunk, k);
        let remote = RemoteFacts {
            country_iso: Some(String::from_utf8_lossy(&[b'A' + b(0) % 26, b'A' + b(1) % 26]).into_owned()),
            lat: Some(f64::from(b(2)) - 90.0),
            lon: Some(f64::from(b(3)) * 1.4 - 180.0),
            accuracy_km: Some(u32::from(b(4)) * 10),
            connection_type: Some(["Cable/DSL", "Cellular", "Corporate", "Satellite"][usize::from(b(5) % 4)].into()),
            anonymous_vpn: b(6) & 1 != 0,
            hosting: b(6) & 2 != 0,
            tor_exit: b(6) & 4 != 0,
            ..RemoteFacts::default()
        };
        let ip = std::net::IpAddr::from([192, 0, 2, b(7)]);
        let s = SessionFacts {
            flow_id: i as u64,
            start: Timestamp(i64::from(b(8)) * 3_600_000_000_000 + i as i64 * 1_000_000_000),
            inbound: b(9) & 1 == 0,
            outbound: b(9) & 1 == 1,
            internal_ip: Some(std::net::IpAddr::from([10, 10, 0, b(10)])),
            remote_ip: Some(ip),
            app_proto: Some(if b(11) & 1 == 0 { "rdp" } else { "ssh" }),
            tool: Some("RDP".into()),
            category: Some("remote-desktop"),
            tool_from_catalogue: b(11) & 2 != 0,
            user_hint: Some(format!("u{}", b(12) % 8)),
            tcp_rtt_client_ns: Some(u64::from(b(13)) * 1_000_000),
            app_rtt_client_ns: Some(u64::from(b(14)) * 4_000_000),
            app_rtt_samples: 1,
            client_syn_mss: Some(1200 + u16::from(b(15))),
            remote: Some(remote),
            ..SessionFacts::default()
        };
        let v = d.on_session(&s);
        assert!(v.score <= 100);
        assert!(v.findings.windows(2).all(|w| w[0].score >= w[1].score));
        if v.alert.is_some() {
            assert!(v.score >= min_score);
        }
    }
});
