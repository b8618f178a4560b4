//! Fuzz OpenVPN over TCP (2-byte length framing, variant detection,
//! control-channel reassembly into the TLS dissector) and PPTP through the
//! dispatcher's stream path: the input is one direction's stream, fed as
//! a prefix growing in steps, mirrored to the other direction.
//! Invariants: no panic; the reassembled TLS bytes stay capped (checked
//! through the record's caps); the JSON serialises.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::vpn::MAX_MESSAGE_TYPES;
use gatewatch::proto::{AppState, FlowCx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cx = FlowCx {
        src_port: 40000,
        dst_port: 1194,
        ip_proto: 6,
    };
    let mut app = AppState::new();
    let step = 1 + data.first().map_or(0, |b| usize::from(*b) % 64);
    let mut end = 0;
    while end < data.len() {
        end = (end + step).min(data.len());
        let w = app.on_stream(
            &cx,
            Direction::ToServer,
            &data[..end],
            &data[..end],
            Timestamp(end as i64),
        );
        if !w.keep[0] && !w.keep[1] {
            break;
        }
        app.on_stream(
            &cx,
            Direction::ToClient,
            &data[..end],
            &data[..end],
            Timestamp(end as i64),
        );
    }
    let sum = app.finish();
    if let Some(v) = &sum.vpn {
        assert!(v.message_types.len() <= MAX_MESSAGE_TYPES);
        assert!(serde_json::to_string(v).is_ok());
    }
});
