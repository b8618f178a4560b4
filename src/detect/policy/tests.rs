use super::*;

fn parse(text: &str) -> Result<Policy, String> {
    Policy::parse(Path::new("site/policy.toml"), text).map_err(|e| e.to_string())
}

#[test]
fn the_embedded_default_policy_parses_and_configures_no_identity() {
    let p = Policy::parse(Path::new("default"), DEFAULT_POLICY).unwrap();
    assert!(p.identities.is_empty());
    assert!(p.defaults.countries.is_empty());
    assert_eq!(p.alerts.min_score, 40);
    assert_eq!(p.rules.shared_egress.min_identities, 3);
    assert_eq!(p.rules.shared_egress.window_s, 86_400);
    assert!(p.sensor_location.is_none());
    assert_eq!(Policy::default_policy().alerts.dedup_window_s, 3600);
}

#[test]
fn the_documented_example_parses_with_its_values() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/policy.md")).unwrap();
    let start = doc.find("```toml\n").unwrap() + 8;
    let end = start + doc[start..].find("```").unwrap();
    let p = parse(&doc[start..end]).unwrap();
    assert_eq!(
        p.sensor_location.map(|l| (l.lat, l.lon)),
        Some((45.4642, 9.19))
    );
    assert_eq!(p.identities.len(), 1);
    assert_eq!(p.identity_by_rdp_user("CORP\\alice"), Some(0));
    assert_eq!(p.identity_by_laptop("10.10.0.21".parse().unwrap()), Some(0));
    assert_eq!(p.identity_by_mac("02:00:5E:10:00:21"), Some(0));
    assert_eq!(p.identity_by_source("192.0.2.3".parse().unwrap()), Some(0));
    assert_eq!(p.identity_by_source("192.0.2.16".parse().unwrap()), None);
    let w = p.identities[0].expect.working.unwrap();
    assert_eq!((w.start_min, w.end_min), (9 * 60, 18 * 60));
    assert_eq!(p.defaults.working.unwrap().days, 0b1_1111);
    assert!(p.watches("203.0.113.70".parse().unwrap(), 3389));
    assert!(!p.watches("203.0.113.70".parse().unwrap(), 5900));
    assert_eq!(p.rules.relayed_session.max_app_rtt_ms, 1500.0);
}

#[test]
fn errors_name_the_file_line_column_and_field() {
    let e = parse(
        "[[identities]]\nname = \"alice\"\nworking_hours = \"9-18\"\ntime_zone = \"Europe/Rome\"\n",
    )
    .unwrap_err();
    assert_eq!(
        e,
        "site/policy.toml:3:17: identities[0].working_hours: expected \"HH:MM-HH:MM\" (local time), found \"9-18\""
    );
    let e = parse("[defaults]\ntime_zone = \"Mars/Olympus\"\n").unwrap_err();
    assert_eq!(
        e,
        "site/policy.toml:2:13: defaults.time_zone: expected an IANA time zone name (e.g. \"Europe/Rome\"), found \"Mars/Olympus\""
    );
    let e = parse("[rules.shared_egress]\nmin_identities = 1\n").unwrap_err();
    assert_eq!(
        e,
        "site/policy.toml:2:18: rules.shared_egress.min_identities: expected a whole number within 2..=1000, found 1"
    );
    // Unknown keys are refused by serde, with toml's position.
    let e = parse("[rules.relayed_session]\nmin_ratios = 3.0\n").unwrap_err();
    assert!(
        e.starts_with(
            "site/policy.toml:2:1: rules.relayed_session.min_ratios: unknown field `min_ratios`"
        ),
        "{e}"
    );
    let e = parse("[allow]\nnetworks = [\"10.0.0.0/33\"]\n").unwrap_err();
    assert!(
        e.contains(
            "allow.networks[0]: expected an address or a CIDR network, found \"10.0.0.0/33\""
        ),
        "{e}"
    );
    // Working hours with no time zone anywhere cannot be judged.
    let e = parse("[[identities]]\nname = \"bob\"\nworking_hours = \"09:00-17:00\"\n").unwrap_err();
    assert_eq!(
        e,
        "site/policy.toml: identities[0].working_hours: working hours need a time_zone, the identity's or [defaults]'"
    );
    assert!(parse("[defaults]\ntime_zone = \"UTC\"\n[[identities]]\nname = \"bob\"\nworking_hours = \"09:00-17:00\"\n").is_ok());
    // Every problem at once.
    let e = parse(
        "[defaults]\nexpected_countries = [\"Italy\"]\nexpected_network_kinds = [\"home\"]\n",
    )
    .unwrap_err();
    assert_eq!(e.lines().count(), 2, "{e}");
}

#[test]
fn a_service_configuration_policy_table_reports_policy_dotted_fields() {
    let dir = std::env::temp_dir().join(format!("gw-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gatewatch.toml");
    std::fs::write(
        &path,
        "[sensor]\nname = \"gw\"\n\n[policy.alerts]\nmin_score = 0\n",
    )
    .unwrap();
    let e = Policy::from_service_config(&path).unwrap_err().to_string();
    assert!(e.ends_with("gatewatch.toml:5:13: policy.alerts.min_score: expected a whole number within 1..=100, found 0"), "{e}");
    std::fs::write(&path, "[sensor]\nname = \"gw\"\n").unwrap();
    assert!(Policy::from_service_config(&path).unwrap().is_none());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn working_time_spans_midnight_and_days() {
    // 22:00-06:00 on Monday..Friday nights.
    let w = WorkingTime {
        start_min: 22 * 60,
        end_min: 6 * 60,
        days: 0b1_1111,
    };
    assert!(w.contains(0, 23 * 60)); // Monday 23:00
    assert!(w.contains(1, 60)); // Tuesday 01:00: Monday's shift
    assert!(!w.contains(0, 60)); // Monday 01:00: Sunday's shift, not worked
    assert!(w.contains(5, 60)); // Saturday 01:00: Friday's shift
    assert!(!w.contains(2, 12 * 60));
    assert_eq!(parse_hours("09:00-18:00"), Some((540, 1080)));
    assert_eq!(parse_hours("08:00-24:00"), Some((480, 0)));
    assert_eq!(parse_hours("25:00-18:00"), None);
    assert_eq!(parse_duration("14d"), Some(14 * 86_400));
    assert_eq!(parse_duration("1.5h"), None);
}
