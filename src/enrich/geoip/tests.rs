//! Unit tests: the verifier on hand-built bytes (laid out by the spec's
//! "Data Field Format" section) and kinds from real `database_type`s.

use super::verify::{verify, Section};
use super::*;

/// A one-node IPv4 database, both records pointing to data offset 0, with
/// `data` as the data section (spec example layout, record size 24).
fn tiny_db(data: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 17, 0, 0, 17]; // node_count 1 + 16 + offset 0
    f.extend([0u8; 16]);
    f.extend(data);
    f.extend(b"\xab\xcd\xefMaxMind.com");
    // Map of 9: keys/values encoded per the spec's control bytes.
    f.push(0xe9);
    let mut kv = |k: &str, v: &[u8]| {
        f.push(0x40 | k.len() as u8);
        f.extend(k.as_bytes());
        f.extend(v);
    };
    kv("binary_format_major_version", &[0xa1, 2]);
    kv("binary_format_minor_version", &[0xa0]);
    kv("build_epoch", &[0x04, 0x02, 0x65, 0x4f, 0x4e, 0x00]); // uint64 1699696128
    kv("database_type", b"\x4aTest-City!");
    kv("description", &[0xe0]);
    kv("ip_version", &[0xa1, 4]);
    kv("languages", &[0x00, 0x04]);
    kv("node_count", &[0xc1, 1]);
    kv("record_size", &[0xa1, 24]);
    f
}

#[test]
fn tiny_database_verifies_and_reads() {
    // {"a": 1.5 as double}
    let db = tiny_db(&[0xe1, 0x41, b'a', 0x68, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    let l = verify(&db).unwrap();
    assert_eq!((l.node_count, l.record_size, l.ip_version), (1, 24, 4));
    assert_eq!(l.database_type, "Test-City!");
    assert_eq!(l.build_epoch, 1_699_696_128);
    assert_eq!(l.data_records, 1);
}

#[test]
fn double_of_wrong_size_is_named() {
    let db = tiny_db(&[0xe1, 0x41, b'a', 0x63, 0x3f, 0xf8, 0]);
    let e = verify(&db).unwrap_err();
    assert_eq!(e.section, Section::Data);
    assert_eq!(
        e.to_string(),
        "data section offset 3: double of size 3 (must be 8)"
    );
}

#[test]
fn pointer_cycle_and_pointer_to_pointer_are_refused() {
    // Map {"a": pointer to offset 0} contains itself.
    let e = verify(&tiny_db(&[0xe1, 0x41, b'a', 0x20, 0x00])).unwrap_err();
    assert!(e.what.contains("deeper than 512"), "{e}");
    // Array [pointer to 4] where offset 4 is a pointer to 0.
    let e = verify(&tiny_db(&[0x01, 0x04, 0x20, 0x04, 0x20, 0x00])).unwrap_err();
    assert!(e.what.contains("pointer to a pointer"), "{e}");
}

#[test]
fn bad_types_and_keys_are_refused() {
    // Extended type 0 + 7 = 7 is not an extended type.
    let e = verify(&tiny_db(&[0x00, 0x00])).unwrap_err();
    assert!(e.what.contains("not one of 8..=15"), "{e}");
    // End marker (extended 13) in data.
    let e = verify(&tiny_db(&[0x00, 0x06])).unwrap_err();
    assert!(e.what.contains("end marker"), "{e}");
    // Map with a uint16 key.
    let e = verify(&tiny_db(&[0xe1, 0xa1, 0x01, 0x41, b'x'])).unwrap_err();
    assert!(e.what.contains("map key is a uint16"), "{e}");
    // Invalid UTF-8 string.
    let e = verify(&tiny_db(&[0x42, 0xc3, 0x28])).unwrap_err();
    assert!(e.what.contains("UTF-8"), "{e}");
    // uint32 of 5 bytes.
    let e = verify(&tiny_db(&[0xc5, 1, 2, 3, 4, 5])).unwrap_err();
    assert!(e.what.contains("uint32 of size 5"), "{e}");
}

#[test]
fn missing_marker_and_truncation_are_refused() {
    let e = verify(b"not a database").unwrap_err();
    assert!(e.what.contains("no metadata marker"), "{e}");
    let db = tiny_db(&[0xa1, 7]);
    for cut in 0..db.len() {
        assert!(verify(db.get(..cut).unwrap()).is_err(), "cut at {cut}");
    }
}

#[test]
fn kinds_from_database_type() {
    use DatabaseKind::*;
    for (t, k) in [
        ("GeoIP2-City", City),
        ("GeoLite2-City", City),
        ("GeoIP2-City-Shield", City),
        ("GeoIP2-Country", Country),
        ("GeoLite2-ASN", Asn),
        ("GeoIP2-ISP", Isp),
        ("GeoIP2-Connection-Type", ConnectionType),
        ("GeoIP2-Anonymous-IP", AnonymousIp),
        ("GeoIP-Anonymous-Plus", AnonymousPlus),
        ("GeoIP-Residential-Proxy", ResidentialProxy),
        ("GeoIP2-Enterprise", Enterprise),
        ("GeoIP2-Precision-Enterprise-Shield", Enterprise),
        ("GeoIP2-Domain", Other),
    ] {
        assert_eq!(DatabaseKind::from_database_type(t), k, "{t}");
    }
}

#[test]
fn embedded_database_opens_and_ages() {
    let bytes: &'static [u8] = Box::leak(tiny_db(&[0xe1, 0x41, b'a', 0xa1, 1]).into_boxed_slice());
    let db = GeoDatabase::from_bytes("tiny", bytes).unwrap();
    assert_eq!(db.path_or_name(), "tiny");
    assert_eq!(db.kind(), DatabaseKind::City);
    assert_eq!(db.age(1_699_696_128 + 86_400), Duration::from_secs(86_400));
    assert_eq!(db.age(0), Duration::ZERO);
    let set = GeoDatabases::from_embedded([("tiny", bytes)]).unwrap();
    assert_eq!(set.missing_kinds().len(), 3);
    let mut info = GeoInfo::default();
    db.lookup_into("::1".parse().unwrap(), &mut info);
    assert!(info.is_empty(), "IPv6 on an IPv4 database");
    db.lookup_into("9.9.9.9".parse().unwrap(), &mut info);
    assert_eq!(info.network.as_deref(), Some("0.0.0.0/1"));
}
