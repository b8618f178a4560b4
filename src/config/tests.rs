use super::*;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("/etc/gatewatch/test.toml"), text)
}

fn one_error(text: &str) -> ConfigError {
    let errs = parse(text).expect_err("must be refused").0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

const MINIMAL: &str = "[[capture.interfaces]]\nname = \"eth0\"\n";

#[test]
fn shipped_default_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/gatewatch.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.capture.interfaces.len(), 1);
    assert_eq!(c.capture.interfaces[0].name, "eth0");
    assert_eq!(c.capture.interfaces[0].buffer_size, Some(33_554_432));
    assert_eq!(c.capture.interfaces[0].bpf, None);
    assert!(!c.metrics.enabled);
    assert_eq!(c.metrics.listen.to_string(), DEFAULT_METRICS_LISTEN);
    assert_eq!(c.flow.timeouts.tcp_established_ns, 600_000_000_000);
    assert_eq!(c.service.stats_interval, Duration::from_secs(60));
}

#[test]
fn full_config_maps_to_pipeline_settings() {
    let c = parse(
        r#"
[sensor]
name = "gw-1"
location = { lat = 48.85, lon = 2.35 }
[capture]
workers = 3
[[capture.interfaces]]
name = "eth1"
promiscuous = false
snaplen = 1500
bpf = "tcp port 22"
immediate = false
[[capture.interfaces]]
name = "eth2"
[site]
networks = ["198.51.100.0/24", "2001:db8::/32"]
[flow]
max_flows = 1000
stream_prefix = 4096
memcap = 1048576
timeouts = { tcp-established = 3600, udp-new = 0.5 }
[geoip]
disabled = true
lists = ["lists/vpn.txt"]
max_age_days = 7
[catalogue]
file = "catalogue.toml"
[metrics]
enabled = true
listen = "[::1]:9100"
[outputs]
anything = { goes = "here" }
[policy]
rules = []
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sensor.name, "gw-1");
    assert_eq!(
        c.sensor.location,
        Some(Location {
            lat: 48.85,
            lon: 2.35
        })
    );
    assert_eq!(c.capture.workers, 3);
    assert_eq!(c.capture.interfaces[0].snaplen, 1500);
    assert!(!c.capture.interfaces[0].promiscuous && !c.capture.interfaces[0].immediate);
    assert_eq!(c.capture.interfaces[0].bpf.as_deref(), Some("tcp port 22"));
    assert!(c.capture.interfaces[1].promiscuous);
    assert!(c.site.contains("198.51.100.9".parse().unwrap()));
    assert!(
        c.site.contains("10.1.1.1".parse().unwrap()),
        "private ranges stay"
    );
    assert!(!c.site.contains("203.0.113.1".parse().unwrap()));
    assert_eq!(c.flow.capacity, 1000);
    assert_eq!(c.flow.timeouts.tcp_established_ns, 3_600_000_000_000);
    assert_eq!(c.flow.timeouts.udp_new_ns, 500_000_000);
    assert!(c.enrich.no_geoip);
    assert_eq!(
        c.enrich.site_lists,
        [PathBuf::from("/etc/gatewatch/lists/vpn.txt")]
    );
    assert_eq!(c.enrich.max_age, Duration::from_secs(7 * 86_400));
    assert_eq!(
        c.catalogue,
        Some(PathBuf::from("/etc/gatewatch/catalogue.toml"))
    );
    assert_eq!(c.metrics.listen.to_string(), "[::1]:9100");
    assert!(c.outputs.unwrap().contains_key("anything"));
    assert!(c.policy.unwrap().contains_key("rules"));
}

#[test]
fn unknown_key_names_file_line_and_field() {
    let e = one_error(
        "[capture]\nworkers = 2\n[[capture.interfaces]]\nname = \"eth0\"\nsnaplenn = 100\n",
    );
    assert_eq!(e.line, Some(5));
    assert_eq!(e.field.as_deref(), Some("capture.interfaces.snaplenn"));
    assert!(
        e.message.contains("unknown field `snaplenn`"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("snaplen"),
        "the expected keys are listed: {}",
        e.message
    );
    let shown = e.to_string();
    assert!(shown.starts_with("/etc/gatewatch/test.toml:5:"), "{shown}");
}

#[test]
fn wrong_type_says_what_was_expected() {
    let e = one_error(&format!("{MINIMAL}[metrics]\nenabled = \"yes\"\n"));
    assert_eq!(e.line, Some(4));
    assert_eq!(e.field.as_deref(), Some("metrics.enabled"));
    assert!(
        e.message.contains("expected a boolean") || e.message.contains("bool"),
        "{}",
        e.message
    );
}

#[test]
fn semantic_errors_point_at_the_value() {
    let errs = parse(&format!(
        "{MINIMAL}[site]\nnetworks = [\"10.0.0.0/8\", \"300.1.1.1/8\"]\n[sensor]\nlocation = {{ lat = 91.0, lon = 2.0 }}\n[metrics]\nlisten = \"localhost\"\n[capture]\nworkers = 0\n"
    ))
    .unwrap_err()
    .0;
    let by_field = |f: &str| {
        errs.iter()
            .find(|e| e.field.as_deref() == Some(f))
            .unwrap_or_else(|| panic!("no error for {f}: {errs:?}"))
    };
    let net = by_field("site.networks[1]");
    assert_eq!((net.line, net.column), (Some(4), Some(27)));
    assert!(net.message.contains("not an IPv4 or IPv6 address"));
    let lat = by_field("sensor.location.lat");
    assert_eq!(lat.line, Some(6));
    assert!(lat.message.contains("-90..=90"));
    let listen = by_field("metrics.listen");
    assert_eq!(listen.line, Some(8));
    assert!(listen.message.contains("ADDRESS:PORT"));
    let workers = by_field("capture.workers");
    assert_eq!(workers.line, Some(10));
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn interfaces_are_required_and_checked() {
    let e = one_error("[capture]\nworkers = 1\n");
    assert_eq!(e.field.as_deref(), Some("capture.interfaces"));
    let e = one_error("[[capture.interfaces]]\nname = \"eth0\"\nsnaplen = 10\n");
    assert_eq!(e.field.as_deref(), Some("capture.interfaces[0].snaplen"));
    assert_eq!(e.line, Some(3));
    let e = one_error("[[capture.interfaces]]\nname = \"eth0\"\nbuffer_size = 4096\n");
    assert_eq!(
        e.field.as_deref(),
        Some("capture.interfaces[0].buffer_size")
    );
}

#[test]
fn bad_timeout_state_is_named() {
    let e = one_error(&format!("{MINIMAL}[flow.timeouts]\ntcp = 5\n"));
    assert_eq!(e.field.as_deref(), Some("flow.timeouts.tcp"));
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("unknown state"));
}

#[test]
fn broken_toml_syntax_has_a_position() {
    let e = one_error("[sensor\nname = 1\n");
    assert_eq!(e.line, Some(1));
    assert!(!e.message.is_empty());
}

#[test]
fn restart_only_changes_are_listed() {
    let a = parse(MINIMAL).unwrap();
    let b = parse(&format!(
        "{MINIMAL}[sensor]\nname = \"x\"\n[site]\nnetworks = [\"192.0.2.0/24\"]\n"
    ))
    .unwrap();
    assert!(a.restart_only_changes(&b).is_empty());
    let c = parse("[[capture.interfaces]]\nname = \"eth1\"\n[flow]\nmax_flows = 5\n").unwrap();
    assert_eq!(a.restart_only_changes(&c), ["capture", "flow"]);
}

#[test]
fn outputs_table_is_validated_as_sinks() {
    // A sink of an unknown type, and a file sink without its path: both
    // named by field (docs/outputs.md).
    let table: toml::Table = toml::from_str("[[sinks]]\ntype = \"carrier-pigeon\"\n").unwrap();
    let err = crate::daemon::outputs_config(Some(&table)).unwrap_err();
    assert!(
        err.contains("[outputs]") && err.contains("carrier-pigeon"),
        "{err}"
    );
    let table: toml::Table = toml::from_str("[[sinks]]\ntype = \"file\"\n").unwrap();
    let err = crate::daemon::outputs_config(Some(&table)).unwrap_err();
    assert!(err.contains("path"), "{err}");
    let ok: toml::Table =
        toml::from_str("[[sinks]]\ntype = \"file\"\npath = \"/tmp/x.json\"\n").unwrap();
    assert_eq!(
        crate::daemon::outputs_config(Some(&ok))
            .unwrap()
            .unwrap()
            .sinks
            .len(),
        1
    );
}
