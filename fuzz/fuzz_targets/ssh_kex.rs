//! Fuzz the SSH key-exchange walk (`proto::ssh::kex`) and the stream
//! dissector that pairs its messages for `app_rtt`. The first input byte
//! picks a segment size; the rest is split in two halves, one per
//! direction, fed as growing prefixes in turn. Invariants: no panic; a
//! direction read in pieces yields the same messages as read whole (a
//! stream that grows never changes what was read); each message is read
//! once; the round trips recorded are bounded by the packets read.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::app::AppSummary;
use gatewatch::proto::ssh::kex::{KexWalk, MAX_KEX_PACKETS};
use gatewatch::proto::ssh::SshStream;
use libfuzzer_sys::fuzz_target;

fn codes(stream: &[u8], step: usize) -> Vec<Option<u8>> {
    let mut w = KexWalk::default();
    w.start_at(0);
    let mut out = Vec::new();
    let mut end = 0;
    loop {
        end = (end + step).min(stream.len());
        let _ = w.feed(&stream[..end], Timestamp(end as i64), |m| {
            assert!(m.started <= m.complete);
            out.push(m.code)
        });
        if end == stream.len() {
            break;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(sel % 64) + 1;
    let whole = codes(rest, rest.len().max(1));
    let pieces = codes(rest, step);
    assert_eq!(whole, pieces);
    assert!(whole.len() <= usize::from(MAX_KEX_PACKETS));

    let (a, b) = rest.split_at(rest.len() / 2);
    let mut s = SshStream::new();
    let mut sum = AppSummary::default();
    let (mut ea, mut eb, mut t) = (0usize, 0usize, 0i64);
    while ea < a.len() || eb < b.len() {
        t += 1;
        if ea < a.len() {
            ea = (ea + step).min(a.len());
            s.on_stream(Direction::ToServer, &a[..ea], Timestamp(t), &mut sum);
        }
        if eb < b.len() {
            eb = (eb + step).min(b.len());
            s.on_stream(Direction::ToClient, &b[..eb], Timestamp(t), &mut sum);
        }
    }
    assert!(sum.app_rtt.samples <= 2 * u32::from(MAX_KEX_PACKETS));
});
