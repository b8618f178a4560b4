//! Inputs the fuzzers once crashed on, replayed through the same harness as
//! `fuzz/fuzz_targets/engine.rs` (small bounds so that eviction and the
//! reassembly memcap are reached). Each must run without a panic and give
//! only valid JSON events.

use gatewatch::capture::{Frame, LinkType, Timestamp};
use gatewatch::pipeline::{Engine, PipelineConfig};

const LINKS: [LinkType; 4] = [
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
];

fn run_engine(data: &[u8]) -> usize {
    let mut config = PipelineConfig::default();
    config.flow.capacity = 8;
    config.flow.stream_prefix_bytes = 64;
    config.flow.reassembly_memcap = 256;
    let mut engine = Engine::new(&config, 1);
    let mut rest = data;
    let mut seq = 0u64;
    let mut ts = 0i64;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        let Some((&sel, bytes)) = frame.split_first() else {
            continue;
        };
        ts += i64::from(sel) * 50_000_000;
        seq += 1;
        if sel & 0x80 != 0 {
            engine.on_tick(seq, Timestamp(ts));
            seq += 1;
        }
        let f = Frame {
            ts: Timestamp(ts),
            link: LINKS[usize::from(sel) % LINKS.len()],
            orig_len: bytes.len() as u32,
            interface: 0,
            data: bytes,
        };
        engine.on_frame(seq, &f);
    }
    engine.finish();
    let mut n = 0;
    for ev in engine.drain_events() {
        // One flow's events: its flow line, then any session and anomaly
        // lines, each a JSON object.
        for line in ev.line.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
            assert!(v.get("event_type").is_some());
        }
        n += 1;
    }
    n
}

#[test]
fn engine_crash_inputs_run_clean() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions/engine");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let events = run_engine(&std::fs::read(&f).unwrap());
        assert!(events > 0, "{}", f.display());
    }
}
