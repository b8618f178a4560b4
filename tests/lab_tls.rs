//! The TLS dissector and the remote-access catalogue on real clients (curl
//! and `openssl s_client`) with chosen SNIs against `openssl s_server`, TLS
//! 1.2 and 1.3 (tests/pcap/tls-lab/tls-sni.pcap, made by
//! tests/pcap/lab-tls.sh; see the README.md beside it), run through the
//! whole library pipeline. Expected values are tshark's on the same file
//! and the catalogue's own entries; every line is checked against the event
//! schemas.

mod common;

use serde_json::{json, Value};

const ANYDESK: &str = "relay-3f2a9c1e.net.anydesk.com";
const TEAMVIEWER: &str = "router15.teamviewer.com";
const PLAIN: &str = "intranet.lab.example";
const IP_LITERAL: &str = "10.78.0.1";

/// curl 7.88.1 and s_client (OpenSSL 3.0.19) ClientHellos.
const JA3_CURL: &str = "0149f47eabf9a20d0893e2a44e5a6323";
const JA3_S_CLIENT: &str = "a3afc2c46ba4a7d7fbe1cfb7a3031c2f";
/// s_server -tls1_2 answering curl / s_client, and s_server in TLS 1.3.
const JA3S_12_CURL: &str = "a548c224ffe85e7076d7897c27f6758c";
const JA3S_12_S_CLIENT: &str = "abade5a4a7f42baf54766e5d108283b6";
const JA3S_13: &str = "15af977ce25de452b96affa2addb1036";

/// One connection as tshark 4.0 shows it: `tshark -r tls-sni.pcap
/// -Y 'tls.handshake.type==1 || tls.handshake.type==2' -T fields
/// -e tcp.srcport -e tls.handshake.extensions_server_name
/// -e tls.handshake.ja3 -e tls.handshake.ja3s -e tls.handshake.ciphersuite`
/// (the ServerHello's version and cipher: 0x0303 + 0xc02c under -tls1_2;
/// supported_versions 0x0304 + 0x1302 otherwise).
struct Conn {
    port: u64,
    tls12: bool,
    sni: &'static str,
    ja3: &'static str,
    ja3s: &'static str,
}

const fn c(
    port: u64,
    tls12: bool,
    sni: &'static str,
    ja3: &'static str,
    ja3s: &'static str,
) -> Conn {
    Conn {
        port,
        tls12,
        sni,
        ja3,
        ja3s,
    }
}

const CONNS: [Conn; 14] = [
    c(59742, true, ANYDESK, JA3_CURL, JA3S_12_CURL),
    c(59754, true, TEAMVIEWER, JA3_CURL, JA3S_12_CURL),
    c(59762, true, PLAIN, JA3_CURL, JA3S_12_CURL),
    c(59772, true, ANYDESK, JA3_S_CLIENT, JA3S_12_S_CLIENT),
    c(59788, true, TEAMVIEWER, JA3_S_CLIENT, JA3S_12_S_CLIENT),
    c(59796, true, PLAIN, JA3_S_CLIENT, JA3S_12_S_CLIENT),
    c(59812, true, IP_LITERAL, JA3_S_CLIENT, JA3S_12_S_CLIENT),
    c(59824, false, ANYDESK, JA3_CURL, JA3S_13),
    c(59830, false, TEAMVIEWER, JA3_CURL, JA3S_13),
    c(59832, false, PLAIN, JA3_CURL, JA3S_13),
    c(59834, false, ANYDESK, JA3_S_CLIENT, JA3S_13),
    c(59848, false, TEAMVIEWER, JA3_S_CLIENT, JA3S_13),
    c(59850, false, PLAIN, JA3_S_CLIENT, JA3S_13),
    c(59864, false, IP_LITERAL, JA3_S_CLIENT, JA3S_13),
];

/// The self-signed certificate's subject (and issuer): `-e
/// x509sat.CountryName -e x509sat.uTF8String` gives DE, gatewatch lab,
/// lab-tls-server, in the rdnSequence order C, O, CN.
const CERT_SUBJECT: &str = "C=DE, O=gatewatch lab, CN=lab-tls-server";

/// All events of the capture, each validated against its schema.
fn events() -> Vec<Value> {
    let path = common::crate_root().join("tests/pcap/tls-lab/tls-sni.pcap");
    let (out, res) = common::run(&[path], 1);
    res.unwrap_or_else(|e| panic!("tls-sni.pcap: {e}"));
    let text = String::from_utf8(out.clone()).unwrap();
    for line in text.lines() {
        gatewatch::output::schema_check::validate_event_line(line)
            .unwrap_or_else(|e| panic!("tls-sni.pcap: {e}\n{line}"));
    }
    common::parse_lines(&out).unwrap()
}

/// The events of `kind` from client port `port`.
fn of_kind<'a>(evs: &'a [Value], kind: &str, port: u64) -> Vec<&'a Value> {
    evs.iter()
        .filter(|e| common::is_event(e, kind) && e["src_port"] == json!(port))
        .collect()
}

fn flow(evs: &[Value], port: u64) -> &Value {
    let found = of_kind(evs, "flow", port);
    assert_eq!(found.len(), 1, "one flow event from port {port}: {evs:#?}");
    found[0]
}

#[test]
fn every_connection_has_tsharks_sni_ja3_and_ja3s() {
    let evs = events();
    let flows = evs.iter().filter(|e| common::is_event(e, "flow")).count();
    assert_eq!(flows, CONNS.len(), "{evs:#?}");
    for c in &CONNS {
        let f = flow(&evs, c.port);
        assert_eq!(f["dest_port"], json!(443), "{f}");
        assert_eq!(f["app_proto"], json!("tls"), "{f}");
        let tls = &f["tls"];
        assert_eq!(tls["sni"], json!(c.sni), "port {}: {tls}", c.port);
        assert_eq!(tls["ja3"], json!(c.ja3), "port {}: {tls}", c.port);
        assert_eq!(tls["ja3s"], json!(c.ja3s), "port {}: {tls}", c.port);
        let (version, cipher) = if c.tls12 {
            ("TLS 1.2", "0xc02c")
        } else {
            ("TLS 1.3", "0x1302")
        };
        assert_eq!(tls["version"], json!(version), "port {}: {tls}", c.port);
        assert_eq!(tls["cipher"], json!(cipher), "port {}: {tls}", c.port);
    }
}

/// TLS 1.2 sends the Certificate in clear (RFC 5246 section 7.4.2); TLS
/// 1.3 encrypts it (RFC 8446 section 4.4.2), so only the 1.2 runs have it.
#[test]
fn the_tls12_certificate_subject_is_read_and_the_tls13_one_is_not() {
    let evs = events();
    for c in &CONNS {
        let tls = &flow(&evs, c.port)["tls"];
        if c.tls12 {
            assert_eq!(tls["cert_subject"], json!(CERT_SUBJECT), "port {}", c.port);
            assert_eq!(tls["cert_issuer"], json!(CERT_SUBJECT), "port {}", c.port);
        } else {
            assert!(tls.get("cert_subject").is_none(), "port {}: {tls}", c.port);
        }
    }
}

/// catalogue/remote-access.toml lists `*.anydesk.com` (AnyDesk) and
/// `*.teamviewer.com` (TeamViewer); nothing matches `intranet.lab.example`
/// or an address.
#[test]
fn catalogue_names_give_sessions_and_the_plain_name_none() {
    let evs = events();
    for c in &CONNS {
        let sessions = of_kind(&evs, "session", c.port);
        let expected = match c.sni {
            ANYDESK => Some(("AnyDesk", "sni:*.anydesk.com")),
            TEAMVIEWER => Some(("TeamViewer", "sni:*.teamviewer.com")),
            _ => None,
        };
        let Some((tool, evidence)) = expected else {
            assert!(sessions.is_empty(), "port {}: {sessions:#?}", c.port);
            continue;
        };
        assert_eq!(sessions.len(), 1, "port {}: {evs:#?}", c.port);
        let ra = &sessions[0]["remote_access"];
        assert_eq!(ra["tool"], json!(tool), "port {}: {ra}", c.port);
        assert_eq!(ra["category"], json!("remote-desktop"), "{ra}");
        let ev = ra["evidence"].as_array().expect("evidence array");
        assert!(ev.contains(&json!(evidence)), "port {}: {ra}", c.port);
        assert!(
            ev.iter()
                .all(|e| e.as_str().is_some_and(|s| s.starts_with("sni:"))),
            "only the SNI names the tool: {ra}"
        );
    }
    let total = evs
        .iter()
        .filter(|e| common::is_event(e, "session"))
        .count();
    assert_eq!(total, 8, "two names x two clients x two server runs");
}

/// RFC 6066 section 3: "Literal IPv4 and IPv6 addresses are not permitted
/// in HostName". Only the two s_client connections given `-servername
/// 10.78.0.1` raise it.
#[test]
fn an_ip_literal_sni_raises_the_anomaly() {
    let evs = events();
    for c in &CONNS {
        let found: Vec<&Value> = of_kind(&evs, "anomaly", c.port)
            .into_iter()
            .filter(|e| e["anomaly"]["kind"] == json!("sni_ip_literal"))
            .collect();
        if c.sni == IP_LITERAL {
            assert_eq!(found.len(), 1, "port {}: {evs:#?}", c.port);
            assert_eq!(found[0]["anomaly"]["layer"], json!("tls"));
            assert_eq!(found[0]["anomaly"]["detail"], json!(IP_LITERAL));
        } else {
            assert!(found.is_empty(), "port {}: {found:#?}", c.port);
        }
    }
}
