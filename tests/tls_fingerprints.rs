//! TLS fingerprints against established tools, through the library's own
//! capture -> decode -> flow path:
//! - JA4 against FoxIO's Rust CLI snapshots
//!   (`../shared/corpus/expected/foxio-ja4/<pcap>.ja4-rust.json`);
//! - JA3, its text and the SNI against tshark 4.0
//!   (`../shared/corpus/expected/tshark/**.tshark.json`).
//!
//! Each TCP flow's client stream prefix is parsed whenever it grows, until a
//! ClientHello parses or the bytes are not TLS. Expected records are matched
//! to our hellos by `src`/`dst` (`ip:port`). QUIC hellos (`q` JA4 records,
//! UDP records) are out of scope and counted as skipped. Agreement is
//! printed per field with every difference; below 99% the test fails.
//! Parsing and fingerprinting each hello must not allocate (a counting
//! global allocator checks it).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gatewatch::capture::file::{open, CaptureFile};
use gatewatch::capture::PacketSource;
use gatewatch::decode::{DecodeConfig, Decoder};
use gatewatch::flow::table::{FlowConfig, FlowTable};
use gatewatch::flow::Direction;
use gatewatch::proto::tls::ja3::{ja3_hash, ja3_string};
use gatewatch::proto::tls::ja4::{ja4, Transport};
use gatewatch::proto::tls::parser::MAX_HELLO_LEN;
use gatewatch::proto::tls::{parse_client_hello, TlsError};

/// Counts this thread's allocations, to check that parsing a hello and
/// computing its fingerprints into warmed-up buffers allocates nothing.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The error of a client stream whose first byte is not a TLS record.
const NOT_TLS_AT_START: &str = "malformed record content type at offset 0";

/// Our outcomes for a record: by exact `src|dst`, else (tunnelled flows,
/// where tshark's record pairs the outer address with the inner port) by
/// the ports alone when they name exactly one flow.
fn lookup<'f>(found: &'f Found, src: &str, dst: &str) -> Option<&'f [Result<Hello, String>]> {
    if let Some(v) = found.get(&format!("{src}|{dst}")) {
        return Some(v);
    }
    let port = |a: &str| a.rsplit(':').next().unwrap_or("").to_owned();
    let (sp, dp) = (port(src), port(dst));
    let mut hits = found.iter().filter(|(k, _)| {
        let (a, b) = k.split_once('|').unwrap_or(("", ""));
        port(a) == sp && port(b) == dp
    });
    match (hits.next(), hits.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

/// What we found for one flow's client direction.
#[derive(Debug, Clone, Default)]
struct Hello {
    ja4: String,
    ja3: String,
    ja3_string: String,
    sni: Option<String>,
}

/// Per `"src|dst"`: every flow's outcome (a 5-tuple may be reused).
type Found = BTreeMap<String, Vec<Result<Hello, String>>>;

fn scan(path: &Path) -> Found {
    let file = open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match file {
        CaptureFile::Mapped(m) => scan_source(&mut m.reader()),
        CaptureFile::Streamed(mut s) => scan_source(&mut s),
    }
}

fn scan_source<S: PacketSource + ?Sized>(src: &mut S) -> Found {
    let mut decoder = Decoder::new(DecodeConfig::default());
    let mut table = FlowTable::new(FlowConfig::default());
    let mut evicted = Vec::new();
    let mut done: HashSet<u64> = HashSet::new();
    let mut pending: BTreeMap<u64, (String, TlsError)> = BTreeMap::new();
    let mut found = Found::new();
    // Buffers a flow would keep, sized once: the largest hello, the longest
    // cipher list, a JA3 text of that many 5-digit numbers.
    let mut scratch = Vec::with_capacity(MAX_HELLO_LEN);
    let mut sort = Vec::with_capacity(1 << 15);
    let mut text = String::with_capacity(1 << 18);
    while let Ok(Some(frame)) = src.next_frame() {
        let Some(pkt) = decoder.decode(&frame) else {
            continue;
        };
        let Some(v) = table.update(&pkt, &mut evicted) else {
            continue;
        };
        if !v.stream_grew || v.dir != Direction::ToServer {
            continue;
        }
        let Some(flow) = table.flow(v.flow) else {
            continue;
        };
        if done.contains(&flow.flow_id) {
            continue;
        }
        let e = flow.endpoints;
        let key = format!(
            "{}|{}",
            SocketAddr::new(e.src_ip, e.src_port),
            SocketAddr::new(e.dst_ip, e.dst_port)
        );
        let id = flow.flow_id;
        let prefix = table.stream_prefix(v.flow, Direction::ToServer);
        let before = allocations();
        let outcome = match parse_client_hello(prefix, &mut scratch) {
            Ok(ch) => {
                ja3_string(&ch, &mut text);
                let (fp, hash) = (ja4(&ch, Transport::Tcp, &mut sort), ja3_hash(&text));
                assert_eq!(
                    allocations(),
                    before,
                    "allocation while fingerprinting {key}"
                );
                Ok(Hello {
                    ja4: fp.to_string(),
                    ja3: hash.to_string(),
                    ja3_string: text.clone(),
                    sni: ch.sni().map(|s| String::from_utf8_lossy(s).into_owned()),
                })
            }
            Err(err @ TlsError::Incomplete { .. }) => {
                pending.insert(id, (key, err));
                continue;
            }
            Err(err) => Err(format!("{err}")),
        };
        pending.remove(&id);
        done.insert(id);
        found.entry(key).or_default().push(outcome);
    }
    for (_, (key, err)) in pending {
        found
            .entry(key)
            .or_default()
            .push(Err(format!("{err} at end of capture")));
    }
    found
}

/// Agreement on one field.
#[derive(Default)]
struct Tally {
    agree: usize,
    total: usize,
    diffs: Vec<String>,
    /// Flows whose client stream does not start with a TLS record (HTTP
    /// CONNECT, SOCKS, OpenVPN-over-TCP framing...): out of scope here.
    not_at_start: Vec<String>,
}

impl Tally {
    fn check(
        &mut self,
        ctx: &str,
        expected: &str,
        got: Option<&[Result<Hello, String>]>,
        f: fn(&Hello) -> String,
    ) {
        let got = got.unwrap_or(&[]);
        if !got.is_empty()
            && got
                .iter()
                .all(|o| matches!(o, Err(e) if e.contains(NOT_TLS_AT_START)))
        {
            self.not_at_start.push(format!("  {ctx}"));
            return;
        }
        self.total += 1;
        let ours: Vec<String> = got
            .iter()
            .map(|o| match o {
                Ok(h) => f(h),
                Err(e) => format!("<{e}>"),
            })
            .collect();
        if ours.iter().any(|o| o == expected) {
            self.agree += 1;
        } else {
            self.diffs
                .push(format!("  {ctx}: expected {expected:?}, ours {ours:?}"));
        }
    }

    fn report(&self, name: &str) -> bool {
        println!("{name}: {}/{}", self.agree, self.total);
        for d in &self.diffs {
            println!("{d}");
        }
        if !self.not_at_start.is_empty() {
            println!(
                "{name}: {} flows skipped, their client stream does not start with TLS \
                 (proxy or tunnel preamble, out of scope for the dissector):",
                self.not_at_start.len()
            );
            for d in &self.not_at_start {
                println!("{d}");
            }
        }
        self.total == 0 || self.agree * 100 >= self.total * 99
    }
}

fn load(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files_with_suffix(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_with_suffix(&p, suffix, out);
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out.sort();
}

fn str_field<'v>(r: &'v serde_json::Value, k: &str) -> Option<&'v str> {
    r.get(k).and_then(|v| v.as_str())
}

#[test]
fn ja4_against_foxio() {
    let Some(corpus) = common::shared_corpus("ja4_against_foxio") else {
        return;
    };
    let mut files = Vec::new();
    files_with_suffix(
        &corpus.join("expected/foxio-ja4"),
        ".ja4-rust.json",
        &mut files,
    );
    let mut tally = Tally::default();
    let mut quic_skipped = 0;
    for file in files {
        let doc = load(&file);
        let Some(pcap) = str_field(&doc, "pcap") else {
            continue;
        };
        let records: Vec<&serde_json::Value> = doc["records"]
            .as_array()
            .map(|a| a.iter().filter(|r| r.get("ja4").is_some()).collect())
            .unwrap_or_default();
        if records.is_empty() {
            continue;
        }
        let found = scan(&corpus.join(pcap));
        for r in records {
            let expected = str_field(r, "ja4").unwrap_or("");
            if expected.starts_with('q') || str_field(r, "transport") != Some("tcp") {
                quic_skipped += 1;
                continue;
            }
            let key = format!(
                "{}|{}",
                str_field(r, "src").unwrap_or(""),
                str_field(r, "dst").unwrap_or("")
            );
            let ctx = format!("{pcap} {key}");
            tally.check(&ctx, expected, found.get(&key).map(Vec::as_slice), |h| {
                h.ja4.clone()
            });
        }
    }
    println!("(QUIC ClientHellos out of scope: {quic_skipped} FoxIO records skipped)");
    assert!(tally.total > 0, "no JA4 records found in the corpus");
    assert!(tally.report("ja4"), "JA4 agreement with FoxIO below 99%");
}

#[test]
fn ja3_against_tshark() {
    let Some(corpus) = common::shared_corpus("ja3_against_tshark") else {
        return;
    };
    let mut files = Vec::new();
    files_with_suffix(&corpus.join("expected/tshark"), ".tshark.json", &mut files);
    let (mut ja3, mut text, mut sni) = (Tally::default(), Tally::default(), Tally::default());
    let mut udp_skipped = 0;
    let mut later_hellos = 0;
    for file in files {
        let doc = load(&file);
        let Some(pcap) = str_field(&doc, "pcap") else {
            continue;
        };
        let records: Vec<&serde_json::Value> = doc["records"]
            .as_array()
            .map(|a| a.iter().filter(|r| r.get("ja3").is_some()).collect())
            .unwrap_or_default();
        if records.is_empty() {
            continue;
        }
        let path = corpus.join(pcap);
        if !path.exists() {
            continue;
        }
        let found = scan(&path);
        // One record per packet: keep each TCP stream's first ClientHello,
        // the one a flow is fingerprinted on (a second hello, e.g. after a
        // HelloRetryRequest, is not).
        let mut streams = HashSet::new();
        for r in records {
            if str_field(r, "transport") != Some("tcp") {
                udp_skipped += 1;
                continue;
            }
            if !first(r, "tls_handshake_type").split(',').any(|t| t == "1") {
                continue;
            }
            if !streams.insert(first(r, "tcp_stream").to_owned()) {
                later_hellos += 1;
                continue;
            }
            let (src, dst) = (
                str_field(r, "src").unwrap_or(""),
                str_field(r, "dst").unwrap_or(""),
            );
            let frame = r.get("frame").map(|f| f.to_string()).unwrap_or_default();
            let ctx = format!("{pcap} frame {frame} {src} -> {dst}");
            let got = lookup(&found, src, dst);
            ja3.check(&ctx, first(r, "ja3"), got, |h| h.ja3.clone());
            text.check(&ctx, first(r, "ja3_string"), got, |h| h.ja3_string.clone());
            if r.get("sni").is_some() {
                sni.check(&ctx, first(r, "sni"), got, |h| {
                    h.sni.clone().unwrap_or_default()
                });
            }
        }
    }
    println!("(QUIC/DTLS ClientHellos out of scope: {udp_skipped} tshark records skipped)");
    println!("(second ClientHellos of a TCP stream, not fingerprinted: {later_hellos})");
    assert!(ja3.total > 0, "no JA3 records found in the corpus");
    let ok = [
        ja3.report("ja3"),
        text.report("ja3_string"),
        sni.report("sni"),
    ];
    assert!(ok.iter().all(|&b| b), "agreement with tshark below 99%");
}

/// A tshark field: a string, or the first of a list.
fn first<'v>(r: &'v serde_json::Value, k: &str) -> &'v str {
    match r.get(k) {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Array(a)) => a.first().and_then(|v| v.as_str()).unwrap_or(""),
        _ => "",
    }
}
