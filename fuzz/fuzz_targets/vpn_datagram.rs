//! Fuzz every UDP VPN parser (WireGuard, OpenVPN, IKE/ESP-in-UDP, L2TP)
//! through the dispatcher: the input picks the ports (so each probe's port
//! rules are reached) and is cut into datagrams of both directions.
//! Invariants: no panic; the `vpn` record respects its caps whatever the
//! datagrams; the record's JSON serialises.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::vpn::{MAX_IDENTITIES, MAX_IDS, MAX_MESSAGE_TYPES, MAX_NAME_LEN};
use gatewatch::proto::{AppState, FlowCx};
use libfuzzer_sys::fuzz_target;

const PORTS: [u16; 8] = [51820, 41641, 1194, 500, 4500, 1701, 443, 5060];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let cx = FlowCx {
        src_port: 40000,
        dst_port: PORTS[usize::from(sel) % PORTS.len()],
        ip_proto: 17,
    };
    let mut app = AppState::new();
    let mut t = 0i64;
    // Each datagram: a length byte (high bit: direction), then the bytes.
    while let Some((&h, tail)) = rest.split_first() {
        let n = usize::from(h & 0x7f).min(tail.len()) * 2;
        let n = n.min(tail.len());
        let (dgram, next) = tail.split_at(n);
        let dir = if h & 0x80 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        t += 1000;
        app.on_datagram(&cx, dir, dgram, Timestamp(t));
        rest = next;
    }
    let sum = app.finish();
    if let Some(v) = &sum.vpn {
        assert!(v.message_types.len() <= MAX_MESSAGE_TYPES);
        assert!(v.sender_indexes.len() <= MAX_IDS);
        assert!(v.identities.len() <= MAX_IDENTITIES);
        assert!(v.host_name.as_ref().map_or(0, |h| h.len()) <= 3 * MAX_NAME_LEN);
        assert!(serde_json::to_string(v).is_ok());
    }
});
