//! ClientHellos carried by QUIC Initials and DTLS records, through the whole
//! pipeline (capture -> decode -> flow -> dispatch -> flow event), against
//! established tools:
//! - JA4 (`q`/`d` prefixes) against FoxIO's Rust CLI snapshots
//!   (`../shared/corpus/expected/foxio-ja4/<pcap>.ja4-rust.json`);
//! - SNI and JA3 against tshark 4.0, which decrypts QUIC Initials
//!   (`../shared/corpus/expected/tshark/**.tshark.json`, UDP records of
//!   ClientHellos).
//!
//! A record matches when any ClientHello of the flow with the same
//! `src`/`dst` has the expected value. Every difference is printed with
//! its reason; differences without a known reason fail the test.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Flows whose hellos we do not see, and why (pcap suffix, reason).
const KNOWN: &[(&str, &str)] = &[
    (
        "quic_t51.pcap",
        "Google QUIC T051 (0x54303531): a pre-IETF version whose Initial salt no RFC or draft gives",
    ),
    (
        "rdpeudp2-handshake-success.pcap",
        "DTLS inside RDP-UDP (MS-RDPEUDP2) framing: the RDP-UDP dissector's job",
    ),
    (
        "rdp2.pcap",
        "DTLS inside RDP-UDP (MS-RDPEUDP) framing: the RDP-UDP dissector's job",
    ),
    (
        "openvpn_udp_tls-auth.pcap",
        "TLS inside OpenVPN's control channel: the OpenVPN dissector's job",
    ),
    (
        "openvpn.pcap",
        "TLS inside OpenVPN's control channel: the OpenVPN dissector's job",
    ),
];

/// The hellos of one flow, from its flow event: (sni, ja3, ja4) each.
type Hellos = Vec<(String, String, String)>;

fn flows(pcap: &Path) -> BTreeMap<String, (String, Hellos)> {
    let (out, res) = common::run(&[pcap.to_path_buf()], 1);
    res.unwrap_or_else(|e| panic!("{}: {e}", pcap.display()));
    let events = common::parse_lines(&out).unwrap_or_else(|e| panic!("{e}"));
    let mut map = BTreeMap::new();
    for ev in events.iter().filter(|e| common::is_event(e, "flow")) {
        let s = |k: &str| {
            ev.get(k)
                .map(|v| v.to_string().trim_matches('"').to_owned())
        };
        let addr = |ip: Option<String>, port: Option<String>| {
            let ip = ip.unwrap_or_default();
            let port = port.unwrap_or_default();
            if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
        };
        let key = format!(
            "{}|{}",
            addr(s("src_ip"), s("src_port")),
            addr(s("dest_ip"), s("dest_port"))
        );
        let proto = s("app_proto").unwrap_or_default();
        let mut hellos = Vec::new();
        if let Some(t) = ev.get("tls") {
            let get = |v: &serde_json::Value, k: &str| {
                v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned()
            };
            hellos.push((get(t, "sni"), get(t, "ja3"), get(t, "ja4")));
            for h in t
                .get("client_hellos")
                .and_then(|h| h.as_array())
                .into_iter()
                .flatten()
            {
                hellos.push((get(h, "sni"), get(h, "ja3"), get(h, "ja4")));
            }
        }
        map.entry(key).or_insert((proto, hellos));
    }
    map
}

#[derive(Default)]
struct Tally {
    agree: usize,
    total: usize,
    known: Vec<String>,
    diffs: Vec<String>,
}

impl Tally {
    fn check(&mut self, pcap: &str, ctx: &str, expected: &str, ours: Option<Vec<String>>) {
        let ours = ours.unwrap_or_default();
        if ours.iter().any(|o| o == expected) {
            self.agree += 1;
            self.total += 1;
            return;
        }
        let line = format!("  {pcap} {ctx}: expected {expected:?}, ours {ours:?}");
        match KNOWN.iter().find(|(p, _)| pcap.ends_with(p)) {
            Some((_, why)) => self.known.push(format!("{line} ({why})")),
            None => {
                self.total += 1;
                self.diffs.push(line);
            }
        }
    }

    fn report(&self, name: &str) -> bool {
        println!("{name}: {}/{}", self.agree, self.total);
        for d in &self.diffs {
            println!("{d}");
        }
        if !self.known.is_empty() {
            println!("{name}: {} out of scope:", self.known.len());
            for d in &self.known {
                println!("{d}");
            }
        }
        self.diffs.is_empty()
    }
}

fn json_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    common::files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

fn load(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn str_of<'v>(r: &'v serde_json::Value, k: &str) -> &'v str {
    match r.get(k) {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Array(a)) => a.first().and_then(|v| v.as_str()).unwrap_or(""),
        _ => "",
    }
}

struct Cache(BTreeMap<String, BTreeMap<String, (String, Hellos)>>);

impl Cache {
    fn get(&mut self, corpus: &Path, pcap: &str) -> Option<&BTreeMap<String, (String, Hellos)>> {
        let path = corpus.join(pcap);
        if !path.exists() {
            return None;
        }
        Some(
            self.0
                .entry(pcap.to_owned())
                .or_insert_with(|| flows(&path)),
        )
    }
}

#[test]
fn quic_and_dtls_hellos_against_foxio_and_tshark() {
    let Some(corpus) = common::shared_corpus("quic_fingerprints") else {
        return;
    };
    let mut cache = Cache(BTreeMap::new());
    let mut ja4 = Tally::default();
    for file in json_files(&corpus.join("expected/foxio-ja4"), ".ja4-rust.json") {
        let doc = load(&file);
        let pcap = str_of(&doc, "pcap").to_owned();
        for r in doc["records"].as_array().into_iter().flatten() {
            let expected = str_of(r, "ja4");
            if !(expected.starts_with('q') || expected.starts_with('d')) {
                continue;
            }
            let key = format!("{}|{}", str_of(r, "src"), str_of(r, "dst"));
            let ours = cache.get(&corpus, &pcap).map(|f| {
                f.get(&key)
                    .map(|(_, h)| h.iter().map(|x| x.2.clone()).collect())
                    .unwrap_or_default()
            });
            ja4.check(&pcap, &key, expected, ours);
        }
    }
    let (mut sni, mut ja3, mut proto) = (Tally::default(), Tally::default(), Tally::default());
    for file in json_files(&corpus.join("expected/tshark"), ".tshark.json") {
        let doc = load(&file);
        let pcap = str_of(&doc, "pcap").to_owned();
        for r in doc["records"].as_array().into_iter().flatten() {
            if str_of(r, "transport") != "udp"
                || !str_of(r, "tls_handshake_type").split(',').any(|t| t == "1")
            {
                continue;
            }
            let key = format!("{}|{}", str_of(r, "src"), str_of(r, "dst"));
            let ctx = format!(
                "frame {} {key}",
                r.get("frame").cloned().unwrap_or_default()
            );
            let Some(found) = cache.get(&corpus, &pcap) else {
                continue;
            };
            let flow = found.get(&key);
            let ours = |f: fn(&(String, String, String)) -> String| {
                flow.map(|(_, h)| h.iter().map(f).collect::<Vec<_>>())
            };
            let want_proto = if r.get("quic_version").is_some() {
                "quic"
            } else {
                "dtls"
            };
            proto.check(&pcap, &ctx, want_proto, flow.map(|(p, _)| vec![p.clone()]));
            if r.get("sni").is_some() {
                sni.check(&pcap, &ctx, str_of(r, "sni"), ours(|h| h.0.clone()));
            }
            if r.get("ja3").is_some() {
                ja3.check(&pcap, &ctx, str_of(r, "ja3"), ours(|h| h.1.clone()));
            }
        }
    }
    assert!(
        ja4.total > 0 && sni.total > 0,
        "no QUIC records in the corpus"
    );
    let ok = [
        ja4.report("ja4 (FoxIO)"),
        proto.report("app_proto (tshark)"),
        sni.report("sni (tshark)"),
        ja3.report("ja3 (tshark)"),
    ];
    assert!(ok.iter().all(|&b| b), "differences without a known reason");
}

/// Zeek's cipher names for the suites the corpus's DTLS servers chose
/// (IANA TLS Cipher Suites registry).
const CIPHER_NAMES: &[(&str, &str)] = &[
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "0xc014"),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "0xc030"),
    ("TLS_AES_128_GCM_SHA256", "0x1301"),
];

/// DTLS flows: the client JA3 against nDPI, the server's cipher against
/// Zeek's ssl.log and nDPI. nDPI's own JA4 is printed beside ours, not
/// asserted (its JA4 is not FoxIO's reference implementation).
#[test]
fn dtls_hellos_against_ndpi_and_zeek() {
    let Some(corpus) = common::shared_corpus("dtls_fingerprints") else {
        return;
    };
    let mut cache = Cache(BTreeMap::new());
    let (mut ja3, mut cipher) = (Tally::default(), Tally::default());
    let our_cipher = |corpus: &Path, pcap: &str, key: &str| -> Option<Vec<String>> {
        let (out, res) = common::run(&[corpus.join(pcap)], 1);
        res.ok()?;
        let events = common::parse_lines(&out).ok()?;
        let (src, dst) = key.split_once('|')?;
        Some(
            events
                .iter()
                .filter(|e| common::is_event(e, "flow"))
                .filter(|e| {
                    let a = format!("{}:{}", str_of(e, "src_ip"), e["src_port"]);
                    let b = format!("{}:{}", str_of(e, "dest_ip"), e["dest_port"]);
                    a == src && b == dst
                })
                .filter_map(|e| e["tls"]["cipher"].as_str().map(str::to_owned))
                .collect(),
        )
    };
    let ndpi = load(&corpus.join("expected/ndpi/dtls.pcap.ndpi.json"));
    for r in ndpi["records"].as_array().into_iter().flatten() {
        let key = format!("{}|{}", str_of(r, "src"), str_of(r, "dst"));
        let found = cache
            .get(&corpus, "ndpi/pcap/dtls.pcap")
            .and_then(|f| f.get(&key));
        let ours = found.map(|(_, h)| h.iter().map(|x| x.1.clone()).collect());
        ja3.check("ndpi/pcap/dtls.pcap", &key, str_of(r, "ja3"), ours);
        println!(
            "  (nDPI ja4 {:?}, ours {:?})",
            str_of(r, "ja4"),
            found.map(|(_, h)| h.iter().map(|x| x.2.clone()).collect::<Vec<_>>())
        );
        if let Some((_, hex)) = CIPHER_NAMES.iter().find(|(n, _)| *n == str_of(r, "cipher")) {
            let ours = our_cipher(&corpus, "ndpi/pcap/dtls.pcap", &key);
            cipher.check("ndpi/pcap/dtls.pcap", &key, hex, ours);
        }
    }
    for (zeek, pcap) in [
        (
            "tls__dtls1_0.pcap.zeek.json",
            "zeek/traces/tls/dtls1_0.pcap",
        ),
        (
            "tls__dtls1_2.pcap.zeek.json",
            "zeek/traces/tls/dtls1_2.pcap",
        ),
    ] {
        let doc = load(&corpus.join("expected/zeek").join(zeek));
        let first = doc["records"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r.get("cipher").is_some()));
        let Some(r) = first else { continue };
        let key = format!("{}|{}", str_of(r, "src"), str_of(r, "dst"));
        let hex = CIPHER_NAMES
            .iter()
            .find(|(n, _)| *n == str_of(r, "cipher"))
            .map_or("?", |(_, h)| h);
        cipher.check(pcap, &key, hex, our_cipher(&corpus, pcap, &key));
    }
    let ok = [
        ja3.report("dtls ja3 (nDPI)"),
        cipher.report("dtls cipher (Zeek, nDPI)"),
    ];
    assert!(
        ja3.total > 0 && cipher.total > 0,
        "no DTLS records in the corpus"
    );
    assert!(
        ok.iter().all(|&b| b),
        "DTLS differences without a known reason"
    );
}
