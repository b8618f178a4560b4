//! Fuzz the whole per-worker engine (decode, flow table, TCP state, stream
//! reassembly, event output) with a sequence of frames: the input is split
//! into frames by 2-byte big-endian length prefixes; each frame's first byte
//! picks the link type and advances the capture clock, so timeouts, ticks
//! and flushes run too. Every emitted line must be valid JSON.
#![no_main]

use gatewatch::capture::{Frame, LinkType, Timestamp};
use gatewatch::pipeline::{Engine, PipelineConfig};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 4] = [LinkType::Ethernet, LinkType::Raw, LinkType::Ipv4, LinkType::Ipv6];

fuzz_target!(|data: &[u8]| {
    let mut config = PipelineConfig::default();
    // Small bounds so that eviction and the reassembly memcap are reached.
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
    for ev in engine.drain_events() {
        // One flow's events: its flow line, then any session and anomaly
        // lines, each a JSON object.
        for line in ev.line.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
            assert!(v.get("event_type").is_some());
        }
    }
});
