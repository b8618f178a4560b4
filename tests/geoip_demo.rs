//! The demo GeoIP databases in `geoip/` against their JSON source in
//! `geoip/source/`:
//!
//! - rebuilding each source gives the committed file byte for byte (so the
//!   committed databases never drift from their source);
//! - every network of every source reads back, field by field, through the
//!   `maxminddb` crate (an independent reader);
//! - a sample of addresses reads back through libmaxminddb's `mmdblookup`
//!   (MaxMind's C reader; skipped with a message when it is not installed);
//! - addresses from the corpus captures that the README promises are covered
//!   resolve;
//! - a bad source is refused with an error naming the file and the field.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use gatewatch::enrich::build::{build_bytes, build_mmdb, BuildError};
use serde_json::Value as Json;

/// (source, committed database, metadata database_type)
const DATABASES: [(&str, &str, &str); 4] = [
    ("city", "gatewatch-demo-city.mmdb", "GeoLite2-City"),
    ("asn", "gatewatch-demo-asn.mmdb", "GeoLite2-ASN"),
    (
        "anonymous-ip",
        "gatewatch-demo-anonymous-ip.mmdb",
        "GeoIP2-Anonymous-IP",
    ),
    (
        "connection-type",
        "gatewatch-demo-connection-type.mmdb",
        "GeoIP2-Connection-Type",
    ),
];

fn geoip_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip")
}

fn source_path(name: &str) -> PathBuf {
    geoip_dir().join("source").join(format!("{name}.json"))
}

fn source(name: &str) -> Json {
    let text = std::fs::read(source_path(name)).unwrap();
    serde_json::from_slice(&text).unwrap()
}

fn networks(src: &Json) -> &Vec<Json> {
    src["networks"].as_array().unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatewatch-geoip-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// First and last address of a CIDR.
fn ends(cidr: &str) -> (IpAddr, IpAddr) {
    let net: ipnet::IpNet = cidr.parse().unwrap();
    (net.network(), net.broadcast())
}

#[test]
fn rebuilt_databases_match_the_committed_files() {
    let dir = temp_dir("rebuild");
    for (name, db, db_type) in DATABASES {
        let out = dir.join(db);
        let summary = build_mmdb(&source_path(name), &out).unwrap();
        assert_eq!(summary.database_type, db_type);
        assert_eq!(summary.networks, networks(&source(name)).len());
        let rebuilt = std::fs::read(&out).unwrap();
        let committed = std::fs::read(geoip_dir().join(db)).unwrap();
        assert!(
            rebuilt == committed,
            "geoip/{db} differs from a rebuild of geoip/source/{name}.json: run scripts/build-geoip.sh"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metadata_is_what_the_source_says() {
    for (name, db, db_type) in DATABASES {
        let reader = maxminddb::Reader::open_readfile(geoip_dir().join(db)).unwrap();
        let m = reader.metadata();
        let src = source(name);
        assert_eq!(m.database_type, db_type);
        assert_eq!(
            m.description.get("en").map(String::as_str),
            Some("gatewatch demo data, not for production")
        );
        assert_eq!(m.languages, vec!["en".to_string()]);
        assert_eq!(m.ip_version, 6);
        assert_eq!(m.record_size, 28);
        assert_eq!(m.binary_format_major_version, 2);
        assert_eq!(Some(m.build_epoch), src["metadata"]["build_epoch"].as_u64());
    }
}

/// `got` (decoded by a reader) says exactly what `want` (the source) says:
/// same keys, same strings and booleans, same numbers.
fn assert_same(want: &Json, got: &Json, path: &str) {
    match (want, got) {
        (Json::Object(w), Json::Object(g)) => {
            let wk: Vec<_> = w.keys().collect();
            let gk: Vec<_> = g.keys().collect();
            assert_eq!(wk, gk, "{path}: keys");
            for (k, v) in w {
                assert_same(v, &g[k], &format!("{path}.{k}"));
            }
        }
        (Json::Array(w), Json::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{path}: length");
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                assert_same(a, b, &format!("{path}[{i}]"));
            }
        }
        (Json::Number(w), Json::Number(g)) => {
            // Integers in the source must come back as integers (uint16/32).
            if w.is_u64() {
                assert_eq!(w.as_u64(), g.as_u64(), "{path}");
            } else {
                assert_eq!(w.as_f64(), g.as_f64(), "{path}");
            }
        }
        _ => assert_eq!(want, got, "{path}"),
    }
}

#[test]
fn every_network_reads_back_through_maxminddb() {
    let mut checked = 0;
    for (name, db, _) in DATABASES {
        let reader = maxminddb::Reader::open_readfile(geoip_dir().join(db)).unwrap();
        reader.verify().unwrap();
        for (i, entry) in networks(&source(name)).iter().enumerate() {
            let cidr = entry["network"].as_str().unwrap();
            let (first, last) = ends(cidr);
            for addr in [first, last] {
                let what = format!("{name}.json networks[{i}] ({cidr}) at {addr}");
                let found = reader.lookup(addr).unwrap();
                let got: Json = found
                    .decode()
                    .unwrap()
                    .unwrap_or_else(|| panic!("{what}: not found"));
                assert_same(&entry["data"], &got, &what);
                // The writer merges adjacent networks holding the same record
                // (52.84.0.0/15 + 52.86.0.0/15 -> 52.84.0.0/14), so the matched
                // network holds the source's network rather than equals it.
                let matched: ipnet::IpNet = found.network().unwrap().to_string().parse().unwrap();
                assert!(
                    matched.contains(&first) && matched.contains(&last),
                    "{what}: matched {matched}"
                );
                checked += 1;
            }
        }
    }
    // 2 addresses for each network of the four sources.
    assert!(checked >= 2 * (138 + 138 + 91 + 138), "{checked}");
}

#[test]
fn ipv4_mapped_lookups_reach_the_ipv4_data() {
    let reader =
        maxminddb::Reader::open_readfile(geoip_dir().join("gatewatch-demo-asn.mmdb")).unwrap();
    for addr in ["8.8.8.8", "::ffff:8.8.8.8"] {
        let got: Json = reader
            .lookup(addr.parse().unwrap())
            .unwrap()
            .decode()
            .unwrap()
            .unwrap();
        assert_eq!(got["autonomous_system_number"], 15169, "{addr}");
        assert_eq!(
            got["autonomous_system_organization"], "Google LLC",
            "{addr}"
        );
    }
}

/// Leaves of a record as (path for mmdblookup, value).
fn leaves(v: &Json, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Json)>) {
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                leaves(x, path, out);
                path.pop();
            }
        }
        Json::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push((path.clone(), v.clone())),
    }
}

/// Parse one value printed by mmdblookup, e.g. `"IT" <utf8_string>`,
/// `64496 <uint32>`, `true <boolean>`, `37.386100 <double>`.
fn parse_mmdblookup(stdout: &str) -> Option<(String, String)> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let (value, ty) = line.rsplit_once(" <")?;
    Some((value.to_string(), ty.trim_end_matches('>').to_string()))
}

fn mmdblookup_value_matches(want: &Json, value: &str, ty: &str) -> bool {
    match want {
        Json::String(s) => ty == "utf8_string" && value == format!("\"{s}\""),
        Json::Bool(b) => ty == "boolean" && value == b.to_string(),
        Json::Number(n) if n.is_u64() => {
            ty.starts_with("uint") && value.parse::<u64>().ok() == n.as_u64()
        }
        Json::Number(n) => {
            // mmdblookup prints doubles with six decimals.
            ty == "double"
                && value
                    .parse::<f64>()
                    .is_ok_and(|x| (x - n.as_f64().unwrap_or(f64::NAN)).abs() < 1e-6)
        }
        _ => false,
    }
}

#[test]
fn sample_reads_back_through_libmaxminddb() {
    if Command::new("mmdblookup")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: mmdblookup (Debian package mmdb-bin) is not installed");
        return;
    }
    let mut checked = 0;
    for (name, db, _) in DATABASES {
        let file = geoip_dir().join(db);
        // Every fifth network, plus every documentation-range (scenario) one.
        for (i, entry) in networks(&source(name)).iter().enumerate() {
            let cidr = entry["network"].as_str().unwrap();
            let doc = ["192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:"]
                .iter()
                .any(|p| cidr.starts_with(p));
            if i % 5 != 0 && !doc {
                continue;
            }
            let (_, addr) = ends(cidr);
            let mut fields = Vec::new();
            leaves(&entry["data"], &mut Vec::new(), &mut fields);
            for (path, want) in fields {
                let out = Command::new("mmdblookup")
                    .arg("--file")
                    .arg(&file)
                    .arg("--ip")
                    .arg(addr.to_string())
                    .args(&path)
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                let what = format!("mmdblookup {db} {addr} {}", path.join(" "));
                assert!(out.status.success(), "{what}: {out:?}");
                let (value, ty) =
                    parse_mmdblookup(&stdout).unwrap_or_else(|| panic!("{what}: {stdout}"));
                assert!(
                    mmdblookup_value_matches(&want, &value, &ty),
                    "{what}: printed {value} <{ty}>, source says {want}"
                );
                checked += 1;
            }
        }
    }
    eprintln!("mmdblookup: {checked} fields checked");
    assert!(checked > 300, "{checked}");
}

/// Public addresses of corpus captures the README says are covered (listed
/// with `tshark -r F -T fields -e ip.src -e ip.dst`), with the country and
/// ASN the source gives them.
const CORPUS_ADDRESSES: [(&str, &str, &str, u32); 12] = [
    ("ndpi vnc.pcap", "95.237.48.208", "IT", 3269),
    ("ndpi teamviewer.pcap", "93.47.224.241", "IT", 12874),
    ("ndpi anydesk.pcapng", "51.83.238.219", "FR", 16276),
    ("ndpi protonvpn.pcap", "185.159.159.148", "CH", 62371),
    ("ndpi openvpn.pcap", "3.111.166.78", "IN", 16509),
    ("ndpi openvpn.pcap", "166.161.181.18", "US", 20057),
    ("ndpi wireguard.pcap", "139.162.192.157", "SG", 63949),
    ("ndpi softether.pcap", "130.158.6.105", "JP", 64521),
    ("ndpi dns_dot.pcap", "8.8.8.8", "US", 15169),
    ("ndpi tailscale.pcap", "18.196.71.179", "DE", 16509),
    ("ndpi rdp_over_tls.pcap", "89.31.79.12", "PL", 64510),
    (
        "ndpi http_ipv6.pcap",
        "2a00:1450:4001:803::1012",
        "US",
        15169,
    ),
];

#[test]
fn corpus_addresses_resolve() {
    let city =
        maxminddb::Reader::open_readfile(geoip_dir().join("gatewatch-demo-city.mmdb")).unwrap();
    let asn =
        maxminddb::Reader::open_readfile(geoip_dir().join("gatewatch-demo-asn.mmdb")).unwrap();
    for (capture, addr, country, number) in CORPUS_ADDRESSES {
        let ip: IpAddr = addr.parse().unwrap();
        let c: Json = city.lookup(ip).unwrap().decode().unwrap().unwrap();
        assert_eq!(c["country"]["iso_code"], country, "{capture} {addr}");
        let a: Json = asn.lookup(ip).unwrap().decode().unwrap().unwrap();
        assert_eq!(a["autonomous_system_number"], number, "{capture} {addr}");
    }
    // An address nobody attributed stays unknown rather than guessed.
    let none = city.lookup("13.13.13.37".parse().unwrap()).unwrap();
    assert!(!none.has_data());
}

#[test]
fn scenario_flags() {
    let anon =
        maxminddb::Reader::open_readfile(geoip_dir().join("gatewatch-demo-anonymous-ip.mmdb"))
            .unwrap();
    let ct =
        maxminddb::Reader::open_readfile(geoip_dir().join("gatewatch-demo-connection-type.mmdb"))
            .unwrap();
    let flags =
        |a: &str| -> Option<Json> { anon.lookup(a.parse().unwrap()).unwrap().decode().unwrap() };
    let vpn = flags("198.51.100.7").unwrap();
    assert_eq!(vpn["is_anonymous_vpn"], true);
    assert_eq!(vpn["is_hosting_provider"], true);
    assert_eq!(flags("198.51.100.70").unwrap()["is_tor_exit_node"], true);
    assert_eq!(flags("198.51.100.100").unwrap()["is_public_proxy"], true);
    assert_eq!(
        flags("198.51.100.200").unwrap()["is_residential_proxy"],
        true
    );
    // The contractor's home ISP is not anonymous at all.
    assert_eq!(flags("192.0.2.10"), None);
    let conn = |a: &str| -> Json {
        ct.lookup(a.parse().unwrap())
            .unwrap()
            .decode()
            .unwrap()
            .unwrap()
    };
    assert_eq!(conn("192.0.2.10")["connection_type"], "Cable/DSL");
    assert_eq!(conn("203.0.113.10")["connection_type"], "Cellular");
    assert_eq!(conn("203.0.113.70")["connection_type"], "Corporate");
    assert_eq!(conn("203.0.113.200")["connection_type"], "Satellite");
}

fn build_error(json: &str, tag: &str) -> String {
    let dir = temp_dir(tag);
    let src = dir.join("bad.json");
    std::fs::write(&src, json).unwrap();
    let err = build_mmdb(&src, &dir.join("bad.mmdb")).unwrap_err();
    assert!(!dir.join("bad.mmdb").exists());
    let msg = err.to_string();
    let file = src.display().to_string();
    assert!(msg.starts_with(&format!("{file}: ")), "{msg}");
    assert!(matches!(err, BuildError::Field { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    msg.trim_start_matches(&format!("{file}: ")).to_string()
}

#[test]
fn bad_sources_name_the_file_and_field() {
    let city = std::fs::read_to_string(source_path("city")).unwrap();
    let mut doc: Json = serde_json::from_str(&city).unwrap();
    doc["networks"][12]["network"] = Json::from("10.0.0.0/33");
    assert_eq!(
        build_error(&doc.to_string(), "cidr"),
        "networks[12].network: \"10.0.0.0/33\" is not a CIDR"
    );

    let mut doc: Json = serde_json::from_str(&city).unwrap();
    doc["networks"][3]["data"]["location"]
        .as_object_mut()
        .unwrap()
        .remove("accuracy_radius");
    assert_eq!(
        build_error(&doc.to_string(), "missing"),
        "networks[3].data.location.accuracy_radius: missing"
    );

    let mut doc: Json = serde_json::from_str(&city).unwrap();
    doc["networks"][0]["data"]["location"]["accuracy_radius"] = Json::from(70000);
    let msg = build_error(&doc.to_string(), "range");
    assert!(
        msg.starts_with("networks[0].data.location.accuracy_radius: "),
        "{msg}"
    );
}

#[test]
fn bad_json_names_the_file() {
    let err = build_bytes("geoip/source/broken.json", b"{\"metadata\": [").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("geoip/source/broken.json: not valid JSON"),
        "{err}"
    );
}
