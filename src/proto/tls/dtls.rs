//! DTLS over UDP (RFC 6347 for 1.0/1.2, RFC 9147 for 1.3): zero-copy
//! views of the record header (RFC 6347 §4.1) and the handshake header
//! with its fragment fields (§4.2.2), the reassembly of a fragmented
//! ClientHello / ServerHello (bounded), and the per-flow state that feeds
//! them to the TLS fingerprints with [`Transport::Dtls`] (JA4 `d`).
//!
//! DTLS 1.3 sends its ClientHello in a plaintext record of the same shape
//! (RFC 9147 §4: `DTLSPlaintext`), with the 1.2 handshake header (§5.2)
//! and the cookie field kept as `legacy_cookie` (§5.3), so one parser
//! serves all three versions.
#![deny(clippy::indexing_slicing)]

use super::assemble::{Assembler, MAX_ASSEMBLY};
use super::ja4::Transport;
use super::parser::{ClientHello, ServerHello};
use super::types::{ContentType, HandshakeType};
use super::TlsRecord;
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, Probe};

/// Record header offsets, RFC 6347 §4.1 `DTLSPlaintext`.
pub mod field {
    pub const CONTENT_TYPE: usize = 0;
    pub const VERSION: core::ops::Range<usize> = 1..3;
    pub const EPOCH: core::ops::Range<usize> = 3..5;
    pub const SEQUENCE: core::ops::Range<usize> = 5..11;
    pub const LENGTH: core::ops::Range<usize> = 11..13;
    pub const RECORD_HEADER_LEN: usize = 13;
    /// Handshake header, RFC 6347 §4.2.2: msg_type (1), length (3),
    /// message_seq (2), fragment_offset (3), fragment_length (3).
    pub const HANDSHAKE_HEADER_LEN: usize = 12;
}

/// RFC 6347 §4.1: "DTLS 1.0 ... 254.255"; "DTLS 1.2 ... 254.253". DTLS 1.3
/// records keep 254.253 (RFC 9147 §4).
pub const DTLS_1_0: u16 = 0xfeff;
pub const DTLS_1_2: u16 = 0xfefd;
/// RFC 6347 §4.1 via RFC 5246 §6.2.1: at most 2^14 bytes of plaintext
/// (2^14 + 2048 for a protected record, the lax bound).
const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Datagrams of each side looked at before giving up.
pub const MAX_DATAGRAMS: u8 = 6;
/// Most records walked in one datagram.
const MAX_RECORDS: usize = 16;
/// RFC 6347 §4.2.1: HelloVerifyRequest; the client then sends a second
/// ClientHello with the cookie. Both are fingerprinted.
const MAX_CLIENT_HELLOS: u8 = 2;
const SERVER_CAP: usize = 4096;
const LAYER: &str = "dtls";

/// Why bytes are not a DTLS record or handshake fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DtlsError {
    #[error("DTLS: truncated {what} at offset {at}")]
    Truncated { what: &'static str, at: usize },
    #[error("DTLS: malformed {what} at offset {at}")]
    Malformed { what: &'static str, at: usize },
}

/// One DTLS record (RFC 6347 §4.1), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtlsRecord<'a> {
    pub content_type: ContentType,
    pub version: u16,
    pub epoch: u16,
    /// 48-bit sequence number.
    pub sequence: u64,
    pub fragment: &'a [u8],
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |v, &x| (v << 8) | u64::from(x))
}

impl<'a> DtlsRecord<'a> {
    /// The record at the start of `b` and the bytes it uses. Only DTLS
    /// 1.0/1.2 plaintext headers are accepted (major version 254).
    pub fn parse(b: &'a [u8]) -> Result<(DtlsRecord<'a>, usize), DtlsError> {
        let hdr = b
            .get(..field::RECORD_HEADER_LEN)
            .ok_or(DtlsError::Truncated {
                what: "record header",
                at: 0,
            })?;
        let get = |r: core::ops::Range<usize>| be(hdr.get(r).unwrap_or(&[]));
        let ct = ContentType(hdr.get(field::CONTENT_TYPE).copied().unwrap_or(0));
        if !(ContentType::CHANGE_CIPHER_SPEC.0..=ContentType::APPLICATION_DATA.0).contains(&ct.0) {
            return Err(DtlsError::Malformed {
                what: "record content type",
                at: field::CONTENT_TYPE,
            });
        }
        let version = get(field::VERSION) as u16;
        if version >> 8 != 0xfe {
            return Err(DtlsError::Malformed {
                what: "record version",
                at: field::VERSION.start,
            });
        }
        let len = get(field::LENGTH) as usize;
        if len > MAX_RECORD_LEN {
            return Err(DtlsError::Malformed {
                what: "record length",
                at: field::LENGTH.start,
            });
        }
        let end = field::RECORD_HEADER_LEN + len;
        let fragment = b
            .get(field::RECORD_HEADER_LEN..end)
            .ok_or(DtlsError::Truncated {
                what: "record fragment",
                at: field::RECORD_HEADER_LEN,
            })?;
        Ok((
            DtlsRecord {
                content_type: ct,
                version,
                epoch: get(field::EPOCH) as u16,
                sequence: get(field::SEQUENCE),
                fragment,
            },
            end,
        ))
    }
}

/// One handshake fragment (RFC 6347 §4.2.2), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeFragment<'a> {
    pub msg_type: HandshakeType,
    /// The whole message's body length.
    pub length: u32,
    pub message_seq: u16,
    pub fragment_offset: u32,
    pub fragment: &'a [u8],
}

impl<'a> HandshakeFragment<'a> {
    /// The fragment at the start of a handshake record's data, and the
    /// bytes it uses (a record may hold several).
    pub fn parse(b: &'a [u8]) -> Result<(HandshakeFragment<'a>, usize), DtlsError> {
        let h = b
            .get(..field::HANDSHAKE_HEADER_LEN)
            .ok_or(DtlsError::Truncated {
                what: "handshake header",
                at: 0,
            })?;
        let get = |r: core::ops::Range<usize>| be(h.get(r).unwrap_or(&[])) as u32;
        let length = get(1..4);
        let fragment_offset = get(6..9);
        let fragment_length = get(9..12);
        // §4.2.2: the fragment lies within the message.
        if u64::from(fragment_offset) + u64::from(fragment_length) > u64::from(length) {
            return Err(DtlsError::Malformed {
                what: "fragment_offset + fragment_length > length",
                at: 6,
            });
        }
        let end = field::HANDSHAKE_HEADER_LEN + fragment_length as usize;
        let fragment = b
            .get(field::HANDSHAKE_HEADER_LEN..end)
            .ok_or(DtlsError::Truncated {
                what: "handshake fragment",
                at: field::HANDSHAKE_HEADER_LEN,
            })?;
        Ok((
            HandshakeFragment {
                msg_type: HandshakeType(h.first().copied().unwrap_or(0)),
                length,
                message_seq: get(4..6) as u16,
                fragment_offset,
                fragment,
            },
            end,
        ))
    }
}

/// Does this datagram start a DTLS handshake? A plaintext handshake record
/// of DTLS 1.0/1.2 in epoch 0 whose first fragment is a ClientHello.
pub fn probe(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    if bytes.len() < field::RECORD_HEADER_LEN + field::HANDSHAKE_HEADER_LEN {
        return Probe::NoMatch;
    }
    let looks = bytes.first() == Some(&ContentType::HANDSHAKE.0)
        && matches!(
            bytes.get(field::VERSION).map(be).map(|v| v as u16),
            Some(DTLS_1_0 | DTLS_1_2)
        )
        && bytes.get(field::EPOCH) == Some(&[0, 0]);
    if !looks {
        return Probe::NoMatch;
    }
    match (dir, bytes.get(field::RECORD_HEADER_LEN)) {
        (Direction::ToServer, Some(&t)) if t == HandshakeType::CLIENT_HELLO.0 => Probe::Match,
        _ => Probe::NoMatch,
    }
}

/// The message one side is gathering.
#[derive(Debug, Default)]
struct SideState {
    datagrams: u8,
    done: bool,
    hellos: u8,
    /// message_seq and body length of the message being gathered.
    current: Option<(u16, u32)>,
    /// Lowest message_seq still wanted (past the hellos already parsed).
    min_seq: u16,
    body: Assembler,
}

/// The state of one DTLS flow.
#[derive(Debug, Default)]
pub struct DtlsFlow {
    sides: [SideState; 2],
    client_hello_at: Option<Timestamp>,
}

impl DtlsFlow {
    pub fn new() -> DtlsFlow {
        DtlsFlow {
            sides: [
                SideState {
                    body: Assembler::new(MAX_ASSEMBLY),
                    ..SideState::default()
                },
                SideState {
                    body: Assembler::new(SERVER_CAP),
                    ..SideState::default()
                },
            ],
            client_hello_at: None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.sides.iter().all(|s| s.done)
    }

    /// One UDP datagram of the flow: its records (RFC 6347 §4.1.1: a
    /// datagram may hold several) are walked for epoch-0 hello fragments.
    pub fn on_datagram(
        &mut self,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        let (want, cap) = match dir {
            Direction::ToServer => (HandshakeType::CLIENT_HELLO, MAX_ASSEMBLY),
            Direction::ToClient => (HandshakeType::SERVER_HELLO, SERVER_CAP),
        };
        let [c, s] = &mut self.sides;
        let side = match dir {
            Direction::ToServer => c,
            Direction::ToClient => s,
        };
        if side.done || side.datagrams >= MAX_DATAGRAMS {
            return;
        }
        side.datagrams += 1;
        let mut rest = payload;
        for _ in 0..MAX_RECORDS {
            let Ok((rec, used)) = DtlsRecord::parse(rest) else {
                break;
            };
            rest = rest.get(used..).unwrap_or(&[]);
            if rec.content_type != ContentType::HANDSHAKE || rec.epoch != 0 {
                continue;
            }
            let mut frags = rec.fragment;
            while let Ok((f, used)) = HandshakeFragment::parse(frags) {
                frags = frags.get(used..).unwrap_or(&[]);
                if f.msg_type != want {
                    continue;
                }
                if side.fragment(&f, cap) {
                    let outcome = match dir {
                        Direction::ToServer => client_hello(side.body(), summary),
                        Direction::ToClient => server_hello(side.body(), summary),
                    };
                    side.after_hello(dir, outcome, ts, &mut self.client_hello_at, summary);
                    if side.done {
                        return;
                    }
                }
            }
        }
        if side.datagrams >= MAX_DATAGRAMS {
            side.done = true;
            side.body.release();
        }
    }
}

impl SideState {
    /// Add one fragment of the wanted message type; true when the message
    /// it belongs to is now complete (its body is then the first
    /// `current.1` bytes of the assembler).
    fn fragment(&mut self, f: &HandshakeFragment<'_>, cap: usize) -> bool {
        // Retransmissions of a hello already fingerprinted.
        if f.message_seq < self.min_seq {
            return false;
        }
        match self.current {
            Some((seq, len)) if seq == f.message_seq && len == f.length => {}
            // A fragment that disagrees on the length of the same message.
            Some((seq, _)) if seq >= f.message_seq => return false,
            // A later message (the ClientHello after a HelloVerifyRequest)
            // replaces an unfinished one.
            _ => {
                self.body.release();
                self.body = Assembler::new(cap);
                self.current = Some((f.message_seq, f.length));
            }
        }
        if f.length as usize > cap {
            self.done = true;
            return false;
        }
        self.body.insert(u64::from(f.fragment_offset), f.fragment);
        self.body.contiguous().len() >= f.length as usize
    }

    /// The body of the complete current message.
    fn body(&self) -> &[u8] {
        let len = self.current.map_or(0, |(_, l)| l as usize);
        self.body.contiguous().get(..len).unwrap_or(&[])
    }

    fn after_hello(
        &mut self,
        dir: Direction,
        outcome: Result<(), String>,
        ts: Timestamp,
        client_hello_at: &mut Option<Timestamp>,
        summary: &mut AppSummary,
    ) {
        self.hellos += 1;
        self.body.release();
        if let Some((seq, _)) = self.current.take() {
            self.min_seq = seq.saturating_add(1);
        }
        match (&outcome, dir) {
            (Ok(()), Direction::ToServer) => {
                if client_hello_at.is_none() {
                    *client_hello_at = Some(ts);
                }
                self.done = self.hellos >= MAX_CLIENT_HELLOS;
            }
            (Ok(()), Direction::ToClient) => {
                if let Some(at) = *client_hello_at {
                    summary.app_rtt.record(Direction::ToClient, at, ts);
                }
                self.done = true;
            }
            (Err(e), _) => {
                self.done = true;
                let kind = match dir {
                    Direction::ToServer => "malformed_client_hello",
                    Direction::ToClient => "malformed_server_hello",
                };
                summary.anomalies.push(LAYER, kind, Some(dir), Some(e), ts);
            }
        }
    }
}

fn client_hello(body: &[u8], summary: &mut AppSummary) -> Result<(), String> {
    let ch = ClientHello::parse_dtls(body).map_err(|e| e.to_string())?;
    summary
        .tls
        .get_or_insert_with(TlsRecord::default)
        .add_client_hello(&ch, Transport::Dtls);
    Ok(())
}

fn server_hello(body: &[u8], summary: &mut AppSummary) -> Result<(), String> {
    let sh = ServerHello::parse(body).map_err(|e| e.to_string())?;
    summary
        .tls
        .get_or_insert_with(TlsRecord::default)
        .add_server_hello(&sh);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    /// zeek/traces/tls/dtls1_2.pcap frames 1 and 2: one DTLS 1.2
    /// ClientHello (length 287) in two fragments, 0+203 and 203+84.
    const FRAME1: &str = "\
    16fefd000000000000000000d70100011f00000000000000cbfefd06ac4343e701fd74cac15bdb8d0fb735dca354f8e4\
    cc1e65944f8d443a1af9b2000000a0c030c02cc028c024c014c00a00a500a300a1009f006b006a006900680039003800\
    3700360088008700860085c032c02ec02ac026c00fc005009d003d00350084c02fc02bc027c023c013c00900a400a200\
    a0009e00670040003f003e0033003200310030009a0099009800970045004400430042c031c02dc029c025c00ec00400\
    9c003c002f009600410007c012c008001600130010000dc00dc003000a00ff0100005500";
    const FRAME2: &str = "\
    16fefd000000000000000100600100011f00000000cb0000540b000403000102000a001c001a00170019001c001b0018\
    001a0016000e000d000b000c0009000a00230000000d0020001e060106020603050105020503040104020403030103020\
    303020102020203000f000101";

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 60934,
            dst_port: 4400,
            ip_proto: 17,
        }
    }

    #[test]
    fn record_and_fragment_headers() {
        let d = hex(FRAME2);
        let (rec, used) = DtlsRecord::parse(&d).unwrap();
        assert_eq!(used, d.len());
        assert_eq!((rec.version, rec.epoch, rec.sequence), (DTLS_1_2, 0, 1));
        let (f, _) = HandshakeFragment::parse(rec.fragment).unwrap();
        // tshark: handshake type 1, fragment offset 203, fragment length 84.
        assert_eq!(f.msg_type, HandshakeType::CLIENT_HELLO);
        assert_eq!(
            (f.length, f.fragment_offset, f.fragment.len()),
            (287, 203, 84)
        );
        assert_eq!(f.message_seq, 0);
    }

    #[test]
    fn fragmented_hello_is_reassembled_in_any_order() {
        for order in [[FRAME1, FRAME2], [FRAME2, FRAME1]] {
            let mut flow = DtlsFlow::new();
            let mut s = AppSummary::default();
            assert_eq!(
                probe(&cx(), Direction::ToServer, &hex(order[0])),
                Probe::Match
            );
            flow.on_datagram(Direction::ToServer, &hex(order[0]), Timestamp(0), &mut s);
            assert!(s.tls.is_none());
            flow.on_datagram(Direction::ToServer, &hex(order[1]), Timestamp(1), &mut s);
            let t = s.tls.as_ref().expect("hello after both fragments");
            let text = t.ja3_string.as_deref().unwrap();
            // tshark: 160 bytes of cipher suites from 0xc030 to 0x00ff,
            // extensions 11,10,35,13,15; version 0xfefd = 65277.
            assert!(text.starts_with("65277,49200-49196-"), "{text}");
            assert_eq!(text.split(',').nth(1).unwrap().split('-').count(), 80);
            assert_eq!(text.split(',').nth(2), Some("11-10-35-13-15"));
            assert!(t.ja4.as_deref().unwrap().starts_with("dd2i"));
        }
    }

    #[test]
    fn inconsistent_fragments_are_rejected() {
        let mut d = hex(FRAME2);
        // fragment_length 84 -> 85: past the message length.
        d[13 + 11] = 85;
        let (rec, _) = DtlsRecord::parse(&d).unwrap();
        assert!(HandshakeFragment::parse(rec.fragment).is_err());
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"\x16\x03\x01\x00"),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&cx(), Direction::ToClient, &hex(FRAME1)),
            Probe::NoMatch
        );
    }
}
