//! Criterion benchmarks of the core stages over real traffic held in
//! memory: decode alone, decode + flow table, the whole engine (decode,
//! flows, dissectors, events), each dissector (the engine over one
//! protocol's captures with dissectors on and off), and enrichment. Frames come from public captures in ../shared/corpus,
//! loaded before timing starts.
//!
//! Run: `cargo bench --bench core`. The whole-pipeline comparison with
//! tcpdump, tshark and Suricata is `benches/pipeline.sh`.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use gatewatch::capture::file::{open, CaptureFile};
use gatewatch::capture::Frame;
use gatewatch::decode::{DecodeConfig, Decoder};
use gatewatch::flow::table::{FlowConfig, FlowTable};
use gatewatch::pipeline::{Engine, PipelineConfig};

/// Mixed real traffic: TLS, QUIC, SSH, VNC, DNS, IPsec, VLAN and tunnels.
const CAPTURES: &[&str] = &[
    "ndpi/pcap/vnc.pcap",
    "zeek/traces/ssh/ssh_kex_mlkem.pcap",
    "foxio-ja4/pcap/tls3.pcapng",
    "ndpi/pcap/443-firefox.pcap",
    "ndpi/pcap/ipsec_isakmp_esp.pcap",
    "zeek/traces/quic/chromium-115.0.5790.110-google-de-fragmented.pcap",
    "tcpdump/tests/802.1ad_QinQ.pcap",
    "tcpdump/tests/vxlan.pcap",
];

/// One protocol's captures, for the per-dissector benchmarks: the engine
/// over the same frames with the dissectors on and off; the difference is
/// the dissector's cost (parsing, fingerprints, its part of the events).
const PER_PROTOCOL: &[(&str, &[&str])] = &[
    (
        "tls",
        &["foxio-ja4/pcap/tls3.pcapng", "ndpi/pcap/443-firefox.pcap"],
    ),
    (
        "quic",
        &["zeek/traces/quic/chromium-115.0.5790.110-google-de-fragmented.pcap"],
    ),
    ("ssh", &["zeek/traces/ssh/ssh_kex_mlkem.pcap"]),
    ("rdp", &["zeek/traces/rdp/rdp-proprietary-encryption.pcap"]),
    ("vnc", &["ndpi/pcap/vnc.pcap"]),
    (
        "dns",
        &[
            "zeek/traces/dns-two-responses.pcap",
            "zeek/traces/dns53.pcap",
            "tcpdump/tests/dns_udp.pcap",
        ],
    ),
    (
        "http",
        &["ndpi/pcap/http.pcapng", "ndpi/pcap/http_ipv6.pcap"],
    ),
    (
        "openvpn",
        &["zeek-spicy-openvpn/traces/openvpn_udp_tls-auth.pcap"],
    ),
    ("wireguard", &["zeek-spicy-wireguard/traces/wireguard.pcap"]),
    ("ike", &["ndpi/pcap/ipsec_isakmp_esp.pcap"]),
];

fn corpus_files() -> Vec<PathBuf> {
    corpus_paths(CAPTURES)
}

fn corpus_paths(list: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    list.iter()
        .map(|c| root.join(c))
        .filter(|p| p.exists())
        .collect()
}

fn load(files: &[PathBuf]) -> Vec<CaptureFile> {
    files.iter().filter_map(|p| open(p).ok()).collect()
}

fn frames(files: &[CaptureFile]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    for f in files {
        if let CaptureFile::Mapped(m) = f {
            let mut r = m.reader();
            while let Ok(Some(frame)) = r.next_frame() {
                out.push(frame);
            }
        }
    }
    out
}

fn bench_core(c: &mut Criterion) {
    let files = corpus_files();
    if files.is_empty() {
        eprintln!("skipping benches: ../shared/corpus is absent");
        return;
    }
    let captures = load(&files);
    let frames = frames(&captures);
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();

    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decode", |b| {
        let mut decoder = Decoder::new(DecodeConfig::default());
        b.iter(|| {
            let mut n = 0u32;
            for f in &frames {
                if let Some(p) = decoder.decode(f) {
                    n = n.wrapping_add(p.payload.len() as u32);
                }
            }
            n
        })
    });
    g.bench_function("decode+flow", |b| {
        let mut decoder = Decoder::new(DecodeConfig::default());
        let mut table = FlowTable::new(FlowConfig::default());
        let mut out = Vec::new();
        b.iter(|| {
            for f in &frames {
                if let Some(p) = decoder.decode(f) {
                    table.update(&p, &mut out);
                }
            }
            out.clear();
        })
    });
    g.bench_function("engine", |b| {
        let config = PipelineConfig::default();
        b.iter(|| {
            let mut engine = Engine::new(&config, 1);
            for (i, f) in frames.iter().enumerate() {
                engine.on_frame(i as u64, f);
            }
            engine.finish();
            engine.drain_events().count()
        })
    });
    g.finish();
    eprintln!(
        "core benches: {} frames, {} bytes per iteration",
        frames.len(),
        bytes
    );
}

/// Each dissector through the engine: the same frames with dissectors on
/// and off (`PipelineConfig::dissect`, no reassembly when off).
fn bench_dissectors(c: &mut Criterion) {
    let mut g = c.benchmark_group("dissect");
    for (proto, list) in PER_PROTOCOL {
        let files = corpus_paths(list);
        if files.is_empty() {
            eprintln!("skipping dissect/{proto}: its captures are absent");
            continue;
        }
        let captures = load(&files);
        let frames = frames(&captures);
        g.throughput(Throughput::Elements(frames.len() as u64));
        for on in [true, false] {
            let mut config = PipelineConfig::default();
            if !on {
                config.dissect = false;
                config.flow.stream_prefix_bytes = 0;
            }
            let name = format!("{proto}/{}", if on { "on" } else { "off" });
            g.bench_function(name, |b| {
                b.iter(|| {
                    let mut engine = Engine::new(&config, 1);
                    for (i, f) in frames.iter().enumerate() {
                        engine.on_frame(i as u64, f);
                    }
                    engine.finish();
                    engine.drain_events().count()
                })
            });
        }
    }
    g.finish();
}

/// Enrichment: the cost for a new far end (every database and a site list
/// asked, through a cache that misses) and for a known one (a cache hit).
fn bench_enrich(c: &mut Criterion) {
    use gatewatch::enrich::lists::{NetworkList, SiteLists};
    use gatewatch::enrich::setup::EnrichOptions;
    use gatewatch::enrich::{Enricher, SharedSources};
    use std::net::{IpAddr, Ipv4Addr};

    let mut built = EnrichOptions::default().build().expect("demo databases");
    built.sources.lists = SiteLists::new(vec![NetworkList::from_networks(
        "vpn-exits",
        &[("198.51.100.0/24".parse().unwrap(), "astrill")],
    )]);
    let shared = SharedSources::new(built.sources);
    // Addresses across the demo data: residential, VPN, Tor, hosting, mobile.
    let addrs: Vec<IpAddr> = (0..4096u32)
        .map(|i| {
            let base = [0xc000_0200u32, 0xc633_6400, 0xcb00_7100, 0x5fed_3000][i as usize % 4];
            // 4096 distinct addresses: in and beyond the demo networks.
            IpAddr::V4(Ipv4Addr::from(base + i / 4))
        })
        .collect();
    let mut g = c.benchmark_group("enrich");
    g.throughput(Throughput::Elements(addrs.len() as u64));
    g.bench_function("new_far_end", |b| {
        b.iter(|| {
            // A fresh cache each time: every address is a miss.
            let mut e = Enricher::new(shared.clone(), 8192);
            addrs
                .iter()
                .map(|&a| e.remote(a).labels.len())
                .sum::<usize>()
        })
    });
    g.bench_function("cache_hit", |b| {
        let mut e = Enricher::new(shared.clone(), 8192);
        for &a in &addrs {
            e.remote(a);
        }
        b.iter(|| {
            addrs
                .iter()
                .map(|&a| e.remote(a).labels.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

/// The detector on inbound RDP sessions from 4096 addresses across the
/// demo GeoIP data (residential, VPN, hosting, mobile), 64 users rotating,
/// with a configured identity and every rule on: the per-session cost of
/// detection (it runs once per remote-access session, never per packet).
fn bench_detect(c: &mut Criterion) {
    use gatewatch::capture::Timestamp;
    use gatewatch::detect::facts::RemoteFacts;
    use gatewatch::detect::{DetectConfig, Detector, Policy, SessionFacts};
    use gatewatch::enrich::setup::EnrichOptions;
    use std::net::{IpAddr, Ipv4Addr};

    let sources = EnrichOptions::default()
        .build()
        .expect("demo databases")
        .sources;
    let policy = Policy::parse(
        Path::new("bench-policy.toml"),
        "[defaults]\nexpected_countries = [\"IT\"]\ntime_zone = \"Europe/Rome\"\nworking_hours = \"09:00-18:00\"\n\
         [[identities]]\nname = \"u1\"\nrdp_users = [\"u1\"]\n",
    )
    .expect("policy");
    let sessions: Vec<SessionFacts> = (0..4096u32)
        .map(|i| {
            let base = [0xc000_0200u32, 0xc633_6400, 0xcb00_7100, 0xc000_0280][i as usize % 4];
            let ip = IpAddr::V4(Ipv4Addr::from(base + (i / 4) % 60));
            SessionFacts {
                flow_id: u64::from(i),
                start: Timestamp(1_795_510_800_000_000_000 + i64::from(i) * 60_000_000_000),
                inbound: true,
                internal_ip: Some("203.0.113.70".parse().unwrap()),
                remote_ip: Some(ip),
                dst_port: 3389,
                app_proto: Some("rdp"),
                tool: Some("RDP".into()),
                category: Some("remote-desktop"),
                user_hint: Some(format!("u{}", i % 64)),
                tcp_rtt_client_ns: Some(20_000_000),
                app_rtt_client_ns: Some(25_000_000),
                app_rtt_samples: 2,
                client_syn_mss: Some(1460),
                remote: Some(RemoteFacts::from_info(&sources.lookup(ip))),
                ..SessionFacts::default()
            }
        })
        .collect();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(sessions.len() as u64));
    g.bench_function("on_session", |b| {
        b.iter(|| {
            let mut d = Detector::new(DetectConfig::new(policy.clone(), None));
            sessions
                .iter()
                .map(|s| d.on_session(s).findings.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_core,
    bench_dissectors,
    bench_enrich,
    bench_detect
);
criterion_main!(benches);
