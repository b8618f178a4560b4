//! Fuzz the frame decoder: the first byte picks the link type, the rest is
//! the frame. Frames go through one long-lived decoder so fragment
//! reassembly state is exercised across inputs too.
#![no_main]

use std::sync::Mutex;

use gatewatch::capture::{Frame, LinkType, Timestamp};
use gatewatch::decode::{shard_addresses, DecodeConfig, Decoder};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 9] = [
    LinkType::Ppp,
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Null,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Ipv4,
    LinkType::Ipv6,
];

static DECODER: Mutex<Option<Decoder>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let frame = Frame {
        ts: Timestamp(i64::from(sel) * 1_000_000_000),
        link: LINKS[usize::from(sel) % LINKS.len()],
        orig_len: bytes.len() as u32,
        interface: 0,
        data: bytes,
    };
    let shard = shard_addresses(&frame);
    let mut guard = DECODER.lock().unwrap_or_else(|e| e.into_inner());
    let decoder = guard.get_or_insert_with(|| Decoder::new(DecodeConfig::default()));
    if let Some(p) = decoder.decode(&frame) {
        // Invariants: a borrowed payload never exceeds its input, and an
        // unfragmented packet shards by its own address pair.
        if !p.reassembled {
            assert!(p.payload.len() <= bytes.len());
            let mut a = [p.src, p.dst];
            a.sort();
            let mut b = shard.map(|(s, d)| [s, d]).expect("shard pair");
            b.sort();
            assert_eq!(a, b);
        }
    }
});
