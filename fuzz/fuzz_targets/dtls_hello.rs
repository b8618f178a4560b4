//! Fuzz the DTLS dissector: the input is a sequence of datagrams (each a
//! 2-byte length, its top bit choosing the direction, then the bytes) fed
//! to one flow, and each datagram is also parsed as a ClientHello body
//! with the DTLS cookie. Nothing may panic; what parses is fingerprinted.
#![no_main]

use gatewatch::capture::Timestamp;
use gatewatch::flow::Direction;
use gatewatch::proto::app::{AppSummary, FlowCx};
use gatewatch::proto::tls::dtls::{probe, DtlsFlow, DtlsRecord, HandshakeFragment};
use gatewatch::proto::tls::ja4::{ja4, Transport};
use gatewatch::proto::tls::ClientHello;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cx = FlowCx {
        src_port: 50000,
        dst_port: 4433,
        ip_proto: 17,
    };
    let mut flow = DtlsFlow::new();
    let mut summary = AppSummary::default();
    let mut rest = data;
    let mut ts = 0i64;
    while let [hi, lo, tail @ ..] = rest {
        let dir = if hi & 0x80 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let len = usize::from(u16::from_be_bytes([hi & 0x7f, *lo])).min(tail.len());
        let (dgram, next) = tail.split_at(len);
        let _ = probe(&cx, dir, dgram);
        if let Ok((rec, used)) = DtlsRecord::parse(dgram) {
            assert!(used <= dgram.len());
            if let Ok((f, used)) = HandshakeFragment::parse(rec.fragment) {
                assert!(used <= rec.fragment.len());
                assert!(f.fragment_offset as usize + f.fragment.len() <= f.length as usize);
            }
        }
        if let Ok(ch) = ClientHello::parse_dtls(dgram) {
            assert_eq!(ja4(&ch, Transport::Dtls, &mut Vec::new()).as_str().len(), 36);
        }
        flow.on_datagram(dir, dgram, Timestamp(ts), &mut summary);
        ts += 1;
        rest = next;
    }
});
