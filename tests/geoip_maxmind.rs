//! GeoIP databases against MaxMind's own test data
//! (../shared/maxmind-test-data): every test database opens and verifies
//! except the intentionally broken ones, lookups match the JSON sources the
//! databases were built from, and every bad-data file (and truncated or
//! byte-flipped copies of a good one) is refused without a panic.

use std::net::IpAddr;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use gatewatch::enrich::geoip::{DatabaseKind, GeoDatabase, GeoDatabases, GeoError};
use gatewatch::enrich::{GeoInfo, GeoLookup};
use serde_json::Value;

fn data_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/maxmind-test-data");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipped: {} is absent", d.display());
        None
    }
}

/// The test databases MaxMind built broken on purpose, and a word that
/// our error must contain for each.
const BROKEN: [(&str, &str); 4] = [
    (
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "double of size",
    ),
    ("GeoIP2-City-Test-Invalid-Node-Count.mmdb", "search tree"),
    ("MaxMind-DB-test-broken-pointers-24.mmdb", "data section"),
    ("MaxMind-DB-test-broken-search-tree-24.mmdb", "search tree"),
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("readable dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "mmdb") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_test_database_verifies_except_the_broken_ones() {
    let Some(dir) = data_dir() else { return };
    let mut table = Vec::new();
    for path in files(&dir.join("test-data")) {
        let name = file_name(&path);
        let started = std::time::Instant::now();
        let res = GeoDatabase::open(&path);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match (BROKEN.iter().find(|(b, _)| *b == name), res) {
            (None, Ok(db)) => {
                table.push(format!(
                    "{name:50} {:18} ok ({} nodes, {:.1} ms)",
                    db.kind().as_str(),
                    db.node_count(),
                    ms
                ));
            }
            (None, Err(e)) => panic!("{name} should verify: {e}"),
            (Some(_), Ok(_)) => panic!("{name} is broken but was accepted"),
            (Some((_, word)), Err(e)) => {
                let msg = e.to_string();
                assert!(msg.starts_with(&path.display().to_string()), "{msg}");
                assert!(msg.contains(word), "{name}: {msg} should mention {word:?}");
                table.push(format!("{name:50} {:18} refused: {msg}", "-"));
            }
        }
    }
    assert!(
        table.len() >= 40,
        "expected every test database, got {}",
        table.len()
    );
    eprintln!("{}", table.join("\n"));
}

#[test]
fn every_bad_data_file_is_refused_without_panic() {
    let Some(dir) = data_dir() else { return };
    let mut table = Vec::new();
    let bad = files(&dir.join("bad-data"));
    assert!(bad.len() >= 20, "bad-data has {} files", bad.len());
    for path in bad {
        let name = file_name(&path);
        let p = path.clone();
        let res = catch_unwind(move || GeoDatabase::open(&p).map(|db| db.build_epoch()))
            .unwrap_or_else(|_| panic!("{name}: verifier panicked"));
        match res {
            // Valid structure with build_epoch = u64::MAX (bad-data README).
            Ok(epoch) if name == "libmaxminddb-uint64-max-epoch.mmdb" => {
                assert_eq!(epoch, u64::MAX);
                table.push(format!(
                    "{name:50} accepted (build_epoch u64::MAX, age saturates)"
                ));
            }
            // Valid files whose metadata ends the file with an empty
            // container: they crashed libmaxminddb by reading one byte past
            // the end. By the spec they are well formed (one node, both
            // records to {"ip": "test"}), so we accept and answer.
            Ok(_) if name.contains("-last-in-metadata") => {
                let db = GeoDatabase::open(&path).unwrap();
                let mut info = GeoInfo::default();
                db.lookup_into("1.2.3.4".parse().unwrap(), &mut info);
                assert_eq!(info.network.as_deref(), Some("0.0.0.0/1"));
                table.push(format!(
                    "{name:50} accepted (well formed; the bug was a reader over-read)"
                ));
            }
            Ok(_) => panic!("{name} was accepted"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(&path.display().to_string()), "{msg}");
                table.push(format!("{name:50} refused: {msg}"));
            }
        }
    }
    eprintln!("{}", table.join("\n"));
}

#[test]
fn truncated_and_flipped_copies_never_panic() {
    let Some(dir) = data_dir() else { return };
    let good = std::fs::read(dir.join("test-data/GeoIP2-City-Test.mmdb")).unwrap();
    let tmp = std::env::temp_dir().join(format!("gatewatch-geoip-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (mut refused, mut accepted) = (0, 0);
    // Truncations at many lengths, including inside the tree, the data and
    // the metadata.
    let mut variants: Vec<Vec<u8>> = (1..40)
        .map(|i| good.get(..good.len() * i / 40).unwrap().to_vec())
        .collect();
    // Single-byte flips spread across the file.
    for i in (0..good.len()).step_by(97) {
        let mut v = good.clone();
        v[i] ^= 0xff;
        variants.push(v);
    }
    for (i, v) in variants.iter().enumerate() {
        let p = tmp.join(format!("v{i}.mmdb"));
        std::fs::write(&p, v).unwrap();
        let res = catch_unwind(|| {
            GeoDatabase::open(&p).map(|db| {
                // A flip the verifier cannot see (e.g. in a name) must
                // still look up without panicking.
                let mut info = GeoInfo::default();
                db.lookup_into("81.2.69.160".parse().unwrap(), &mut info);
                db.lookup_into("2001:218::1".parse().unwrap(), &mut info);
            })
        })
        .unwrap_or_else(|_| panic!("variant {i} panicked"));
        match res {
            Ok(()) => accepted += 1,
            Err(e) => {
                assert!(e.to_string().contains(&format!("v{i}.mmdb")), "{e}");
                refused += 1;
            }
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
    eprintln!("truncated/flipped copies: {refused} refused, {accepted} accepted (no panic)");
    // Every truncation loses the metadata, the tree or data: all refused.
    assert!(refused >= 39, "only {refused} refused");
}

/// The first address of each network in a source JSON, with its record.
fn source(dir: &Path, name: &str) -> Vec<(IpAddr, Value)> {
    let text = std::fs::read_to_string(dir.join("source-data").join(name)).unwrap();
    let list: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&text).unwrap();
    list.into_iter()
        .flat_map(|m| m.into_iter())
        .map(|(net, rec)| {
            let first = net.split('/').next().unwrap();
            // "::1.2.3.0" in these files is the IPv4 network 1.2.3.0
            // mapped into the IPv6 tree where MaxMind puts IPv4.
            let addr = first
                .strip_prefix("::")
                .filter(|rest| rest.contains('.'))
                .unwrap_or(first);
            (addr.parse().unwrap(), rec)
        })
        .collect()
}

fn open(dir: &Path, name: &str) -> GeoDatabase {
    GeoDatabase::open(dir.join("test-data").join(name)).unwrap()
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

fn u(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
}

/// Checks up to `n` networks spread over the file with `check`.
fn compare(
    dir: &Path,
    db: &str,
    src: &str,
    n: usize,
    check: impl Fn(&IpAddr, &Value, &GeoInfo),
) -> usize {
    let db = open(dir, db);
    let recs = source(dir, src);
    let step = (recs.len() / n).max(1);
    let mut checked = 0;
    for (addr, rec) in recs.iter().step_by(step) {
        let mut info = GeoInfo::default();
        db.lookup_into(*addr, &mut info);
        assert!(
            info.network.is_some(),
            "{addr}: no network matched in {src}"
        );
        check(addr, rec, &info);
        checked += 1;
    }
    checked
}

fn check_city(addr: &IpAddr, rec: &Value, info: &GeoInfo) {
    assert_eq!(info.country_iso, s(rec, &["country", "iso_code"]), "{addr}");
    assert_eq!(info.country, s(rec, &["country", "names", "en"]), "{addr}");
    assert_eq!(info.city, s(rec, &["city", "names", "en"]), "{addr}");
    let sub = rec
        .get("subdivisions")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
        .and_then(|l| s(l, &["names", "en"]));
    assert_eq!(info.subdivision, sub, "{addr}");
    let loc = rec.get("location");
    assert_eq!(
        info.lat,
        loc.and_then(|l| l.get("latitude")).and_then(Value::as_f64),
        "{addr}"
    );
    assert_eq!(
        info.lon,
        loc.and_then(|l| l.get("longitude")).and_then(Value::as_f64),
        "{addr}"
    );
    assert_eq!(
        info.accuracy_km.map(u64::from),
        u(rec, &["location", "accuracy_radius"]),
        "{addr}"
    );
    assert_eq!(info.time_zone, s(rec, &["location", "time_zone"]), "{addr}");
}

#[test]
fn city_and_country_lookups_match_the_sources() {
    let Some(dir) = data_dir() else { return };
    let n = compare(
        &dir,
        "GeoIP2-City-Test.mmdb",
        "GeoIP2-City-Test.json",
        25,
        check_city,
    );
    let n2 = compare(
        &dir,
        "GeoLite2-City-Test.mmdb",
        "GeoLite2-City-Test.json",
        25,
        check_city,
    );
    let n3 = compare(
        &dir,
        "GeoIP2-Country-Test.mmdb",
        "GeoIP2-Country-Test.json",
        25,
        |a, r, i| {
            assert_eq!(i.country_iso, s(r, &["country", "iso_code"]), "{a}");
            assert_eq!(i.country, s(r, &["country", "names", "en"]), "{a}");
            assert_eq!(i.city, None);
        },
    );
    assert!(n >= 20 && n2 >= 20 && n3 >= 20, "{n} {n2} {n3}");
    // A value from MaxMind's documentation of this test file.
    let db = open(&dir, "GeoIP2-City-Test.mmdb");
    let mut info = GeoInfo::default();
    db.lookup_into("81.2.69.160".parse().unwrap(), &mut info);
    assert_eq!(info.city.as_deref(), Some("London"));
    assert_eq!(info.country_iso.as_deref(), Some("GB"));
    assert_eq!(info.time_zone.as_deref(), Some("Europe/London"));
    assert_eq!(info.network.as_deref(), Some("81.2.69.160/27"));
}

#[test]
fn network_lookups_match_the_sources() {
    let Some(dir) = data_dir() else { return };
    compare(
        &dir,
        "GeoLite2-ASN-Test.mmdb",
        "GeoLite2-ASN-Test.json",
        25,
        |a, r, i| {
            assert_eq!(
                i.asn.map(u64::from),
                u(r, &["autonomous_system_number"]),
                "{a}"
            );
            assert_eq!(i.as_org, s(r, &["autonomous_system_organization"]), "{a}");
        },
    );
    compare(
        &dir,
        "GeoIP2-ISP-Test.mmdb",
        "GeoIP2-ISP-Test.json",
        25,
        |a, r, i| {
            assert_eq!(
                i.asn.map(u64::from),
                u(r, &["autonomous_system_number"]),
                "{a}"
            );
            assert_eq!(i.isp, s(r, &["isp"]), "{a}");
            assert_eq!(i.organization, s(r, &["organization"]), "{a}");
        },
    );
    let n = compare(
        &dir,
        "GeoIP2-Connection-Type-Test.mmdb",
        "GeoIP2-Connection-Type-Test.json",
        25,
        |a, r, i| assert_eq!(i.connection_type, s(r, &["connection_type"]), "{a}"),
    );
    assert!(n >= 5);
    compare(
        &dir,
        "GeoIP2-Enterprise-Test.mmdb",
        "GeoIP2-Enterprise-Test.json",
        25,
        |a, r, i| {
            check_city(a, r, i);
            let t = r.get("traits").cloned().unwrap_or_default();
            assert_eq!(
                i.asn.map(u64::from),
                u(&t, &["autonomous_system_number"]),
                "{a}"
            );
            assert_eq!(i.isp, s(&t, &["isp"]), "{a}");
            assert_eq!(i.connection_type, s(&t, &["connection_type"]), "{a}");
        },
    );
}

fn flag(r: &Value, k: &str) -> bool {
    r.get(k).and_then(Value::as_bool).unwrap_or(false)
}

#[test]
fn anonymizer_lookups_match_the_sources() {
    let Some(dir) = data_dir() else { return };
    let check = |a: &IpAddr, r: &Value, i: &GeoInfo| {
        let an = i.anonymizer.expect("anonymizer facts");
        assert_eq!(an.is_anonymous, flag(r, "is_anonymous"), "{a}");
        assert_eq!(an.is_anonymous_vpn, flag(r, "is_anonymous_vpn"), "{a}");
        assert_eq!(
            an.is_hosting_provider,
            flag(r, "is_hosting_provider"),
            "{a}"
        );
        assert_eq!(an.is_public_proxy, flag(r, "is_public_proxy"), "{a}");
        assert_eq!(an.is_tor_exit_node, flag(r, "is_tor_exit_node"), "{a}");
        assert_eq!(
            i.anonymizer_confidence.map(u64::from),
            u(r, &["anonymizer_confidence"]),
            "{a}"
        );
        assert_eq!(i.anonymizer_provider, s(r, &["provider_name"]), "{a}");
        assert_eq!(i.anonymizer_last_seen, s(r, &["network_last_seen"]), "{a}");
    };
    compare(
        &dir,
        "GeoIP2-Anonymous-IP-Test.mmdb",
        "GeoIP2-Anonymous-IP-Test.json",
        25,
        |a, r, i| {
            check(a, r, i);
            let an = i.anonymizer.unwrap();
            assert_eq!(
                an.is_residential_proxy,
                flag(r, "is_residential_proxy"),
                "{a}"
            );
        },
    );
    compare(
        &dir,
        "GeoIP-Anonymous-Plus-Test.mmdb",
        "GeoIP-Anonymous-Plus-Test.json",
        25,
        check,
    );
    compare(
        &dir,
        "GeoIP-Residential-Proxy-Test.mmdb",
        "GeoIP-Residential-Proxy-Test.json",
        25,
        |a, r, i| {
            check(a, r, i);
            assert!(i.anonymizer.unwrap().is_residential_proxy, "{a}");
        },
    );
}

#[test]
fn database_set_merges_and_reports_missing_kinds() {
    let Some(dir) = data_dir() else { return };
    let t = dir.join("test-data");
    let set = GeoDatabases::open_all([
        t.join("GeoIP2-City-Test.mmdb"),
        t.join("GeoLite2-ASN-Test.mmdb"),
    ])
    .unwrap();
    assert_eq!(
        set.missing_kinds(),
        vec![DatabaseKind::AnonymousIp, DatabaseKind::ConnectionType]
    );
    let d = set.describe_at(1_700_000_000);
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].kind, DatabaseKind::City);
    assert_eq!(d[0].database_type, "GeoIP2-City");
    assert_eq!(d[1].kind, DatabaseKind::Asn);
    // 1.128.0.0/11 is Telstra in GeoLite2-ASN-Test.json; the City test
    // database has no record for it.
    let info = set.lookup("1.128.0.1".parse().unwrap());
    assert_eq!(info.asn, Some(1221));
    assert_eq!(info.as_org.as_deref(), Some("Telstra Pty Ltd"));
    assert_eq!(info.network.as_deref(), Some("1.128.0.0/11"));
    // Not in either: nothing at all.
    assert!(set.lookup("10.0.0.1".parse().unwrap()).is_empty());

    // The first failure stops with its error, naming the file.
    let err = GeoDatabases::open_all([
        t.join("GeoIP2-City-Test.mmdb"),
        t.join("GeoIP2-City-Test-Broken-Double-Format.mmdb"),
        t.join("no-such.mmdb"),
    ])
    .unwrap_err();
    assert!(matches!(err, GeoError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("Broken-Double-Format"), "{err}");
}

#[test]
fn ipv6_address_on_ipv4_database_finds_nothing() {
    let Some(dir) = data_dir() else { return };
    let db = open(&dir, "MaxMind-DB-test-ipv4-24.mmdb");
    assert_eq!(db.ip_version(), 4);
    let mut info = GeoInfo::default();
    db.lookup_into("::1.1.1.1".parse().unwrap(), &mut info);
    assert!(info.is_empty());
    // 1.1.1.1/32 is in the IPv4 test database (MaxMind-DB test-data docs).
    db.lookup_into("1.1.1.1".parse().unwrap(), &mut info);
    assert_eq!(info.network.as_deref(), Some("1.1.1.1/32"));
}
